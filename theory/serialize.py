"""Serialize task instances into token sequences with position ids and a loss mask.

One instance of length ``n`` becomes

    z = [TASK] x_0 .. x_{n-1} [SEP] y_0 .. y_{r-1}
    z = [TASK] a_0 .. [SEP] b_0 .. [SEP] y_0 ..              (several operands, each closed by SEP)

with position ids ``0 .. len(z)-1``.  ``mask[p]`` is true where ``z_p`` is a supervised output
token; it is predicted from ``z_{<p}`` (so a model reads slot ``p-1`` to predict ``z_p``).
The task token and the separators are the *frame*: their positions fix ``n`` and where the
operands and outputs begin, so every restriction keeps the frame (see ``auxtasks.restriction``).

Arrays are numpy; ``verify`` turns them into tensors.  Padding is on the right with ``PAD``,
position id 0 and mask false, which a causal model never attends to from a real token.

**Rule prefix** (a vocabulary made with ``rules=True``; docs/design.md §13).  Every row then reads

    z = [RULE] r_1 .. r_K x_0 .. [SEP] y_0 ..

``r_1 .. r_K`` are the task's rule tokens (``theory.rule_tokens``), unsupervised, with position
ids 1..K; the instance's own ids move up by K.  The first token is the one ``rule`` token shared
by every task, not the task's own token: a task's token says which task it is, so a model could
answer from it and ignore the rule, and a task held out of training would start with a token
whose embedding was never trained.  With one shared token the rule is the only thing that tells
tasks apart.  ``add_rule_prefix`` inserts the prefix into rows made without it, so restrictions,
which keep instance coordinates (``auxtasks.restriction``), are built first and prefixed after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rule_tokens import RULE_START, RULE_VOCAB, rule_tokens
from .task import Task

_RULE_IDS = {name: i for i, name in enumerate(RULE_VOCAB)}


@dataclass(frozen=True)
class Vocab:
    """Token ids: ``0..symbols-1`` are task symbols, then SEP, PAD, then (``rules`` only) the rule
    vocabulary ``theory.rule_tokens.RULE_VOCAB``, then one token per task.  The rule vocabulary
    sits before the task tokens so that a stage, which appends task tokens, keeps its parent's ids."""

    symbols: int
    task_names: tuple[str, ...]
    rules: bool = False  # rows carry their task's rule tokens (module docstring)

    @property
    def sep(self) -> int:
        return self.symbols

    @property
    def pad(self) -> int:
        return self.symbols + 1

    @property
    def _rule_size(self) -> int:
        return len(RULE_VOCAB) if self.rules else 0

    def rule_token(self, name: str) -> int:
        """The id of a rule-vocabulary token (``rules`` vocabularies only)."""
        if not self.rules:
            raise ValueError("this vocabulary has no rule tokens; make it with Vocab(..., rules=True)")
        return self.symbols + 2 + _RULE_IDS[name]

    def task_token(self, name: str) -> int:
        return self.symbols + 2 + self._rule_size + self.task_names.index(name)

    @property
    def size(self) -> int:
        return self.symbols + 2 + self._rule_size + len(self.task_names)


@dataclass
class SequenceBatch:
    """Token ids, position ids and loss mask, all of shape (B, L)."""

    tokens: np.ndarray
    positions: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return self.tokens.shape[0]


def frame_positions(task: Task, n_value: int) -> tuple[int, ...]:
    """Sequence positions of the frame: the task token and the separator after each operand."""
    positions, pos = [0], 0
    for size in task.operand_sizes(n_value):
        pos += size + 1
        positions.append(pos)
    return tuple(positions)


def output_start(task: Task, n_value: int) -> int:
    """Sequence position of y_0."""
    return frame_positions(task, n_value)[-1] + 1


def sequence_length(task: Task, n_value: int) -> int:
    """Tokens in a serialized instance of length ``n_value``: task token, operands with their
    separators, outputs."""
    return output_start(task, n_value) + task.r(n_value)


def instance_to_sequence_index(task: Task, n_value: int) -> np.ndarray:
    """Map instance indices (operands, then outputs; see ``theory.solver``) to sequence positions."""
    frame = frame_positions(task, n_value)
    parts = [frame[k] + 1 + np.arange(size) for k, size in enumerate(task.operand_sizes(n_value))]
    parts.append(output_start(task, n_value) + np.arange(task.r(n_value)))
    return np.concatenate(parts).astype(np.int64)


def serialize(task: Task, inputs: dict[str, np.ndarray], outputs: np.ndarray, vocab: Vocab,
              task_token: str | None = None, coupled: bool = False, plain: bool = False) -> SequenceBatch:
    """Serialize a batch of one length; ``task_token`` defaults to the task's own name.

    ``coupled`` gives the position ids the rule's coupling implies (``theory.structure``:
    aligned tokens share an id) instead of 0..L-1.  With a ``rules`` vocabulary the rows carry the
    rule prefix (module docstring) unless ``plain``: the rows in instance coordinates that
    restrictions are cut from.
    """
    if vocab.rules and coupled:
        raise ValueError("rule prefixes and coupled position ids do not combine: the coupling gives ids to the "
                         "instance's tokens only")
    B = outputs.shape[0]
    operands = [inputs[name] for name in task.operand_names]
    # the row [task token, operand, SEP, operand, SEP, ..., outputs] written into one array (what
    # np.concatenate of the pieces gives, dtype included, without allocating each piece)
    L = 1 + sum(a.shape[1] + 1 for a in operands) + outputs.shape[1]
    tokens = np.empty((B, L), np.result_type(np.int64, outputs, *operands))
    tokens[:, 0] = vocab.task_token(task_token or task.name)
    col = 1
    for operand in operands:
        width = operand.shape[1]
        tokens[:, col:col + width] = operand
        tokens[:, col + width] = vocab.sep
        col += width + 1
    tokens[:, col:] = outputs
    mask = np.zeros((B, L), dtype=bool)
    mask[:, L - outputs.shape[1]:] = True
    if coupled:
        from .structure import coupled_position_ids  # structure builds on this module

        ids = coupled_position_ids(task, task.length_of(inputs))
    else:
        ids = np.arange(L, dtype=np.int64)
    positions = np.broadcast_to(ids, (B, L)).copy()
    batch = SequenceBatch(tokens, positions, mask)
    return batch if plain else add_rule_prefix(batch, task, vocab)


def rule_prefix_ids(task: Task, vocab: Vocab) -> np.ndarray:
    """The ids of ``task``'s rule tokens in ``vocab`` (empty without ``rules``)."""
    if not vocab.rules:
        return np.zeros(0, np.int64)
    return np.array([vocab.rule_token(name) for name in rule_tokens(task)], np.int64)


def prefix_length(task: Task, rules: Vocab | bool) -> int:
    """Tokens the rule prefix adds to each row of ``task``: 0 without rules (``rules``: a vocabulary,
    whose ``rules`` says, or whether rows carry the prefix, as ``RunSpec.rule_prefix`` does)."""
    return len(rule_tokens(task)) if (rules.rules if isinstance(rules, Vocab) else rules) else 0


def add_rule_prefix(batch: SequenceBatch, task: Task, vocab: Vocab) -> SequenceBatch:
    """``batch`` (rows made without the prefix, the task token first: full instances or
    restrictions of ``task``) with the shared ``rule`` token in place of the task token and the
    rule tokens after it (ids after the first token's, mask false); every later real token's id
    moves up by K, padding keeps id 0.  Unchanged without ``rules``."""
    if not vocab.rules:
        return batch
    prefix = rule_prefix_ids(task, vocab)
    B, K = len(batch), len(prefix)
    tokens = np.concatenate([np.full((B, 1), vocab.rule_token(RULE_START), np.int64),
                             np.broadcast_to(prefix, (B, K)), batch.tokens[:, 1:]], axis=1)
    rest = batch.positions[:, 1:]
    rest = np.where(batch.tokens[:, 1:] != vocab.pad, rest + K, rest)
    positions = np.concatenate([batch.positions[:, :1], batch.positions[:, :1] + np.arange(1, K + 1), rest], axis=1)
    mask = np.concatenate([batch.mask[:, :1], np.zeros((B, K), bool), batch.mask[:, 1:]], axis=1)
    return SequenceBatch(tokens, positions.astype(np.int64), mask)


def concatenate(batches: list[SequenceBatch], pad: int) -> SequenceBatch:
    """Stack batches of different lengths, right-padding to the longest."""
    L = max(b.tokens.shape[1] for b in batches)
    B = sum(len(b) for b in batches)
    tokens = np.full((B, L), pad, np.int64)
    positions = np.zeros((B, L), np.int64)
    mask = np.zeros((B, L), bool)
    row = 0
    for b in batches:
        k, l = b.tokens.shape
        tokens[row:row + k, :l] = b.tokens
        positions[row:row + k, :l] = b.positions
        mask[row:row + k, :l] = b.mask
        row += k
    return SequenceBatch(tokens, positions, mask)


def sample_sequences(task: Task, rng: np.random.Generator, batch: int, lengths: tuple[int, int],
                     vocab: Vocab, coupled: bool = False, task_token: str | None = None) -> SequenceBatch:
    """A batch whose lengths are drawn uniformly from ``lengths`` (inclusive), one group per length;
    ``task_token`` as for ``serialize``."""
    lo, hi = lengths
    drawn = rng.integers(lo, hi + 1, size=batch)
    groups = []
    for nv in np.unique(drawn):
        inputs, sol = task.generate(rng, int((drawn == nv).sum()), int(nv), support=False)
        groups.append(serialize(task, inputs, sol.outputs, vocab, task_token, coupled=coupled))
    return concatenate(groups, vocab.pad)
