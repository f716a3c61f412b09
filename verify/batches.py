"""Turn serialized sequences into model inputs: shift by one, mask the loss, offset positions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from theory.serialize import SequenceBatch

IGNORE = -100  # cross-entropy ignore index


@dataclass
class ModelBatch:
    tokens: torch.Tensor  # (B, L-1) inputs z_0..z_{L-2}
    positions: torch.Tensor  # (B, L-1)
    targets: torch.Tensor  # (B, L-1): z_{q+1} where supervised, else IGNORE


def to_model_batch(batch: SequenceBatch, position_offset: np.ndarray | None = None) -> ModelBatch:
    """Slot q predicts z_{q+1}; ``position_offset`` (B,) shifts every position id of a row."""
    positions = batch.positions[:, :-1]
    if position_offset is not None:
        positions = positions + position_offset[:, None]
    targets = np.where(batch.mask[:, 1:], batch.tokens[:, 1:], IGNORE)
    return ModelBatch(torch.from_numpy(np.ascontiguousarray(batch.tokens[:, :-1])),
                      torch.from_numpy(np.ascontiguousarray(positions)),
                      torch.from_numpy(np.ascontiguousarray(targets)))
