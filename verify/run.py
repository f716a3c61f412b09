"""One run: train a model on a task mixture, choose the checkpoint on training lengths, measure.

A ``RunSpec`` is the complete configuration of a run; its ``key`` is a hash of it, so a stored
result can be matched to the exact settings that produced it.  ``execute`` never raises for a
run that fails to train: a divergence comes back as a failed ``RunResult`` with its reason, so a
suite reports it instead of dropping it.

The mixture is the spec's (``RunSpec.mixture``): restriction items sample R(z, p, m) of the
primary, derived and plain task items sample their own instances with their own task token.  A
stage (``spec.init_from``) starts from its parent's saved weights (``weights/<parent key>.pt``):
its vocabulary is the parent's with any new task tokens appended, so every parent tensor is
copied into the first rows of the child's.  A run of ``primary_weight`` 0 (a pretraining stage) trains
on its mixture only and keeps its last checkpoint; its validation still reads the primary (zero-shot).  The chosen checkpoint comes back in
``RunResult.state`` for the runner to save; it is not part of the stored result.

Scheme ``predicted`` trains on coupled ids like ``coupled`` plus the next-id loss
(``verify.train``); validation and the exact match it reports decode with the model's own ids
(``verify.measure.decode_with_predicted_ids``), restrictions are measured with the true ids.

A run with ``spec.rule_prefix`` (Meta-RFFT's explicitly given rules, docs/design.md §13) makes its
vocabulary with the rule tokens (``Vocab(..., rules=True)``), so every row it serializes — primary,
mixture items, restrictions, validation, measurement, transfer probes — starts with the shared
``rule`` token and its own task's rule tokens (``theory.serialize``); a pretraining stage's zero-shot
validation and measurement of its held-out primary thus read that task's rule, never its untrained
task token.

Transfer measurements (Cai et al.'s extrapolation by association, issue 11): a run whose mixture
has a derived or plain task item (not with schemes ``coupled``/``predicted``, which allow
restriction items only) also stores what a transfer report reads, since a fresh clone has no
weights to recompute it from:

* ``item_measurements``: each such item's teacher-forced exact match at every test length its task
  admits, on a fixed evaluation set per (item, length) (``_item_evaluation_set``);
* ``head_maps`` / ``head_map_length``: mean-ablation maps (``verify.probes.mean_ablation_map``) of
  the chosen checkpoint for the primary and each item, at the midpoint L of the transfer band
  (``transfer_probe_length``);
* ``transfer_checkpoints``: at every validation checkpoint, the primary's and each item's exact
  match over the band (n, A] and the map difference of their maps at L, on probe sets fixed before
  training (``_TransferProbe``).

They read the model in eval mode with fixed numpy generators of their own (never the training
generator nor torch's), and the training loop puts the model back in train mode each step, so the
primary's numbers, the validation curve and the chosen checkpoint are what they are without them
(``TRANSFER_MEASUREMENTS = False`` switches them off, for that check).

Chunk selection (issue 13): a run whose mixer has hierarchical sparse attention (``hsa``,
``recurrent+hsa``) also stores ``chunk_selection``, ``[[length, covered, total], ...]`` at every test
length: of the outputs of the first ``CHUNK_SELECTION_INSTANCES`` evaluation instances (the very
instances ``measure_length`` measures; total = instances × r(N)), how many had every chunk holding
their support selected at the slot that predicts them (``verify.probes.chunk_selection``).  It is
an extra teacher-forced pass in eval mode that draws from no generator, so the other numbers are
unchanged; other mixers measure nothing and store no such field.
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
from theory.rule_tokens import RULE_FORMAT
from theory.serialize import SequenceBatch, Vocab, prefix_length, sample_sequences, sequence_length, serialize

from .measure import decode_with_predicted_ids, decoded_as_predictions, exact_match, measure_length, predictions
from .model import ModelConfig, Transformer
from .probes import HSA_MIXERS, PROBE_SEED, chunk_selection, mean_ablation_map, stable_offset, \
    teacher_forced_exact_match
from .spec import MixtureItem, RunSpec  # noqa: F401  (RunSpec re-exported)
from .suite import SuiteError, check_rule_prefix_fits, check_rule_tokens
from .train import Source, TrainingDiverged, train

VALIDATION_SEED = 7_000_000  # validation instances: training lengths only, never test lengths
EVALUATION_SEED = 9_000_000  # one fixed evaluation set per length, shared by every run
#: schemes whose data carry the coupled ids; ``predicted`` trains on them and is measured with its own
COUPLED_SCHEMES = ("coupled", "predicted")

#: measure the transfer fields of runs with task items (module docstring); off only to check that
#: they change nothing else
TRANSFER_MEASUREMENTS = True
ITEM_EVAL_INSTANCES = 256  # at most, per (item, test length); fewer if the spec's eval_instances is smaller
HEAD_MAP_INSTANCES = 128  # per task, at the chosen checkpoint
CHECKPOINT_INSTANCES = 64  # per task and length (and per map) at every validation checkpoint
CHUNK_SELECTION_INSTANCES = 128  # at most, per test length: the first of the evaluation set (HSA mixers only)


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
    # transfer measurements (module docstring); empty for runs without a derived or plain task item
    item_measurements: dict = field(default_factory=dict)  # source -> [[length, exact, instances], ...]
    head_maps: dict = field(default_factory=dict)  # primary name / item source -> layers × heads rows
    head_map_length: int = 0  # L, the length the head maps are probed at (0: none)
    transfer_checkpoints: list = field(default_factory=list)  # per validation checkpoint, see _TransferProbe
    #: HSA mixers only: [[length, covered, total], ...] per test length (module docstring); not stored when empty,
    #: so other mixers store exactly what they stored before
    chunk_selection: list = field(default_factory=list)
    #: torch threads the run computed with (CPU float reductions, hence the last bits, depend on it;
    #: the key does not, ``verify.runner``); 0: not recorded (runs stored before it was)
    threads: int = 0
    state: dict | None = field(default=None, repr=False)  # the chosen checkpoint's state_dict (not stored)

    def to_dict(self) -> dict:
        # empty chunk selection and unrecorded threads (a run never computed, e.g. its parent failed) are left out
        return {k: v for k, v in asdict(self).items()
                if k != "state" and not (k in ("chunk_selection", "threads") and not v)}


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
    every position its parent learned.  Rule prefixes count (their tokens have positions too)."""
    task = task or resolve_task(spec.task)
    top = max(spec.test_lengths)
    rules = bool(spec.rule_prefix)
    sizes = [sequence_length(task, top) + prefix_length(task, rules)]
    for item in spec.mixture:
        # a restriction keeps the ids of the instance it is cut from, up to its item's longest length
        item_task = task if item.kind == "restriction" else _item_task(task, item, spec)
        sizes.append(sequence_length(item_task, item.lengths[1]) + prefix_length(item_task, rules))
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


def _check_rule_prefix(spec: RunSpec, tasks: list) -> None:
    """The checks ``verify.suite.build_spec`` makes of a rule prefix (the same functions), for specs
    made any other way, plus this code's rule format: a stage agrees with its parent; a rule-prefix
    run has no coupled ids, no HSA probe, and rule tokens for every task it serializes."""
    if spec.rule_prefix and spec.rule_prefix != RULE_FORMAT:
        raise SuiteError(f"run {spec.key} was specified with rule format {spec.rule_prefix}; this code writes rule "
                         f"format {RULE_FORMAT} (theory.rule_tokens), so it cannot reproduce the run")
    check_rule_prefix_fits(spec.condition, spec.rule_prefix, spec.position_scheme, spec.mixer, spec.init_from)
    if spec.rule_prefix:
        check_rule_tokens(spec.condition, tasks)


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
    _check_rule_prefix(spec, [task] + [t for _, t in items if t is not None])
    symbols, token_names = _vocabulary(spec, task)
    vocab = Vocab(symbols, token_names, rules=bool(spec.rule_prefix))
    longest = _longest(spec, task)
    model_cfg = ModelConfig(vocab.size, spec.layers, spec.d_model, spec.heads, spec.position_scheme,
                            max_positions=longest + spec.train.max_position_offset + 1,
                            mixer=spec.mixer, chunk_size=spec.chunk_size, top_k=spec.top_k)
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
    sources = [Source(task.name, spec.primary_weight,
                      lambda rng, k: sample_sequences(task, rng, k, spec.train_lengths, vocab, coupled=coupled),
                      independent_rows=True)] if spec.primary_weight > 0 else []  # 0: a pretraining stage
    for item, item_task in items:
        if item.kind == "restriction":
            training = RestrictionTask(task, spec.restriction_m, item.lengths, coupled=coupled)
            sources.append(Source(f"{task.name}-restriction", item.weight,
                                  lambda rng, k, r=training: r.sample(rng, k, vocab)))
        else:
            sources.append(Source(item.source, item.weight, _sampler(item_task, item, vocab), independent_rows=True))
    return task, restriction, vocab, model, sources


# ------------------------------------------------------------------------- transfer measurements


def transfer_items(spec: RunSpec) -> list[MixtureItem]:
    """The mixture items a run's transfer measurements cover: derived and plain tasks (none with
    schemes ``coupled``/``predicted``, or with ``TRANSFER_MEASUREMENTS`` off)."""
    if not TRANSFER_MEASUREMENTS or spec.position_scheme in COUPLED_SCHEMES or spec.mixer == "recurrent":
        # (a recurrent-only model has no attention heads to ablate)
        return []
    return [item for item in spec.mixture if item.kind != "restriction"]


def transfer_probe_length(spec: RunSpec) -> int:
    """L, the midpoint of the transfer band: with n the primary's and A the longest item's training
    maximum, (n + 1 + A) // 2 if A > n, else n (each task is probed at L capped by what it admits)."""
    n = spec.train_lengths[1]
    top = max((item.lengths[1] for item in spec.mixture if item.kind != "restriction"), default=n)
    return (n + 1 + top) // 2 if top > n else n


def _usable(task, length: int, model: Transformer, vocab: Vocab) -> bool:
    """Whether ``task`` admits ``length`` and its sequence (rule prefix included) fits the model's
    learned position table."""
    if length < task.min_length or (task.max_length is not None and length > task.max_length):
        return False
    size = sequence_length(task, length) + prefix_length(task, vocab)
    return model.pos_embed is None or size <= model.cfg.max_positions


def _probe_length(task, length: int, model: Transformer, vocab: Vocab) -> int:
    """``length`` capped to what ``task`` admits (and the model's position table holds)."""
    length = max(task.min_length, min(length, task.max_length or length))
    while length > task.min_length and not _usable(task, length, model, vocab):
        length -= 1
    return length


def _instances(label: str, task, token: str, length: int, count: int, vocab: Vocab, base: int):
    """A fixed set of ``count`` instances of ``task`` at ``length`` with task token ``token``: the
    generator is seeded by ``base``, the length and the label, never shared with training."""
    rng = np.random.default_rng(base + length + stable_offset(label))
    inputs, sol = task.generate(rng, count, length, support=False)
    return serialize(task, inputs, sol.outputs, vocab, token)


def _item_evaluation_set(item: MixtureItem, task, length: int, count: int, vocab: Vocab):
    """The evaluation set of a mixture item at one test length (the same in every run)."""
    return _instances(item.source, task, item.token, length, count, vocab, EVALUATION_SEED)


def _map_rows(drops: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in drops]


class _TransferProbe:
    """At a validation checkpoint: the primary's and each item's exact match over the band (n, A]
    and the map difference of their mean-ablation maps at L, on probe sets made once, up front.

    Band lengths: above the primary's training maximum n, up to the longest item's A and the
    longest test length, that the primary and every item admit (so all lists line up)."""

    def __init__(self, spec: RunSpec, task, items: list[MixtureItem], vocab: Vocab, model: Transformer):
        from .transfer import map_difference

        self.map_difference = map_difference
        self.schedule = [s for s in range(1, spec.train.steps + 1)
                         if s % spec.train.eval_every == 0 or s == spec.train.steps]  # when train() validates
        self.calls = 0
        targets = [(item.source, _item_task(task, item, spec), item.token) for item in items]
        n = spec.train_lengths[1]
        top = min(max(item.lengths[1] for item in items), max(spec.test_lengths))
        self.lengths = [length for length in range(n + 1, top + 1)
                        if _usable(task, length, model, vocab) and all(_usable(t, length, model, vocab)
                                                                       for _, t, _ in targets)]
        probe = transfer_probe_length(spec)
        self.main = [_instances(task.name, task, task.name, length, CHECKPOINT_INSTANCES, vocab, PROBE_SEED)
                     for length in self.lengths]
        self.main_map = _instances(task.name, task, task.name, _probe_length(task, probe, model, vocab),
                                   CHECKPOINT_INSTANCES, vocab, PROBE_SEED)
        self.items = {label: ([_instances(label, t, token, length, CHECKPOINT_INSTANCES, vocab, PROBE_SEED)
                               for length in self.lengths],
                              _instances(label, t, token, _probe_length(t, probe, model, vocab), CHECKPOINT_INSTANCES,
                                         vocab, PROBE_SEED))
                      for label, t, token in targets}

    def __call__(self, model: torch.nn.Module) -> dict:
        step = self.schedule[min(self.calls, len(self.schedule) - 1)]
        self.calls += 1
        main_map = mean_ablation_map(model, [self.main_map])
        items = {}
        for label, (sets, map_set) in self.items.items():
            items[label] = {"exact": [teacher_forced_exact_match(model, b) for b in sets],
                            "map_difference": self.map_difference(main_map, mean_ablation_map(model, [map_set]))}
        return {"step": step, "lengths": list(self.lengths),
                "main": [teacher_forced_exact_match(model, b) for b in self.main], "items": items}


def _final_transfer_measurements(result: RunResult, spec: RunSpec, task, items: list[MixtureItem], vocab: Vocab,
                                 model: Transformer) -> None:
    """Each item's exact match at the test lengths it admits, and the head maps at L, of the chosen
    checkpoint (``model`` holds it)."""
    count = min(spec.eval_instances, ITEM_EVAL_INSTANCES)
    probe = transfer_probe_length(spec)
    result.head_map_length = probe
    result.head_maps[task.name] = _map_rows(mean_ablation_map(
        model, [_instances(task.name, task, task.name, _probe_length(task, probe, model, vocab), HEAD_MAP_INSTANCES,
                           vocab, PROBE_SEED)]))
    for item in items:
        item_task = _item_task(task, item, spec)
        rows = []
        for length in spec.test_lengths:
            if _usable(item_task, length, model, vocab):
                batch = _item_evaluation_set(item, item_task, length, count, vocab)
                rows.append([int(length), int(exact_match(predictions(model, batch), batch)[0].sum()), count])
        result.item_measurements[item.source] = rows
        result.head_maps[item.source] = _map_rows(mean_ablation_map(
            model, [_instances(item.source, item_task, item.token, _probe_length(item_task, probe, model, vocab),
                               HEAD_MAP_INSTANCES, vocab, PROBE_SEED)]))


def _chunk_selection_probe(result: RunResult, model: Transformer, task, length: int):
    """``measure_length``'s ``inspect``: the chunk selection of the first ``CHUNK_SELECTION_INSTANCES``
    evaluation instances at ``length``, appended to ``result.chunk_selection`` as [length, covered, total]."""
    def probe(full: SequenceBatch, sol) -> None:
        k = min(len(full), CHUNK_SELECTION_INSTANCES)
        rows = SequenceBatch(full.tokens[:k], full.positions[:k], full.mask[:k])
        covered, total = chunk_selection(model, task, length, rows, sol.support[:k])
        result.chunk_selection.append([int(length), covered, total])
    return probe


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

    result = RunResult(spec.to_dict(), spec.key, "ok", threads=torch.get_num_threads())
    items = transfer_items(spec)
    checkpoints: list[dict] = []
    if items:
        probe = _TransferProbe(spec, task, items, vocab, model)

        def validate_and_probe(m: torch.nn.Module) -> tuple[float, float]:
            score = validate(m)
            checkpoints.append(probe(m))
            return score
    try:
        trained = train(model, sources, spec.train, vocab.pad, validate_and_probe if items else validate, progress,
                        reference_weight=1.0, keep_last=spec.primary_weight == 0)
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
    selection = spec.mixer in HSA_MIXERS
    for length in spec.test_lengths:
        m = measure_length(model, task, restriction, vocab, length, spec.eval_instances, EVALUATION_SEED + length,
                           coupled=spec.position_scheme == "coupled", predicted=spec.position_scheme == "predicted",
                           inspect=_chunk_selection_probe(result, model, task, length) if selection else None)
        result.measurements.append(m.to_dict())
    if items:
        result.transfer_checkpoints = checkpoints
        _final_transfer_measurements(result, spec, task, items, vocab, model)
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
        return RunResult(spec.to_dict(), spec.key, "failed", threads=torch.get_num_threads(),
                         reason=f"{type(err).__name__}: {err} | {traceback.format_exc(limit=3)}")
