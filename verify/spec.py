"""What a run is, as plain data: its training settings and its complete specification.

Kept free of torch so that suites, the CLI's ``--help`` and result stores can describe runs
without paying torch's import time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 100
    grad_clip: float = 1.0
    eval_every: int = 200
    data_seed: int = 0
    model_seed: int = 0
    max_position_offset: int = 0  # random per-row offset of position ids in training (learned PE)
    divergence_factor: float = 10.0  # loss above this × its early value counts as a blow-up

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a run's result; ``key`` hashes all of it.

    ``condition`` is the label reports group by; ``auxiliaries`` names the derived auxiliary
    tasks (``auxtasks.derive``) mixed into training, e.g. ``("reverse-restriction",)``.
    ``restriction_m`` and ``restriction_lengths`` fix the restriction task, both for training
    (when it is among the auxiliaries) and for measuring ε(N) and c(N).
    """

    task: str
    condition: str
    seed: int
    train_lengths: tuple[int, int]
    test_lengths: tuple[int, ...]
    restriction_m: int
    restriction_lengths: tuple[int, int]
    layers: int
    d_model: int
    heads: int
    position_scheme: str
    train: TrainConfig
    auxiliaries: tuple[str, ...] = ()
    eval_instances: int = 512
    validation_instances: int = 256
    data_format: int = 2  # bump when serialization or derivation changes, so stored results stop matching

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train"] = self.train.to_dict()
        return d

    @property
    def key(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
