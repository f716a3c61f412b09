"""Suites: named lists of runs (tasks × conditions × seeds) plus the settings their report needs.

A suite is a Python file that defines ``SUITE = Suite(...)``: the committed ones live in
``verify/suites/NAME.py`` (``lengthgen report --suite NAME``), a user's anywhere
(``lengthgen report --suite path/to/my_suite.py``).  Every number in a committed report comes
from a committed suite file.

A **condition** is a named training recipe: the primary plus a mixture of items — the
primary's restriction family (``"restriction"``), a task derived from the primary
(``"reverse_addition-carry"``), a catalogue task (``"copy"``) or a task file — each with its own
lengths, weight and task token; optionally ``init_from`` another condition (a stage: finetune
from that condition's stored weights of the same seed).  **Claims** name the conditions they
compare (``Beats``, ``BoundHolds``, ``Extrapolates``, ``Ordering``, ``TaskOrdering``, ``Transfers``;
their rules are in ``verify.claims``).  ``build_spec`` is the one function that turns (task,
condition, seed, settings) into a ``RunSpec``; suites, theorems and screens all call it.

A suite is checked when constructed (types, seeds, steps, lengths, condition references and
cycles, claims) and when loaded from a file (tasks and mixture items resolve, lengths are
admissible, a restriction item needs a k-sparse task); each problem is one line
``file:line: problem; fix``.  Files run through ``theory.userfile.run_user_file`` (time limit,
exits and interrupts caught), as task files do.

Quick looks (``--seeds``, ``--steps``; ``Suite.with_overrides``) are a different suite as far as
results go: the report names the overrides in a banner at its top and is written to
``<out>/<name>-quick/``, so it never mixes with, or overwrites, the suite's own report.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from auxtasks.derive import derive, resolve_task, restriction_defaults
from theory.task import TaskDefinitionError
from theory.userfile import run_user_file

from .spec import MixtureItem, RunSpec, TrainConfig

from theory.task import definition_digest  # the run key hashes what the task *is*, not only its name

SUITES_DIR = Path(__file__).parent / "suites"
#: the values of ``RunSpec.position_scheme`` runs can train (``verify.model.POSITION_SCHEMES``; a test
#: checks they agree); kept here so loading a suite needs no torch
RUNNABLE_SCHEMES = ("none", "learned", "rope", "sinusoidal", "alibi", "coupled", "predicted")
RESTRICTION = "restriction"


class SuiteError(TaskDefinitionError):
    """Unknown suite or impossible suite settings.  ``needle``: a name the problem is about, so a
    suite file's error can point at the line that mentions it.  (A ``TaskDefinitionError``, so the
    shared user-file loader reports one raised while a suite file runs with its file and line.)"""

    def __init__(self, message: str, needle: str | None = None):
        super().__init__(message)
        self.needle = needle


def run_lengths(task, train_max: int, test_max: int) -> dict:
    """The length fields of a RunSpec: train from the task's minimum to ``train_max``, test at every
    length up to ``test_max`` (capped by what the task admits), restrictions at their defaults."""
    m, restriction_lengths = restriction_defaults(task, train_max)
    top = min(test_max, task.max_length or test_max)
    return {"train_lengths": (task.min_length, train_max), "test_lengths": tuple(range(task.min_length, top + 1)),
            "restriction_m": m, "restriction_lengths": restriction_lengths}


def default_position_scheme(profile) -> str:
    """The scheme quick experiments (screens, theorems) use, chosen from the structure alone.

    Content-selected C-RASP tasks fit fastest without positions (sort with NoPE in docs/feasibility.md §5);
    everything that reads by position gets RoPE.
    """
    return "none" if profile.crasp.member and profile.coupling.index is None else "rope"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_lengths(what: str, lengths) -> None:
    if (not isinstance(lengths, (tuple, list)) or len(lengths) != 2 or not all(_is_int(v) for v in lengths)
            or lengths[0] < 1 or lengths[0] > lengths[1]):
        raise SuiteError(f"{what}: lengths must be two integers (lo, hi) with 1 <= lo <= hi, got {lengths!r}")


# ------------------------------------------------------------------------------ what a suite says


@dataclass(frozen=True)
class Item:
    """One mixture item as a suite writes it; ``None`` fields take the item's defaults (a derived
    task's own lengths and weight, the primary's training lengths and weight 1 for a plain task,
    the restriction family's default lengths)."""

    source: str
    lengths: tuple[int, int] | None = None
    weight: float | None = None
    token: str | None = None

    def __post_init__(self):
        if not isinstance(self.source, str) or not self.source:
            raise SuiteError(f"a mixture item's source must be a task name, a derived task name, {RESTRICTION!r} or "
                             f"a .py path, got {self.source!r}")
        if self.lengths is not None:
            _check_lengths(f"mixture item {self.source!r}", self.lengths)
            object.__setattr__(self, "lengths", tuple(self.lengths))
        if self.weight is not None and (isinstance(self.weight, bool) or not isinstance(self.weight, (int, float))
                                        or not self.weight > 0 or self.weight > 100):
            raise SuiteError(f"mixture item {self.source!r}: weight must be a number in (0, 100], got {self.weight!r}")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise SuiteError(f"mixture item {self.source!r}: token must be a non-empty string, got {self.token!r}")


@dataclass(frozen=True)
class Condition:
    """A named training recipe: the primary plus ``mixture``; ``init_from`` names the condition
    whose stored weights (same task, same seed) it finetunes from; ``steps`` overrides the
    suite's step count for this condition (a short finetuning stage)."""

    name: str
    mixture: tuple[Item, ...] = ()
    init_from: str | None = None
    steps: int | None = None
    why: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_+\-.]+", self.name or ""):
            raise SuiteError(f"condition name must be letters, digits and _+-. only, got {self.name!r}")
        if isinstance(self.mixture, (str, Item)):
            raise SuiteError(f"condition {self.name!r}: mixture must be a tuple of items, e.g. ({self.mixture!r},)")
        items = tuple(Item(m) if isinstance(m, str) else m for m in self.mixture)
        for m in items:
            if not isinstance(m, Item):
                raise SuiteError(f"condition {self.name!r}: a mixture item must be a string or Item(...), got {m!r}")
        object.__setattr__(self, "mixture", items)
        if self.steps is not None and (not _is_int(self.steps) or self.steps < 1):
            raise SuiteError(f"condition {self.name!r}: steps must be an integer >= 1, got {self.steps!r}")


@dataclass(frozen=True)
class Beats:
    """Claim: condition ``treated`` beats ``baseline`` on mean exact match beyond the training
    range, per task.  ``label`` names the claim (default: "TREATED beats BASELINE ...")."""

    treated: str
    baseline: str
    label: str | None = None


@dataclass(frozen=True)
class BoundHolds:
    """Claim: the AGK bound holds where models are restriction-consistent, over the runs of
    ``conditions`` (empty: every condition of the suite)."""

    conditions: tuple[str, ...] = ()


#: the directions a claim may record as a paper's published one (``published=``), per claim kind
EXTRAPOLATION_DIRECTIONS = ("extrapolates", "fails")
TREND_DIRECTIONS = ("increasing", "decreasing")
TRANSFER_DIRECTIONS = ("transfer", "none")


@dataclass(frozen=True)
class Extrapolates:
    """Claim, per task: ``condition`` keeps exact match >= ``threshold`` over test lengths in
    (lo·n, hi·n] for ``band = (lo, hi)`` (factors of the training maximum n) exactly when the task
    passes the definition-level C-RASP test (Huang et al., ICLR 2025).  ``published``: the direction
    the cited paper reports for the task ("extrapolates" / "fails"), for the agreement table."""

    condition: str
    threshold: float = 0.9
    band: tuple[float, float] = (1.0, 2.0)
    published: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Ordering:
    """Claim, per task: OOD exact match changes monotonically (``direction``) along ``conditions``,
    tested by Spearman's rho with an exact permutation p (the suite's hypothesis)."""

    conditions: tuple[str, ...]
    metric: str = "ood_exact_match"
    direction: str = "increasing"
    published: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class TaskOrdering:
    """Claim, across ``tasks`` (each in the suite's plans, k-sparse) under one ``condition``: OOD
    exact match falls as the sparsity k of the task grows (Golowich et al., ICML 2025); k comes from
    each task's structure profile, so the predicted order is computed, not written."""

    condition: str
    tasks: tuple[str, ...]
    metric: str = "ood_exact_match"
    published: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Transfers:
    """Claim, per task: ``with_aux_condition`` (the main task trained with an auxiliary trained
    longer) beats ``main_condition`` on the main task's exact match over ``band`` = (lo, hi] — by
    default (n, the auxiliary's training maximum] — exactly when ``auxtasks.relatedness`` predicts
    transfer (Cai et al., NeurIPS 2025).  ``aux``: the auxiliary's mixture source, needed only when
    ``with_aux_condition`` adds more than one task to ``main_condition``."""

    main_condition: str
    with_aux_condition: str
    band: tuple[int, int] | None = None
    aux: str | None = None
    published: str | None = None
    label: str | None = None


ClaimSpec = Beats | BoundHolds | Extrapolates | Ordering | TaskOrdering | Transfers
METRICS = ("ood_exact_match",)  # what an ordering claim can order by


def trained_sources(conditions, name: str) -> dict[str, Item]:
    """The mixture items a condition trains on, its stages' parents included, by source."""
    by_name = {c.name: c for c in conditions}
    out: dict[str, Item] = {}
    at = by_name[name]
    while True:
        for item in at.mixture:
            out.setdefault(item.source, item)
        if at.init_from is None:
            return out
        at = by_name[at.init_from]


def transfer_aux_source(conditions, claim: Transfers) -> str:
    """The auxiliary a ``Transfers`` claim is about: ``claim.aux``, or the one non-restriction source
    ``with_aux_condition`` trains on and ``main_condition`` does not."""
    if claim.aux is not None:
        return claim.aux
    added = [s for s in trained_sources(conditions, claim.with_aux_condition)
             if s not in trained_sources(conditions, claim.main_condition) and s != RESTRICTION
             and not s.endswith("-" + RESTRICTION)]
    if len(added) != 1:
        raise SuiteError(f"claim Transfers({claim.main_condition!r}, {claim.with_aux_condition!r}): condition "
                         f"{claim.with_aux_condition!r} adds {len(added)} tasks to {claim.main_condition!r} "
                         f"({', '.join(added) or 'none'}); name the auxiliary with aux=...", needle=claim.with_aux_condition)
    return added[0]


def transfer_auxiliary(suite: "Suite", task, claim: Transfers) -> tuple:
    """The resolved auxiliary task of a ``Transfers`` claim for the primary ``task`` and the band
    (lo, hi] it is judged over."""
    source = transfer_aux_source(suite.conditions, claim)
    item = trained_sources(suite.conditions, claim.with_aux_condition)[source]
    lengths = run_lengths(task, suite.train_max, max(suite.test_lengths))
    mixed = resolve_item(item, task, lengths["train_lengths"], lengths["restriction_m"], lengths["restriction_lengths"])
    if mixed.kind == "derived":
        aux = _derivation(task, lengths["train_lengths"][1], lengths["restriction_m"],
                          lengths["restriction_lengths"]).by_name(source).task
    else:
        aux = resolve_task(source)
    band = tuple(claim.band) if claim.band is not None else (suite.train_max, mixed.lengths[1])
    return aux, band


@dataclass(frozen=True)
class TaskPlan:
    task: str
    position_scheme: str
    why: str


DEFAULT_CONDITIONS = (Condition("primary"), Condition("primary+restriction", (RESTRICTION,)))
DEFAULT_CLAIMS = (Beats("primary+restriction", "primary", label="restriction auxiliaries improve extrapolation"),
                  BoundHolds())


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    plans: tuple[TaskPlan, ...]
    seeds: tuple[int, ...]
    train_max: int  # n: the primary trains at lengths 1..n
    test_factor: int  # evaluate at every length 1..test_factor·n
    steps: int
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    delta: float = 0.2  # error level for certified / measured extrapolation lengths
    fit_threshold: float = 0.9  # validation exact match below this = failed to fit the training range
    eval_instances: int = 512
    eval_every: int = 250
    conditions: tuple[Condition, ...] = DEFAULT_CONDITIONS
    claims: tuple[ClaimSpec, ...] = DEFAULT_CLAIMS
    #: quick-look overrides applied on the command line (``--seeds``, ``--steps``), as text
    overrides: tuple[str, ...] = field(default=())

    def __post_init__(self):
        _validate(self)

    @property
    def test_lengths(self) -> tuple[int, ...]:
        return tuple(range(1, self.test_factor * self.train_max + 1))

    def condition(self, name: str) -> Condition:
        for c in self.conditions:
            if c.name == name:
                return c
        raise SuiteError(f"suite {self.name!r} has no condition {name!r}; it has {', '.join(self.condition_names)}")

    @property
    def condition_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    def stage_order(self) -> list[Condition]:
        """The conditions with every ``init_from`` parent before its children."""
        done: list[Condition] = []
        while len(done) < len(self.conditions):
            for c in self.conditions:
                if c not in done and (c.init_from is None or self.condition(c.init_from) in done):
                    done.append(c)
        return done

    def with_overrides(self, seeds: tuple[int, ...] | None = None, steps: int | None = None) -> Suite:
        """A quick-look copy with other seeds or steps; it remembers what was overridden."""
        changes, notes = {}, list(self.overrides)
        if seeds is not None:
            changes["seeds"] = tuple(seeds)
            notes.append(f"seeds {','.join(map(str, seeds))} (suite: {','.join(map(str, self.seeds))})")
        if steps is not None:
            changes["steps"] = steps
            changes["conditions"] = tuple(dataclasses.replace(c, steps=None) for c in self.conditions)
            notes.append(f"steps {steps} (suite: {self.steps})")
        if not changes:
            return self
        return dataclasses.replace(self, **changes, overrides=tuple(notes))

    def runs(self) -> list[RunSpec]:
        specs = []
        for plan in self.plans:
            task = resolve_task(plan.task)
            built: dict[tuple[str, int], RunSpec] = {}
            for condition in self.stage_order():
                for seed in self.seeds:
                    parent = built[(condition.init_from, seed)] if condition.init_from else None
                    spec = build_spec(task, plan.task, condition, seed, self.train_max, max(self.test_lengths),
                                      condition.steps or self.steps, plan.position_scheme,
                                      layers=self.layers, d_model=self.d_model, heads=self.heads,
                                      eval_every=self.eval_every, eval_instances=self.eval_instances, parent=parent)
                    built[(condition.name, seed)] = spec
            # report order: the suite's condition order, seeds ascending
            specs += [built[(c.name, seed)] for c in self.conditions for seed in self.seeds]
        return specs


def _validate(suite: Suite) -> None:
    """Everything that can be checked without resolving tasks (``check_suite`` does the rest)."""
    if not isinstance(suite.name, str) or not re.fullmatch(r"[A-Za-z0-9_\-.]+", suite.name or "") or suite.name.startswith("."):
        raise SuiteError(f"suite name must be letters, digits and _-. (it names the report folder), got {suite.name!r}")
    if not isinstance(suite.plans, (tuple, list)) or not suite.plans or not all(isinstance(p, TaskPlan) for p in suite.plans):
        raise SuiteError("plans must be a non-empty tuple of TaskPlan(task, position_scheme, why)")
    for plan in suite.plans:
        if plan.position_scheme not in RUNNABLE_SCHEMES:
            raise SuiteError(f"task {plan.task!r}: unknown position scheme {plan.position_scheme!r}; choose one of "
                             f"{', '.join(RUNNABLE_SCHEMES)}")
    if len({p.task for p in suite.plans}) != len(suite.plans):
        raise SuiteError("a task appears in two plans; give each task one plan")
    if not isinstance(suite.seeds, (tuple, list)) or not suite.seeds or not all(_is_int(s) and s >= 0 for s in suite.seeds):
        raise SuiteError(f"seeds must be a non-empty tuple of integers >= 0, got {suite.seeds!r}")
    if len(set(suite.seeds)) != len(suite.seeds):
        raise SuiteError(f"seeds repeat: {suite.seeds!r}; list each seed once")
    for name in ("train_max", "test_factor", "steps", "layers", "d_model", "heads", "eval_instances", "eval_every"):
        value = getattr(suite, name)
        if not _is_int(value) or value < 1:
            raise SuiteError(f"{name} must be an integer >= 1, got {value!r}")
    if suite.d_model % suite.heads:
        raise SuiteError(f"d_model ({suite.d_model}) must be a multiple of heads ({suite.heads})")
    for name in ("delta", "fit_threshold"):
        value = getattr(suite, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise SuiteError(f"{name} must be a number in [0, 1], got {value!r}")
    if not isinstance(suite.conditions, (tuple, list)) or not suite.conditions or \
            not all(isinstance(c, Condition) for c in suite.conditions):
        raise SuiteError("conditions must be a non-empty tuple of Condition(name, mixture, ...)")
    names = [c.name for c in suite.conditions]
    if len(set(names)) != len(names):
        raise SuiteError(f"condition names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}; "
                         "give each condition its own name")
    for c in suite.conditions:
        if c.init_from is not None and c.init_from not in names:
            raise SuiteError(f"condition {c.name!r} starts from unknown condition {c.init_from!r}; known: "
                             f"{', '.join(names)}", needle=c.init_from)
    for c in suite.conditions:  # a chain of init_from must end
        seen, at = [c.name], c
        while at.init_from is not None:
            if at.init_from in seen:
                raise SuiteError(f"conditions start from each other in a cycle: {' -> '.join(seen + [at.init_from])}; "
                                 "one of them must start from scratch", needle=c.name)
            seen.append(at.init_from)
            at = next(x for x in suite.conditions if x.name == at.init_from)
    for claim in suite.claims:
        if isinstance(claim, Beats):
            refs = (claim.treated, claim.baseline)
            if claim.treated == claim.baseline:
                raise SuiteError(f"claim Beats({claim.treated!r}, {claim.baseline!r}) compares a condition with itself")
        elif isinstance(claim, BoundHolds):
            refs = tuple(claim.conditions)
        elif isinstance(claim, (Extrapolates, Ordering, TaskOrdering, Transfers)):
            refs = _validate_claim(suite, claim)
        else:
            raise SuiteError("claims must be Beats, BoundHolds, Extrapolates, Ordering, TaskOrdering or Transfers "
                             f"(from verify.suite), got {claim!r}")
        for ref in refs:
            if ref not in names:
                raise SuiteError(f"claim {type(claim).__name__} names unknown condition {ref!r}; known: "
                                 f"{', '.join(names)}", needle=ref)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_published(claim, allowed: tuple[str, ...]) -> None:
    if claim.published is not None and claim.published not in allowed:
        raise SuiteError(f"claim {type(claim).__name__}: published must be one of {', '.join(allowed)} (the direction "
                         f"the cited paper reports) or None, got {claim.published!r}")


def _validate_claim(suite: Suite, claim) -> tuple[str, ...]:
    """The checks of the newer claim kinds that need no task resolved; returns the conditions named."""
    kind = type(claim).__name__
    top = suite.test_factor * suite.train_max
    if isinstance(claim, Extrapolates):
        if not _is_number(claim.threshold) or not 0 < claim.threshold <= 1:
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): threshold must be a number in (0, 1], "
                             f"got {claim.threshold!r}")
        band = claim.band
        if not isinstance(band, (tuple, list)) or len(band) != 2 or not all(_is_number(v) for v in band) \
                or not 1 <= band[0] < band[1] or band[1] > suite.test_factor:
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): band must be (lo, hi) factors of train_max with "
                             f"1 <= lo < hi <= test_factor ({suite.test_factor}), got {band!r}")
        if int(round(band[1] * suite.train_max)) <= int(round(band[0] * suite.train_max)):
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): band {band!r} holds no length at train_max "
                             f"{suite.train_max}; widen it")
        _check_published(claim, EXTRAPOLATION_DIRECTIONS)
        return (claim.condition,)
    if isinstance(claim, (Ordering, TaskOrdering)) and claim.metric not in METRICS:
        raise SuiteError(f"claim {kind}: unknown metric {claim.metric!r}; choose {', '.join(METRICS)}")
    if isinstance(claim, Ordering):
        if not isinstance(claim.conditions, (tuple, list)) or len(claim.conditions) < 2 \
                or len(set(claim.conditions)) != len(claim.conditions):
            raise SuiteError(f"claim Ordering: conditions must be a tuple of at least 2 distinct condition names, "
                             f"got {claim.conditions!r}")
        if claim.direction not in TREND_DIRECTIONS:
            raise SuiteError(f"claim Ordering: direction must be {' or '.join(TREND_DIRECTIONS)}, got {claim.direction!r}")
        _check_published(claim, TREND_DIRECTIONS)
        return tuple(claim.conditions)
    if isinstance(claim, TaskOrdering):
        plans = [p.task for p in suite.plans]
        if not isinstance(claim.tasks, (tuple, list)) or len(claim.tasks) < 2 or len(set(claim.tasks)) != len(claim.tasks):
            raise SuiteError(f"claim TaskOrdering({claim.condition!r}): tasks must be a tuple of at least 2 distinct "
                             f"tasks, got {claim.tasks!r}")
        for task in claim.tasks:
            if task not in plans:
                raise SuiteError(f"claim TaskOrdering({claim.condition!r}) names task {task!r}, which no plan trains; "
                                 f"planned: {', '.join(plans)}", needle=task)
        _check_published(claim, TREND_DIRECTIONS)
        return (claim.condition,)
    # Transfers
    if claim.main_condition == claim.with_aux_condition:
        raise SuiteError(f"claim Transfers({claim.main_condition!r}, {claim.with_aux_condition!r}) compares a condition "
                         "with itself")
    for ref in (claim.main_condition, claim.with_aux_condition):
        if ref not in suite.condition_names:
            raise SuiteError(f"claim Transfers names unknown condition {ref!r}; known: {', '.join(suite.condition_names)}",
                             needle=ref)
    if claim.band is not None:
        band = claim.band
        if not isinstance(band, (tuple, list)) or len(band) != 2 or not all(_is_int(v) for v in band) \
                or not suite.train_max <= band[0] < band[1] <= top:
            raise SuiteError(f"claim Transfers: band must be two integers (lo, hi) with train_max ({suite.train_max}) "
                             f"<= lo < hi <= test_factor·train_max ({top}); lengths lo+1..hi are judged, got {band!r}")
    if claim.aux is not None and claim.aux not in trained_sources(suite.conditions, claim.with_aux_condition):
        raise SuiteError(f"claim Transfers: aux {claim.aux!r} is not in the mixture of {claim.with_aux_condition!r}",
                         needle=claim.aux)
    transfer_aux_source(suite.conditions, claim)  # exactly one auxiliary, or a clear error
    _check_published(claim, TRANSFER_DIRECTIONS)
    return (claim.main_condition, claim.with_aux_condition)


# ------------------------------------------------------------------------------ the one spec builder

_DERIVATIONS: dict = {}


def _derivation(task, train_max: int, m: int, restriction_lengths: tuple[int, int]):
    key = (task.name, definition_digest(task), train_max, m, restriction_lengths)
    if key not in _DERIVATIONS:
        _DERIVATIONS[key] = derive(task, train_max, m=m, restriction_lengths=restriction_lengths)
    return _DERIVATIONS[key]


def resolve_item(item: Item, task, train_lengths: tuple[int, int], restriction_m: int,
                 restriction_lengths: tuple[int, int]) -> MixtureItem:
    """A suite's mixture item, resolved against its primary: kind, lengths, weight, token, digest."""
    if item.source in (RESTRICTION, f"{task.name}-{RESTRICTION}"):
        if item.token is not None and item.token != task.name:
            raise SuiteError(f"mixture item {item.source!r}: restrictions are sub-sequences of {task.name!r} "
                             f"instances and keep its task token; remove token={item.token!r}")
        lengths = item.lengths or restriction_lengths
        for n_value in lengths:
            task.check_length(n_value)
        return MixtureItem(RESTRICTION, RESTRICTION, tuple(lengths), float(item.weight or 1.0), task.name, "")
    if item.source.startswith(task.name + "-"):
        derivation = _derivation(task, train_lengths[1], restriction_m, restriction_lengths)
        aux = derivation.by_name(item.source)
        if aux.task is None:
            raise SuiteError(f"mixture item {item.source!r} is a restriction; write {RESTRICTION!r}")
        lengths = item.lengths or aux.lengths
        for n_value in lengths:
            aux.task.check_length(n_value)
        return MixtureItem(item.source, "derived", tuple(lengths), float(item.weight or aux.weight),
                           item.token or aux.token_name, definition_digest(aux.task))
    other = resolve_task(item.source)
    lengths = item.lengths or (max(train_lengths[0], other.min_length), train_lengths[1])
    for n_value in lengths:
        other.check_length(n_value)
    return MixtureItem(item.source, "task", tuple(lengths), float(item.weight or 1.0), item.token or other.name,
                       definition_digest(other))


def build_spec(task, task_ref: str, condition: Condition, seed: int, train_max: int, test_max: int, steps: int,
               position_scheme: str, *, layers: int, d_model: int, heads: int, eval_every: int,
               eval_instances: int, validation_instances: int = 256, data_seed: int | None = None,
               parent: RunSpec | None = None) -> RunSpec:
    """The one place a ``RunSpec`` is made: ``task`` is the resolved primary, ``task_ref`` how it is
    named (catalogue name or file path; workers resolve it again), ``parent`` the spec of the run
    this one finetunes from (``condition.init_from``'s run of the same seed)."""
    if (parent is None) != (condition.init_from is None):
        raise SuiteError(f"condition {condition.name!r}: a stage needs its parent run, and only a stage has one")
    lengths = run_lengths(task, train_max, test_max)
    mixture = tuple(resolve_item(item, task, lengths["train_lengths"], lengths["restriction_m"],
                                 lengths["restriction_lengths"]) for item in condition.mixture)
    if parent is not None and (parent.layers, parent.d_model, parent.heads, parent.position_scheme) != \
            (layers, d_model, heads, position_scheme):
        raise SuiteError(f"condition {condition.name!r} finetunes from {condition.init_from!r}, which has another "
                         "architecture; a stage keeps its parent's layers, d_model, heads and position scheme")
    return RunSpec(task=task_ref, condition=condition.name, seed=seed, **lengths, layers=layers, d_model=d_model,
                   heads=heads, position_scheme=position_scheme,
                   train=TrainConfig(steps=steps, eval_every=eval_every,
                                     data_seed=1000 + seed if data_seed is None else data_seed, model_seed=seed,
                                     max_position_offset=32 if position_scheme in ("learned", "coupled", "predicted") else 0),
                   mixture=mixture, init_from=parent, eval_instances=eval_instances,
                   validation_instances=validation_instances, task_digest=definition_digest(task))


# ------------------------------------------------------------------------------ loading suite files


def _line_of(path: Path, needle: str | None) -> str:
    """``file:line`` of the first line of ``path`` that mentions ``needle`` (quoted), else of ``SUITE =``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return str(path)
    if needle is not None:
        for quote in ("'", '"'):
            for i, line in enumerate(lines, 1):
                if f"{quote}{needle}{quote}" in line:
                    return f"{path}:{i}"
    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith("SUITE"):
            return f"{path}:{i}"
    return str(path)


def check_suite(suite: Suite, path: Path | None = None) -> None:
    """Resolve every task and mixture item and build every spec once: unknown tasks, impossible
    lengths and stages that cannot start raise ``SuiteError`` (with ``file:line`` for a file)."""
    for plan in suite.plans:
        try:
            task = resolve_task(plan.task)
        except TaskDefinitionError as err:
            raise _located(path, plan.task, f"unknown task in plan: {err}") from None
        if any(item.source in (RESTRICTION, f"{task.name}-{RESTRICTION}") for c in suite.conditions for item in c.mixture):
            from theory.structure import structure_profile

            profile = structure_profile(task)
            if not profile.bounded:
                raise _located(path, RESTRICTION, f"task {plan.task!r} has no restriction family: its support grows "
                                                  f"with n ({profile.sparsity()}); remove the restriction item or "
                                                  "choose a k-sparse task")
        for condition in suite.conditions:
            for item in condition.mixture:
                try:
                    lengths = run_lengths(task, suite.train_max, max(suite.test_lengths))
                    resolve_item(item, task, lengths["train_lengths"], lengths["restriction_m"],
                                 lengths["restriction_lengths"])
                except (TaskDefinitionError, SuiteError) as err:
                    raise _located(path, item.source, f"condition {condition.name!r}, task {plan.task!r}: {err}") from None
        try:
            task.check_length(suite.train_max)
        except TaskDefinitionError as err:
            raise _located(path, None, f"train_max = {suite.train_max}: {err}") from None
    try:
        suite.runs()
    except (TaskDefinitionError, SuiteError) as err:
        raise _located(path, None, str(err)) from None
    _check_claims(suite, path)


def _check_claims(suite: Suite, path: Path | None) -> None:
    """The claim checks that need resolved tasks: a sparsity ordering needs k-sparse tasks of
    different k; a transfer claim needs an auxiliary that resolves and a non-empty band."""
    from theory.structure import structure_profile

    from .claims import suite_claims

    for claim in suite.claims:
        if isinstance(claim, TaskOrdering):
            ks = {}
            for task in claim.tasks:
                profile = structure_profile(resolve_task(task))
                if not profile.bounded:
                    raise _located(path, task, f"claim TaskOrdering: task {task!r} has no sparsity k (its support grows "
                                               f"with n: {profile.sparsity()}); order k-sparse tasks only")
                ks[task] = profile.k
            if len(set(ks.values())) < 2:
                raise _located(path, claim.tasks[0], f"claim TaskOrdering: every task has the same k ({ks}); choose "
                                                     "tasks of different sparsity")
        elif isinstance(claim, Transfers):
            for plan in suite.plans:
                try:
                    aux, band = transfer_auxiliary(suite, resolve_task(plan.task), claim)
                except (TaskDefinitionError, SuiteError) as err:
                    raise _located(path, claim.with_aux_condition, f"claim Transfers, task {plan.task!r}: {err}") from None
                if band[1] <= band[0]:
                    raise _located(path, claim.with_aux_condition,
                                   f"claim Transfers, task {plan.task!r}: auxiliary {aux.name!r} trains only up to "
                                   f"length {band[1]}, not beyond train_max {suite.train_max}: there is no band to "
                                   "transfer into; train it longer (Item(..., lengths=(lo, hi))) or give band=(lo, hi)")
                if band[1] > max(suite.test_lengths):
                    raise _located(path, claim.with_aux_condition,
                                   f"claim Transfers, task {plan.task!r}: the band ends at {band[1]}, beyond the longest "
                                   f"test length {max(suite.test_lengths)}; raise test_factor or give band=(lo, hi)")
    names = [c.name for c in suite_claims(suite)]  # predictions.json keys claims by name
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _located(path, None, f"two claims have the same name ({'; '.join(twice)}); give one a label=...")


def _located(path: Path | None, needle: str | None, message: str) -> SuiteError:
    return SuiteError(f"{_line_of(path, needle)}: {message}" if path is not None else message)


def load_suite(name_or_path: str) -> Suite:
    """A committed suite by name (``verify/suites/NAME.py``) or the ``SUITE`` a user's file defines,
    checked (``check_suite``); every problem is one ``SuiteError`` line with the file and line."""
    committed = sorted(p.stem for p in SUITES_DIR.glob("*.py") if not p.stem.startswith("_"))
    path = Path(name_or_path)
    if path.suffix != ".py":
        if name_or_path not in committed:
            raise SuiteError(f"unknown suite {name_or_path!r}; available suites: {', '.join(committed)} "
                             "(or a path to a .py file defining SUITE = Suite(...))")
        path = SUITES_DIR / f"{name_or_path}.py"
    elif not path.is_file():
        raise SuiteError(f"no suite file at {path}; give a suite name ({', '.join(committed)}) or a .py file")
    try:  # the shared loader: time limit, exits and interrupts from the file, file:line messages
        namespace = run_user_file(path, "suite")
    except TaskDefinitionError as err:
        inner = err.__context__  # a problem about a name: point at the line that mentions it
        if isinstance(inner, SuiteError) and inner.needle:
            raise SuiteError(f"{_line_of(path, inner.needle)}: {inner}") from None
        raise SuiteError(str(err)) from None
    suite = namespace.get("SUITE")
    if not isinstance(suite, Suite):
        found = "nothing" if suite is None else type(suite).__name__
        raise SuiteError(f"{path}: SUITE is {found}; define SUITE = Suite(...) (from verify.suite import Suite)")
    if path.parent.resolve() != SUITES_DIR.resolve() and suite.name in committed:
        raise SuiteError(f"{_line_of(path, suite.name)}: suite name {suite.name!r} is taken by the committed suite "
                         f"(its report folder); choose another name")
    check_suite(suite, path)
    return suite


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.py") if not p.stem.startswith("_"))


def get_suite(name: str) -> Suite:
    """A committed suite or a suite file (kept for callers of the old registry)."""
    return load_suite(name)
