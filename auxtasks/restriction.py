"""Restriction tasks (docs/theory.md §3): the auxiliary tasks of the Awasthi–Gupta–Kumar framework.

R(z, p, m) keeps, from a length-N instance z, the support S_p of output position p, the frame
(task token and separator, which fix n and where outputs begin), the slot p−1 that predicts
z_p, p itself, and random other earlier positions, up to m tokens in all — in order and with
their *original* position ids.  The target is z_p.  A restricted instance is a sub-sequence of a
primary instance (it keeps the primary's task token), so a model's answer on it can be compared
with its answer on z: that comparison is restriction consistency.

For sort, S_p is {y[t−1], the successor of y[t−1] among the inputs}: the restriction task is the
*successor hint* of Awasthi & Gupta (2023), derived here from the rule instead of chosen by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.serialize import (SequenceBatch, Vocab, add_rule_prefix, frame_positions, instance_to_sequence_index,
                              output_start, serialize)
from theory.task import Task


class RestrictionError(ValueError):
    """A restriction cannot be built as asked (e.g. m smaller than the support)."""


@dataclass
class RestrictedBatch:
    """Restricted sequences plus where each came from in its full instance."""

    batch: SequenceBatch  # mask is true only at the last kept token (the target z_p)
    source_row: np.ndarray  # (B,) row of the full batch
    output_index: np.ndarray  # (B,) t: the output whose token is the target
    target_position: np.ndarray  # (B,) p in full-sequence coordinates
    kept: np.ndarray  # (B, min(m, L)) full-sequence positions kept, ascending; -1 = padding


def restrict(task: Task, full: SequenceBatch, support: np.ndarray, n_value: int, m: int,
             rng: np.random.Generator, output_index: np.ndarray | None = None, pad: int = 0) -> RestrictedBatch:
    """Build R(z, p, m) for each row of ``full`` (one length ``n_value``).

    ``support`` is the solver's (B, r, U) mask; ``output_index`` picks t per row (uniform if None).
    """
    B, L = full.tokens.shape
    r = task.r(n_value)
    if output_index is None:
        output_index = rng.integers(0, r, size=B)
    frame = list(frame_positions(task, n_value))
    p = output_start(task, n_value) + output_index
    seq_of = instance_to_sequence_index(task, n_value)
    rows = np.arange(B)
    # row starts in the flattened (B, L) arrays: indexing the flat array is np.take_along_axis
    # without its per-call overhead
    flat = (rows * L)[:, None]

    required = np.zeros((B, L), dtype=bool)
    # the support (instance indices mapped to their sequence positions: one-to-one, and never a
    # frame position, so assigning it first and then setting the frame equals setting each)
    required[:, seq_of] = support[rows, output_index]
    required[:, frame] = True
    required[rows, p - 1] = True
    required[rows, p] = True
    need = int(required.sum(axis=1).max())
    if need > m:
        raise RestrictionError(
            f"restriction of {task.name!r} needs {need} tokens (frame, support, query) but m={m}; use m >= {need}"
        )

    later = np.arange(L)[None, :] > p[:, None]
    score = rng.random((B, L))
    np.copyto(score, -1.0, where=required)  # always kept
    np.copyto(score, 2.0, where=later)  # never kept: only earlier positions may fill
    order = np.argsort(score, axis=1)[:, :m]
    chosen_score = score.reshape(-1)[flat + order]
    kept = np.where(chosen_score < 2.0, order, L)
    kept.sort(axis=1)  # original order; L sorts last as padding

    valid = kept < L
    safe = flat + np.where(valid, kept, 0)
    tokens = np.where(valid, full.tokens.reshape(-1)[safe], pad)
    positions = np.where(valid, full.positions.reshape(-1)[safe], 0)
    mask = valid & (kept == p[:, None])
    return RestrictedBatch(SequenceBatch(tokens, positions, mask), rows, output_index, p, np.where(valid, kept, -1))


def recheck_restriction(task: Task, full: SequenceBatch, restricted: RestrictedBatch, n_value: int, row: int) -> bool:
    """Re-solve one restricted instance from the definition alone and compare with its target.

    The rule is evaluated over the kept positions only (mapped back to instance indices); a read
    of a position the restriction dropped fails the check, as does a different answer.  An opaque
    task has no rule: its declared support rule recomputes the output from the same view instead
    (``theory.opaque``), which checks that the declared support suffices, fillers included.
    """
    from theory.opaque import is_opaque
    from theory.solver import MissingRead

    seq_of = instance_to_sequence_index(task, n_value)
    inst_of = {int(s): u for u, s in enumerate(seq_of)}
    src = int(restricted.source_row[row])
    p = int(restricted.target_position[row])
    view = {inst_of[int(q)]: int(full.tokens[src, q]) for q in restricted.kept[row] if q >= 0 and q != p and int(q) in inst_of}
    try:
        resolve = task.check_support if is_opaque(task) else task.evaluate
        value = resolve(view, int(restricted.output_index[row]), n_value)
    except MissingRead:
        return False
    return value == int(full.tokens[src, p])


@dataclass(frozen=True)
class RestrictionTask:
    """The restriction task of ``primary`` at (m, N) with N drawn uniformly from ``lengths``.

    ``reindex`` replaces the kept tokens' original position ids by 0, 1, ... (the variant the
    AGK reviewer describes); by default the original ids are kept, so training on restrictions
    shows the model long-range positions (the PoSE connection, docs/theory.md §8.1).
    """

    primary: Task
    m: int
    lengths: tuple[int, int]
    reindex: bool = False
    coupled: bool = False  # full instances carry coupled position ids (kept by the restriction)

    @property
    def name(self) -> str:
        return f"{self.primary.name}-restriction" + ("-reindexed" if self.reindex else "")

    def sample_at(self, rng: np.random.Generator, batch: int, n_value: int, vocab: Vocab,
                  output_index: np.ndarray | None = None) -> tuple[SequenceBatch, RestrictedBatch]:
        """Full length-N instances and one restriction of each.

        With a rule vocabulary (``Vocab(..., rules=True)``) the restricted rows carry the primary's
        rule prefix, inserted after the restriction is cut (``theory.serialize.add_rule_prefix``):
        the prefix is frame, not counted in m; ``full`` and the ``RestrictedBatch`` coordinates stay
        in instance coordinates, without it."""
        inputs, sol = self.primary.generate(rng, batch, n_value)
        full = serialize(self.primary, inputs, sol.outputs, vocab, coupled=self.coupled, plain=True)
        restricted = restrict(self.primary, full, sol.support, n_value, self.m, rng, output_index, vocab.pad)
        if self.reindex:
            kept = restricted.batch
            positions = np.where(restricted.kept >= 0, np.arange(kept.tokens.shape[1])[None, :], 0)
            restricted.batch = SequenceBatch(kept.tokens, positions, kept.mask)
        restricted.batch = add_rule_prefix(restricted.batch, self.primary, vocab)
        return full, restricted

    def sample(self, rng: np.random.Generator, batch: int, vocab: Vocab) -> SequenceBatch:
        """A training batch of restricted instances at one N drawn uniformly from ``lengths``.

        One N per batch (not per row) keeps sampling to a single solve; over steps N is uniform.
        """
        n_value = int(rng.integers(self.lengths[0], self.lengths[1] + 1))
        return self.sample_at(rng, batch, n_value, vocab)[1].batch
