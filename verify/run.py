"""One run: train a model on a task mixture, choose the checkpoint on training lengths, measure.

A ``RunSpec`` is the complete configuration of a run; its ``key`` is a hash of it, so a stored
result can be matched to the exact settings that produced it.  ``execute`` never raises for a
run that fails to train: a divergence comes back as a failed ``RunResult`` with its reason, so a
suite reports it instead of dropping it.

The mixture is the spec's (``RunSpec.mixture``): restriction items sample R(z, p, m) of the
primary, derived and plain task items sample their own instances with their own task token.  A
stage (``spec.init_from``) starts from its parent's saved weights (``weights/<parent key>.pt``):
its vocabulary is the parent's with any new task tokens appended, so every parent tensor is
copied into the first rows of the child's.  The chosen checkpoint comes back in
``RunResult.state`` for the runner to save; it is not part of the stored result.

Scheme ``predicted`` trains on coupled ids like ``coupled`` plus the next-id loss
(``verify.train``); validation and the exact match it reports decode with the model's own ids
(``verify.measure.decode_with_predicted_ids``), restrictions are measured with the true ids.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from auxtasks.derive import derive
from auxtasks.restriction import RestrictionTask
from auxtasks.derive import resolve_task
from theory.structure import structure_profile
from theory.serialize import Vocab, sample_sequences, sequence_length, serialize

from .measure import decode_with_predicted_ids, decoded_as_predictions, exact_match, measure_length, predictions
from .model import ModelConfig, Transformer
from .spec import MixtureItem, RunSpec  # noqa: F401  (RunSpec re-exported)
from .suite import SuiteError
from .train import Source, TrainingDiverged, train

VALIDATION_SEED = 7_000_000  # validation instances: training lengths only, never test lengths
EVALUATION_SEED = 9_000_000  # one fixed evaluation set per length, shared by every run
#: schemes whose data carry the coupled ids; ``predicted`` trains on them and is measured with its own
COUPLED_SCHEMES = ("coupled", "predicted")


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
    validation_curve: list = field(default_factory=list)  # (step, (exact match, token accuracy)) per evaluation
    state: dict | None = field(default=None, repr=False)  # the chosen checkpoint's state_dict (not stored)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "state"}


class ParentWeightsMissing(SuiteError):
    """A stage's parent run has no saved weights (the runner recomputes the parent first)."""


def weights_path(directory: Path, key: str) -> Path:
    """Where the runner keeps a finished run's chosen checkpoint."""
    return Path(directory) / "weights" / f"{key}.pt"


_ITEM_TASKS: dict = {}  # (primary, item, derivation settings) -> task: deriving samples instances


def _item_task(task, item: MixtureItem, spec: RunSpec):
    """The task a derived or plain mixture item samples from."""
    key = (spec.task, spec.task_digest, item, spec.train_lengths[1], spec.restriction_m, spec.restriction_lengths)
    if key not in _ITEM_TASKS:
        if item.kind == "derived":
            derivation = derive(task, spec.train_lengths[1], m=spec.restriction_m,
                                restriction_lengths=spec.restriction_lengths)
            _ITEM_TASKS[key] = derivation.by_name(item.source).task
        else:
            _ITEM_TASKS[key] = resolve_task(item.source)
    return _ITEM_TASKS[key]


def _vocabulary(spec: RunSpec, task=None) -> tuple[int, tuple[str, ...]]:
    """Symbols and task tokens of a run: a stage's tokens are its parent's, then any new ones."""
    task = task or resolve_task(spec.task)
    symbols = [task.symbols]
    tokens = [task.name]
    for item in spec.mixture:
        if item.kind != "restriction":
            symbols.append(_item_task(task, item, spec).symbols)
        tokens.append(item.token)
    if spec.init_from is not None:
        parent_symbols, parent_tokens = _vocabulary(spec.init_from)
        if max(symbols) > parent_symbols:
            raise SuiteError(f"condition {spec.condition!r} mixes in a task with {max(symbols)} symbols but its parent "
                             f"{spec.init_from.condition!r} was trained with {parent_symbols}; a stage cannot widen "
                             "the alphabet: add that item to the parent condition")
        return parent_symbols, tuple(dict.fromkeys(parent_tokens + tuple(tokens)))
    return max(symbols), tuple(dict.fromkeys(tokens))


def _longest(spec: RunSpec, task=None) -> int:
    """The longest sequence a run sees (+1), at least its parent's: a stage's position table holds
    every position its parent learned."""
    task = task or resolve_task(spec.task)
    top = max(spec.test_lengths)
    sizes = [sequence_length(task, top)]
    for item in spec.mixture:
        if item.kind != "restriction":
            sizes.append(sequence_length(_item_task(task, item, spec), item.lengths[1]))
    own = max(sizes)
    return max(own, _longest(spec.init_from)) if spec.init_from is not None else own


def load_parent(model: torch.nn.Module, path: Path) -> None:
    """Copy a parent's saved tensors into ``model``: equal shapes whole, a table that grew (new task
    tokens, longer positions) into its first rows."""
    parent = torch.load(path, weights_only=True)
    own = model.state_dict()
    if set(parent) != set(own):
        raise SuiteError(f"{path} holds another architecture (parameters differ); re-run the parent condition")
    for name, tensor in parent.items():
        target = own[name]
        if target.shape == tensor.shape:
            target.copy_(tensor)
        elif target.dim() == tensor.dim() and target.shape[1:] == tensor.shape[1:] and target.shape[0] >= tensor.shape[0]:
            target[: tensor.shape[0]].copy_(tensor)
        else:
            raise SuiteError(f"{path}: parameter {name} has shape {tuple(tensor.shape)}, the stage needs "
                             f"{tuple(target.shape)}; re-run the parent condition")
    model.load_state_dict(own)


def _sampler(task, item: MixtureItem, vocab: Vocab):
    return lambda rng, k: sample_sequences(task, rng, k, item.lengths, vocab, task_token=item.token)


def build(spec: RunSpec, weights: Path | None = None):
    """The task, measuring restriction (None if the support is unbounded), vocabulary, model, sources.

    A stage's model starts from its parent's weights under ``weights`` (the store directory)."""
    task = resolve_task(spec.task)
    profile = structure_profile(task)  # once per run: it samples instances at several lengths
    coupled = spec.position_scheme in COUPLED_SCHEMES
    if coupled and profile.coupling.index is None:
        raise SuiteError(f"position scheme {spec.position_scheme!r} needs a rule with a positional coupling; {task.name!r} has none "
                         f"({profile.coupling.note})")
    for length in (*spec.train_lengths, *spec.test_lengths, *spec.restriction_lengths):
        task.check_length(length)
    restriction = (RestrictionTask(task, spec.restriction_m, spec.restriction_lengths, coupled=coupled)
                   if profile.bounded else None)
    if coupled and any(item.kind != "restriction" for item in spec.mixture):
        raise SuiteError(f"position scheme {spec.position_scheme!r} supports restriction items only (other tasks have no coupling "
                         "of their own)")
    if any(item.kind == "restriction" for item in spec.mixture) and restriction is None:
        raise SuiteError(f"task {task.name!r} has no restriction family: its support grows with n ({profile.sparsity()})")
    items = [(item, _item_task(task, item, spec) if item.kind != "restriction" else None) for item in spec.mixture]
    symbols, token_names = _vocabulary(spec, task)
    vocab = Vocab(symbols, token_names)
    longest = _longest(spec, task)
    model_cfg = ModelConfig(vocab.size, spec.layers, spec.d_model, spec.heads, spec.position_scheme,
                            max_positions=longest + spec.train.max_position_offset + 1)
    torch.manual_seed(spec.train.model_seed)
    model = Transformer(model_cfg)
    if spec.init_from is not None:
        if weights is None or not weights_path(weights, spec.init_from.key).exists():
            raise ParentWeightsMissing(f"run {spec.key} ({spec.condition}) starts from run {spec.init_from.key} "
                                       f"({spec.init_from.condition}), whose weights are not saved; run the suite "
                                       "again: the runner recomputes the parent first")
        load_parent(model, weights_path(weights, spec.init_from.key))
    # rows of the primary and of plain tasks are independent draws, so they are sampled 16 steps at a
    # time (verify.train._Pool: sampling was up to 9% of a step for sort); restrictions draw one N per
    # batch and keep per-step sampling
    sources = [Source(task.name, 1.0,
                      lambda rng, k: sample_sequences(task, rng, k, spec.train_lengths, vocab, coupled=coupled),
                      independent_rows=True)]
    for item, item_task in items:
        if item.kind == "restriction":
            training = RestrictionTask(task, spec.restriction_m, item.lengths, coupled=coupled)
            sources.append(Source(f"{task.name}-restriction", item.weight,
                                  lambda rng, k, r=training: r.sample(rng, k, vocab)))
        else:
            sources.append(Source(item.source, item.weight, _sampler(item_task, item, vocab), independent_rows=True))
    return task, restriction, vocab, model, sources


def execute(spec: RunSpec, progress=None, weights: Path | None = None) -> RunResult:
    """Train and measure one run; ``weights``: the store directory a stage's parent weights are in."""
    started = time.perf_counter()
    task, restriction, vocab, model, sources = build(spec, weights)
    lo, hi = spec.train_lengths
    val_rng = np.random.default_rng(VALIDATION_SEED)
    validation = []
    for length in range(lo, hi + 1):
        inputs, sol = task.generate(val_rng, spec.validation_instances, length)
        validation.append(serialize(task, inputs, sol.outputs, vocab, coupled=spec.position_scheme in COUPLED_SCHEMES))

    def validate(m: torch.nn.Module) -> tuple[float, float]:
        if spec.position_scheme == "predicted":  # the same decoding as the measurement: the model's own ids
            scores = [exact_match(decoded_as_predictions(decode_with_predicted_ids(m, b)[0], b), b) for b in validation]
        else:
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
    result.validation_curve = [(step, list(score)) for step, score in trained.validation_curve]
    result.state = {name: t.detach().clone() for name, t in model.state_dict().items()}  # the chosen checkpoint
    for length in spec.test_lengths:
        m = measure_length(model, task, restriction, vocab, length, spec.eval_instances, EVALUATION_SEED + length,
                           coupled=spec.position_scheme == "coupled", predicted=spec.position_scheme == "predicted")
        result.measurements.append(m.to_dict())
    result.wall_seconds = time.perf_counter() - started
    return result


def execute_safely(spec: RunSpec, weights: Path | None = None) -> RunResult:
    """``execute`` for worker processes: any unexpected error becomes a failed result with its reason
    (a stage whose parent weights vanished raises ``ParentWeightsMissing``: the runner handles it)."""
    try:
        return execute(spec, weights=weights)
    except ParentWeightsMissing:
        raise
    except Exception as err:  # a bug must not lose the other runs' results
        return RunResult(spec.to_dict(), spec.key, "failed",
                         reason=f"{type(err).__name__}: {err} | {traceback.format_exc(limit=3)}")
