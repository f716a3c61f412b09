"""Multi-task training with checkpoint choice on training-length validation only.

A mixture is a list of ``Source`` objects (a task token's worth of data, its weight).  Every step
draws fresh data from each source; the loss is the weight-averaged mean cross-entropy of each
source over its own supervised tokens, so a restriction (one supervised token) is not drowned by
a primary instance (r tokens).  ``validate`` is called every ``eval_every`` steps and must look
at training lengths only; the best-scoring state (latest on ties) is the one returned.
A loss that becomes NaN/inf or blows up stops the run with ``TrainingDiverged``.
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
from .spec import TrainConfig  # noqa: F401  (re-exported: the config lives with RunSpec, torch-free)


class TrainingDiverged(RuntimeError):
    """The loss became non-finite or exploded; the run is recorded as failed with this reason."""


@dataclass(frozen=True)
class Source:
    name: str
    weight: float
    sample: Callable[[np.random.Generator, int], SequenceBatch]


@dataclass
class TrainResult:
    best_step: int
    best_score: tuple[float, ...]
    steps_run: int
    seconds: float
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    validation_curve: list[tuple[int, tuple[float, ...]]] = field(default_factory=list)


def _mixture_counts(sources: list[Source], batch: int) -> list[int]:
    """Rows per source: the first (primary) source gets ``batch`` rows, the others in proportion
    to their weight, so adding an auxiliary task never thins the primary's data."""
    first = sources[0].weight
    return [max(1, round(batch * s.weight / first)) for s in sources]


def train(model: torch.nn.Module, sources: list[Source], cfg: TrainConfig, pad: int,
          validate: Callable[[torch.nn.Module], tuple[float, ...]],
          progress: Callable[[int, float], None] | None = None) -> TrainResult:
    rng = np.random.default_rng(cfg.data_seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / cfg.warmup))
    counts = _mixture_counts(sources, cfg.batch)
    weights = [s.weight for s in sources]
    start = time.perf_counter()
    best_state, best_score, best_step = None, (-math.inf,), 0
    result = TrainResult(0, best_score, 0, 0.0)
    early_loss = None
    for step in range(1, cfg.steps + 1):
        model.train()
        # one forward pass over the whole mixture (the small model is overhead-bound), then
        # each source's mean loss over its own supervised tokens
        parts = [source.sample(rng, count) for source, count in zip(sources, counts)]
        mixed = concatenate(parts, pad)
        offset = rng.integers(0, cfg.max_position_offset + 1, size=len(mixed)) if cfg.max_position_offset else None
        batch = to_model_batch(mixed, offset)
        logits = model(batch.tokens, batch.positions)
        token_loss = F.cross_entropy(logits.transpose(1, 2), batch.targets, ignore_index=IGNORE, reduction="none")
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
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if step % 50 == 0:
            result.loss_curve.append((step, value))
        if step % cfg.eval_every == 0 or step == cfg.steps:
            score = tuple(validate(model))
            result.validation_curve.append((step, score))
            if score >= best_score:  # ties go to the later checkpoint
                best_state, best_score, best_step = copy.deepcopy(model.state_dict()), score, step
        if progress is not None:
            progress(step, value)
    if best_state is not None:
        model.load_state_dict(best_state)
    result.best_step, result.best_score = best_step, best_score
    result.steps_run = cfg.steps
    result.seconds = time.perf_counter() - start
    return result
