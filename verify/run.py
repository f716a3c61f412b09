"""One run: train a model on a task mixture, choose the checkpoint on training lengths, measure.

A ``RunSpec`` is the complete configuration of a run; its ``key`` is a hash of it, so a stored
result can be matched to the exact settings that produced it.  ``execute`` never raises for a
run that fails to train: a divergence comes back as a failed ``RunResult`` with its reason, so a
suite reports it instead of dropping it.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from auxtasks.derive import derive
from auxtasks.restriction import RestrictionTask
from auxtasks.derive import resolve_task
from theory.structure import structure_profile
from theory.serialize import Vocab, sample_sequences, serialize

from .measure import exact_match, measure_length, predictions
from .model import ModelConfig, Transformer
from .spec import RunSpec  # noqa: F401  (re-exported)
from .suite import SuiteError
from .train import Source, TrainingDiverged, train

VALIDATION_SEED = 7_000_000  # validation instances: training lengths only, never test lengths
EVALUATION_SEED = 9_000_000  # one fixed evaluation set per length, shared by every run


@dataclass
class RunResult:
    spec: dict
    key: str
    status: str  # "ok" | "failed"
    reason: str = ""
    best_step: int = 0
    validation_exact: float = float("nan")  # mean EM over training lengths at the chosen checkpoint
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    measurements: list[dict] = field(default_factory=list)
    loss_curve: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def build(spec: RunSpec):
    """The task, measuring restriction (None if the support is unbounded), vocabulary, model, sources."""
    if spec.position_scheme == "predicted":
        # the model has the position head (verify/model.py), but training does not yet add the
        # position loss nor decode with predicted ids; running it would silently be `coupled`
        raise SuiteError("position scheme 'predicted' is available in the model but runs do not yet train its "
                         "position head; use coupled, none, learned, rope, sinusoidal or alibi")
    task = resolve_task(spec.task)
    profile = structure_profile(task)  # once per run: it samples instances at several lengths
    coupled = spec.position_scheme == "coupled"
    if coupled and profile.coupling.index is None:
        raise SuiteError(f"position scheme 'coupled' needs a rule with a positional coupling; {task.name!r} has none "
                         f"({profile.coupling.note})")
    for length in (*spec.train_lengths, *spec.test_lengths, *spec.restriction_lengths):
        task.check_length(length)
    restriction = (RestrictionTask(task, spec.restriction_m, spec.restriction_lengths, coupled=coupled)
                   if profile.bounded else None)
    auxiliaries = []
    if spec.auxiliaries:
        derivation = derive(task, spec.train_lengths[1], m=spec.restriction_m,
                            restriction_lengths=spec.restriction_lengths, profile=profile)
        auxiliaries = [derivation.by_name(name) for name in spec.auxiliaries]
        if coupled and any(a.restriction is None for a in auxiliaries):
            raise SuiteError("position scheme 'coupled' supports restriction auxiliaries only (other derived tasks "
                             "have no coupling of their own)")
        auxiliaries = [dataclasses.replace(a, restriction=restriction) if a.restriction is not None else a
                       for a in auxiliaries]
    token_names = dict.fromkeys([task.name] + [a.token_name for a in auxiliaries])  # ordered, unique
    vocab = Vocab(max([task.symbols] + [a.symbols for a in auxiliaries]), tuple(token_names))
    longest = max([task.input_size(max(spec.test_lengths)) + len(task.operands) + task.r(max(spec.test_lengths))]
                  + [a.task.input_size(a.lengths[1]) + len(a.task.operands) + a.task.r(a.lengths[1])
                     for a in auxiliaries if a.task is not None]) + 1
    model_cfg = ModelConfig(vocab.size, spec.layers, spec.d_model, spec.heads, spec.position_scheme,
                            max_positions=longest + spec.train.max_position_offset + 1)
    torch.manual_seed(spec.train.model_seed)
    model = Transformer(model_cfg)
    sources = [Source(task.name, 1.0,
                      lambda rng, k: sample_sequences(task, rng, k, spec.train_lengths, vocab, coupled=coupled))]
    for aux in auxiliaries:
        sources.append(Source(aux.name, aux.weight, lambda rng, k, aux=aux: aux.sample(rng, k, vocab)))
    return task, restriction, vocab, model, sources


def execute(spec: RunSpec, progress=None) -> RunResult:
    started = time.perf_counter()
    task, restriction, vocab, model, sources = build(spec)
    lo, hi = spec.train_lengths
    val_rng = np.random.default_rng(VALIDATION_SEED)
    validation = []
    for length in range(lo, hi + 1):
        inputs, sol = task.generate(val_rng, spec.validation_instances, length)
        validation.append(serialize(task, inputs, sol.outputs, vocab, coupled=spec.position_scheme == "coupled"))

    def validate(m: torch.nn.Module) -> tuple[float, float]:
        scores = [exact_match(predictions(m, b), b) for b in validation]
        return float(np.mean([em.mean() for em, _ in scores])), float(np.mean([acc.mean() for _, acc in scores]))

    result = RunResult(spec.to_dict(), spec.key, "ok")
    try:
        trained = train(model, sources, spec.train, vocab.pad, validate, progress)
    except TrainingDiverged as err:
        result.status, result.reason = "failed", str(err)
        result.wall_seconds = time.perf_counter() - started
        return result
    result.best_step = trained.best_step
    result.validation_exact = trained.best_score[0]
    result.train_seconds = trained.seconds
    result.loss_curve = trained.loss_curve
    for length in spec.test_lengths:
        m = measure_length(model, task, restriction, vocab, length, spec.eval_instances, EVALUATION_SEED + length,
                           coupled=spec.position_scheme == "coupled")
        result.measurements.append(m.to_dict())
    result.wall_seconds = time.perf_counter() - started
    return result


def execute_safely(spec: RunSpec) -> RunResult:
    """``execute`` for worker processes: any unexpected error becomes a failed result with its reason."""
    try:
        return execute(spec)
    except Exception as err:  # a bug must not lose the other runs' results
        return RunResult(spec.to_dict(), spec.key, "failed",
                         reason=f"{type(err).__name__}: {err} | {traceback.format_exc(limit=3)}")
