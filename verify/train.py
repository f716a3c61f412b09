"""Multi-task training with checkpoint choice on training-length validation only.

A mixture is a list of ``Source`` objects (a task token's worth of data, its weight).  Every step
draws fresh data from each source; the loss is the weight-averaged mean cross-entropy of each
source over its own supervised tokens, so a restriction (one supervised token) is not drowned by
a primary instance (r tokens).  ``validate`` is called every ``eval_every`` steps and must look
at training lengths only; the best-scoring state (latest on ties) is the one returned.
A loss that becomes NaN/inf or blows up stops the run with ``TrainingDiverged``.

A model with a position head (scheme ``predicted``) is also trained to predict the coupled id of
the next token at every supervised slot: that cross-entropy (``POSITION_LOSS_WEIGHT`` = 1) is added
to the token cross-entropy slot by slot, so each source's loss is its mean over its own supervised
slots of token + id loss (``verify.model.position_loss`` per source).  The ids carry the same
random offset as the inputs.

Where the time goes is recorded per phase in ``TrainResult.phase_seconds`` (``PHASES``: drawing
and assembling batches, forward + loss + backward, clipping + optimizer, validation with the
checkpoint copy); ``benchmarks/run_split.py`` prints it.  AdamW and the clipping use the
multi-tensor (``foreach``) kernels: on CPU torch defaults to one kernel per parameter, and the
foreach path gives bit-identical updates (checked when it was introduced), so results are unchanged.

``TrainConfig.precision = "bf16"`` runs the forward pass under CPU bf16 autocast: the matmuls of
the projections, the MLP and the output head in bf16 (on a CPU with bf16 instructions about 3× the
fp32 matmul rate), the token mixing in fp32 (``verify.model.fp32_mixing``), the losses, the master
weights and AdamW in fp32.  No loss scaling: bf16 has fp32's exponent range.  Validation runs
outside the autocast region, in fp32, like evaluation.

``TrainConfig.skip_padding`` passes the model the slots each row's loss can depend on
(``verify.model.real_slots``: up to the row's last supervised slot), so the layers that treat
tokens one at a time skip the batch's right padding (``verify.model.RealTokens``).  Validation and
evaluation read the padded batch whatever the option (``verify.measure.predictions``).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from theory.serialize import SequenceBatch, concatenate

from .batches import IGNORE, to_model_batch
from .model import real_slots
from .spec import PRECISIONS, TrainConfig  # noqa: F401  (re-exported: the config lives with RunSpec, torch-free)


class TrainingDiverged(RuntimeError):
    """The loss became non-finite or exploded; the run is recorded as failed with this reason."""


@dataclass(frozen=True)
class Source:
    """``independent_rows``: every row is its own independent draw (as ``sample_sequences`` makes
    them), so rows for many steps may be drawn at once (``POOL_STEPS``), shuffled and handed out a
    batch at a time; leave it False for a sampler with per-batch structure (the restriction
    sampler draws one N per batch)."""

    name: str
    weight: float
    sample: Callable[[np.random.Generator, int], SequenceBatch]
    independent_rows: bool = False


POOL_STEPS = 16  # steps' worth of rows an independent-rows source draws at once
#: scheme ``predicted``: weight of the next-id cross-entropy added to the token cross-entropy at
#: every supervised slot: token and id errors count alike (a choice, not tuned)
POSITION_LOSS_WEIGHT = 1.0


class _Pool:
    """Rows of an independent-rows source drawn ``POOL_STEPS`` batches at a time.

    The samplers are vectorized per call, so one call for 16 batches costs about what 2-4 calls
    for one do (benchmarks/THROUGHPUT.md).  The pool is shuffled (``sample_sequences`` groups rows
    by length), so each batch is still ``count`` independent draws from the same distribution;
    each batch is trimmed to its own longest row, as a directly sampled batch would be."""

    def __init__(self, source: Source, count: int, pad: int):
        self.source, self.count, self.pad = source, count, pad
        self.rows: SequenceBatch | None = None
        self.next = 0

    def take(self, rng: np.random.Generator) -> SequenceBatch:
        if self.rows is None or self.next + self.count > len(self.rows):
            pool = self.source.sample(rng, self.count * POOL_STEPS)
            order = rng.permutation(len(pool))
            self.rows, self.next = SequenceBatch(pool.tokens[order], pool.positions[order], pool.mask[order]), 0
        rows = slice(self.next, self.next + self.count)
        self.next += self.count
        tokens = self.rows.tokens[rows]
        width = int(np.flatnonzero((tokens != self.pad).any(axis=0))[-1]) + 1  # padding is on the right only
        return SequenceBatch(tokens[:, :width], self.rows.positions[rows, :width], self.rows.mask[rows, :width])


PHASES = ("sampling", "forward_backward", "optimizer", "validation")


@dataclass
class TrainResult:
    best_step: int
    best_score: tuple[float, ...]
    steps_run: int
    seconds: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    validation_curve: list[tuple[int, tuple[float, ...]]] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))


def _mixture_counts(sources: list[Source], batch: int, reference_weight: float | None = None) -> list[int]:
    """Rows per source: a source of weight ``reference_weight`` (default: the first source's, the
    primary's) gets ``batch`` rows, the others in proportion to their weight, so adding an auxiliary
    task never thins the primary's data."""
    first = sources[0].weight if reference_weight is None else reference_weight
    return [max(1, round(batch * s.weight / first)) for s in sources]


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """The optimizer every run uses (benchmarks/train_throughput.py times the same one)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0, foreach=True)


def clip_gradients(model: torch.nn.Module, max_norm: float) -> None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm, foreach=True)


def train(model: torch.nn.Module, sources: list[Source], cfg: TrainConfig, pad: int,
          validate: Callable[[torch.nn.Module], tuple[float, ...]],
          progress: Callable[[int, float], None] | None = None, *, reference_weight: float | None = None,
          keep_last: bool = False) -> TrainResult:
    """Train on the mixture of ``sources``; keep the checkpoint with the best ``validate`` score
    (ties: the later), or with ``keep_last`` the last one (a stage whose validation task is not
    trained has nothing to choose by).  ``reference_weight``: see ``_mixture_counts``."""
    rng = np.random.default_rng(cfg.data_seed)
    opt = make_optimizer(model, cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup))
    counts = _mixture_counts(sources, cfg.batch, reference_weight)
    pools = [_Pool(s, count, pad) if s.independent_rows else None for s, count in zip(sources, counts)]
    weights = [s.weight for s in sources]
    start = time.perf_counter()
    best_state, best_score, best_step = None, (-math.inf,), 0
    result = TrainResult(0, best_score, 0, 0.0)
    early_loss = None
    phases = result.phase_seconds
    clock = time.perf_counter
    predicts_ids = getattr(model, "position_head", None) is not None  # position scheme `predicted`
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {cfg.precision!r}; choose one of {', '.join(PRECISIONS)}")
    mixed_precision = cfg.precision == "bf16"
    for step in range(1, cfg.steps + 1):
        tick = clock()
        model.train()
        # one forward pass over the whole mixture (the small model is overhead-bound), then
        # each source's mean loss over its own supervised tokens
        parts = [pool.take(rng) if pool is not None else source.sample(rng, count)
                 for source, count, pool in zip(sources, counts, pools)]
        mixed = concatenate(parts, pad)
        offset = rng.integers(0, cfg.max_position_offset + 1, size=len(mixed)) if cfg.max_position_offset else None
        batch = to_model_batch(mixed, offset)
        tock = clock()
        phases["sampling"] += tock - tick
        real = real_slots(batch.targets, IGNORE) if cfg.skip_padding else None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed_precision):
            if predicts_ids:
                logits, position_logits = model(batch.tokens, batch.positions, return_position_logits=True, real=real)
            else:
                logits = model(batch.tokens, batch.positions, real=real)
        # the losses in fp32 whatever the precision (a no-op in fp32 training)
        token_loss = F.cross_entropy(logits.float().transpose(1, 2), batch.targets, ignore_index=IGNORE, reduction="none")
        if predicts_ids:  # slot q also predicts the (offset) coupled id of token q+1, where q is supervised
            next_ids = mixed.positions[:, 1:] + (offset[:, None] if offset is not None else 0)
            id_targets = torch.where(batch.targets != IGNORE, torch.from_numpy(np.ascontiguousarray(next_ids)), IGNORE)
            token_loss = token_loss + POSITION_LOSS_WEIGHT * F.cross_entropy(
                position_logits.float().transpose(1, 2), id_targets, ignore_index=IGNORE, reduction="none")
        supervised = (batch.targets != IGNORE).float()
        loss, row = 0.0, 0
        for part, w in zip(parts, weights):
            rows = slice(row, row + len(part))
            loss = loss + w * (token_loss[rows].sum() / supervised[rows].sum().clamp(min=1))
            row += len(part)
        loss = loss / sum(weights)
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(f"loss became {value} at step {step}")
        if step == 20:
            early_loss = value
        if early_loss is not None and step > 20 and value > cfg.divergence_factor * max(early_loss, 1e-3):
            raise TrainingDiverged(f"loss blew up to {value:.3g} at step {step} (early loss {early_loss:.3g})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        tick = clock()
        phases["forward_backward"] += tick - tock
        clip_gradients(model, cfg.grad_clip)
        opt.step()
        sched.step()
        tock = clock()
        phases["optimizer"] += tock - tick
        if step % 50 == 0:
            result.loss_curve.append((step, value))
        if step % cfg.eval_every == 0 or step == cfg.steps:
            score = tuple(validate(model))
            result.validation_curve.append((step, score))
            if score >= best_score or keep_last:  # ties go to the later checkpoint
                best_state, best_score, best_step = copy.deepcopy(model.state_dict()), score, step
            phases["validation"] += clock() - tock
        if progress is not None:
            progress(step, value)
    if best_state is not None:
        model.load_state_dict(best_state)
    result.best_step, result.best_score = best_step, best_score
    result.steps_run = cfg.steps
    result.seconds = time.perf_counter() - start
    return result
