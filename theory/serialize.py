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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .task import Task


@dataclass(frozen=True)
class Vocab:
    """Token ids: ``0..symbols-1`` are task symbols, then SEP, PAD, then one token per task."""

    symbols: int
    task_names: tuple[str, ...]

    @property
    def sep(self) -> int:
        return self.symbols

    @property
    def pad(self) -> int:
        return self.symbols + 1

    def task_token(self, name: str) -> int:
        return self.symbols + 2 + self.task_names.index(name)

    @property
    def size(self) -> int:
        return self.symbols + 2 + len(self.task_names)


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
              task_token: str | None = None, coupled: bool = False) -> SequenceBatch:
    """Serialize a batch of one length; ``task_token`` defaults to the task's own name.

    ``coupled`` gives the position ids the rule's coupling implies (``theory.structure``:
    aligned tokens share an id) instead of 0..L-1.
    """
    B = outputs.shape[0]
    parts = [np.full((B, 1), vocab.task_token(task_token or task.name), np.int64)]
    for name in task.operand_names:
        parts += [inputs[name], np.full((B, 1), vocab.sep, np.int64)]
    parts.append(outputs)
    tokens = np.concatenate(parts, axis=1)
    L = tokens.shape[1]
    mask = np.zeros((B, L), dtype=bool)
    mask[:, L - outputs.shape[1]:] = True
    if coupled:
        from .structure import coupled_position_ids  # structure builds on this module

        ids = coupled_position_ids(task, task.length_of(inputs))
    else:
        ids = np.arange(L, dtype=np.int64)
    positions = np.broadcast_to(ids, (B, L)).copy()
    return SequenceBatch(tokens, positions, mask)


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
