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

from .spec import HSA_MIXERS, PRECISIONS, MixtureItem, RunSpec, TrainConfig

from theory.task import definition_digest  # the run key hashes what the task *is*, not only its name

SUITES_DIR = Path(__file__).parent / "suites"
#: the values of ``RunSpec.position_scheme`` runs can train (``verify.model.POSITION_SCHEMES``; a test
#: checks they agree); kept here so loading a suite needs no torch
RUNNABLE_SCHEMES = ("none", "learned", "rope", "sinusoidal", "alibi", "coupled", "predicted")
#: the values of ``RunSpec.mixer`` (``verify.model.MIXERS``; a test checks they agree)
RUNNABLE_MIXERS = ("attention", "hsa", "recurrent", "recurrent+hsa")
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


def check_rule_prefix_fits(condition: str, rule_prefix: int, position_scheme: str | None, mixer: str,
                           parent: RunSpec | None = None) -> None:
    """What a rule prefix (``rule_prefix``: 0 / False for none) does not combine with, as a ``SuiteError``
    naming the condition: a parent stage with another setting (its vocabulary holds the rule tokens
    exactly when the parent's does), coupled ids, HSA's chunk-selection probe.  ``Condition``,
    ``build_spec`` and ``verify.run.build`` (specs made any other way) all ask here."""
    if parent is not None and parent.rule_prefix != rule_prefix:
        raise SuiteError(f"condition {condition!r} finetunes from {parent.condition!r}, which "
                         f"{'has' if parent.rule_prefix else 'has no'} rule prefix; a stage keeps its parent's "
                         f"vocabulary: give both the same rule_prefix", needle=condition)
    if not rule_prefix:
        return
    if position_scheme in ("coupled", "predicted"):
        raise SuiteError(f"condition {condition!r}: rule_prefix does not combine with position scheme "
                         f"{position_scheme!r} (coupled ids number the instance's tokens only); use rope, learned, "
                         "sinusoidal, alibi or none", needle=condition)
    if mixer in HSA_MIXERS:
        raise SuiteError(f"condition {condition!r}: rule_prefix does not combine with the {mixer} mixer (its "
                         "chunk-selection probe reads instance positions); use mixer='attention' or drop rule_prefix",
                         needle=condition)


@dataclass(frozen=True)
class Condition:
    """A named training recipe: the primary plus ``mixture``; ``init_from`` names the condition
    whose stored weights (same task, same seed) it finetunes from; ``steps`` overrides the
    suite's (or plan's) step count for this condition (a short finetuning stage);
    ``position_scheme`` overrides the plan's scheme (one task under two schemes, e.g. learned
    positions vs none)."""

    name: str
    mixture: tuple[Item, ...] = ()
    init_from: str | None = None
    steps: int | None = None
    why: str = ""
    position_scheme: str | None = None  # None: the plan's scheme
    seeds: tuple[int, ...] | None = None  # None: the plan's; else those of the plan's seeds listed here
    primary_weight: float = 1.0  # 0: a pretraining stage on the mixture alone (the primary held out)
    train_max: int | None = None  # None: the suite's n; else the primary trains at 1..train_max here
    #: the token mixer of every block (``verify.model.MIXERS``: attention, hsa, recurrent, recurrent+hsa)
    #: and, for HSA, its chunk size and the chunks each query selects (issue 13)
    mixer: str = "attention"
    chunk_size: int = 8
    top_k: int = 2
    #: every row (primary, mixture items, validation, measurement) carries its task's rule tokens after
    #: one shared ``rule`` token (``theory.serialize``; docs/design.md §13); symbolic tasks only, not
    #: with coupled ids or HSA's chunk-selection probe.  A stage keeps its parent's setting.
    rule_prefix: bool = False

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
        if self.seeds is not None and (not isinstance(self.seeds, (tuple, list)) or not self.seeds
                                       or not all(_is_int(s) and s >= 0 for s in self.seeds)):
            raise SuiteError(f"condition {self.name!r}: seeds must be a non-empty tuple of integers >= 0 or None, "
                             f"got {self.seeds!r}")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.mixer not in RUNNABLE_MIXERS:
            raise SuiteError(f"condition {self.name!r}: unknown mixer {self.mixer!r}; choose one of {', '.join(RUNNABLE_MIXERS)}")
        if not _is_int(self.chunk_size) or self.chunk_size < 1 or not _is_int(self.top_k) or self.top_k < 1:
            raise SuiteError(f"condition {self.name!r}: chunk_size and top_k must be integers >= 1, got "
                             f"{self.chunk_size!r}, {self.top_k!r}")
        if self.mixer == "recurrent" and self.position_scheme not in (None, "none"):
            raise SuiteError(f"condition {self.name!r}: the recurrent mixer reads order from its recurrence and takes "
                             f"no position scheme; set position_scheme='none' (got {self.position_scheme!r})")
        if self.train_max is not None and (not _is_int(self.train_max) or self.train_max < 1):
            raise SuiteError(f"condition {self.name!r}: train_max must be an integer >= 1 or None, got {self.train_max!r}")
        if isinstance(self.primary_weight, bool) or not isinstance(self.primary_weight, (int, float)) \
                or not 0 <= self.primary_weight <= 100:
            raise SuiteError(f"condition {self.name!r}: primary_weight must be a number in [0, 100], got "
                             f"{self.primary_weight!r}")
        if self.primary_weight == 0 and not any(item.source != RESTRICTION and not item.source.endswith("-" + RESTRICTION)
                                                for item in items):
            raise SuiteError(f"condition {self.name!r}: primary_weight 0 trains on the mixture alone; give it at least one "
                             "task to train on")
        if self.position_scheme is not None and self.position_scheme not in RUNNABLE_SCHEMES:
            raise SuiteError(f"condition {self.name!r}: unknown position scheme {self.position_scheme!r}; choose one of "
                             f"{', '.join(RUNNABLE_SCHEMES)} (or None for the plan's)")
        if not isinstance(self.rule_prefix, bool):
            raise SuiteError(f"condition {self.name!r}: rule_prefix must be True or False, got {self.rule_prefix!r}")
        check_rule_prefix_fits(self.name, self.rule_prefix, None, self.mixer)


@dataclass(frozen=True)
class Beats:
    """Claim: condition ``treated`` beats ``baseline`` on mean exact match beyond the training
    range, per task.  ``label`` names the claim (default: "TREATED beats BASELINE ...")."""

    treated: str
    baseline: str
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""
    tasks: tuple[str, ...] = ()  # the plans it is about (empty: every plan that trains both conditions)
    published: str | None = None  # "improvement" / "none": what the cited paper found (``source``)
    source: str | None = None  # the paper a comparison that adds no restriction family checks


@dataclass(frozen=True)
class BoundHolds:
    """Claim: the AGK bound holds where models are restriction-consistent, over the runs of
    ``conditions`` (empty: every condition of the suite)."""

    conditions: tuple[str, ...] = ()


#: the directions a claim may record as a paper's published one (``published=``), per claim kind
EXTRAPOLATION_DIRECTIONS = ("extrapolates", "fails")
TREND_DIRECTIONS = ("increasing", "decreasing")
TRANSFER_DIRECTIONS = ("transfer", "none")
COMPARISON_DIRECTIONS = ("improvement", "none")


@dataclass(frozen=True)
class Extrapolates:
    """Claim, per task: ``condition`` keeps exact match >= ``threshold`` over test lengths in
    (lo·n, hi·n] for ``band = (lo, hi)`` (factors of the training maximum n) exactly when the task
    passes the definition-level C-RASP test (Huang et al., ICLR 2025), or, with
    ``predictor="coupling"`` (for coupled position schemes), exactly when the task has a positional
    coupling and a bounded sparsity k (Cho et al. 2024; Golowich et al. 2025).  ``published``: the
    direction the cited paper reports for the task ("extrapolates" / "fails"), for the agreement table."""

    condition: str
    threshold: float = 0.9
    band: tuple[float, float] = (1.0, 2.0)
    published: str | None = None
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""
    tasks: tuple[str, ...] = ()  # the plans it is about (empty: every plan that trains the condition)
    predictor: str = "crasp"  # "crasp" (Huang et al.) or "coupling" (Cho et al.; Golowich et al.)
    #: the paper whose direction ``published`` records, where it is not the predictor's (e.g. Born a
    #: Transformer's retrieval logs, predicted by the C-RASP test)
    source: str | None = None


@dataclass(frozen=True)
class Ordering:
    """Claim, per task: OOD exact match changes monotonically (``direction``) along ``conditions``,
    tested by Spearman's rho with an exact permutation p (the suite's hypothesis)."""

    conditions: tuple[str, ...]
    metric: str = "ood_exact_match"
    direction: str = "increasing"
    published: str | None = None
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""
    tasks: tuple[str, ...] = ()  # the plans it is about (empty: every plan that trains all the conditions)


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
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""


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
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""
    tasks: tuple[str, ...] = ()  # the plans it is about (empty: every plan that trains both conditions)


@dataclass(frozen=True)
class HeadReuse:
    """Claim, over the whole suite (Cai et al., Appendix B): in runs of ``transfer_conditions`` (a main
    task trained with a related auxiliary) the mean-ablation maps of the main task and its auxiliary
    differ less than in runs of ``control_conditions`` (an unrelated auxiliary); maps are read at the
    chosen checkpoint at a length inside the transfer band (``StoredRun.head_maps``)."""

    transfer_conditions: tuple[str, ...]
    control_conditions: tuple[str, ...]
    published: str | None = "smaller"
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""


@dataclass(frozen=True)
class GapTracksReuse:
    """Claim, over the runs of ``conditions``: across the checkpoints of one run, a smaller map
    difference between main and auxiliary goes with a smaller generalization gap (Cai et al.,
    Appendix B; ``StoredRun.transfer_checkpoints``)."""

    conditions: tuple[str, ...]
    published: str | None = "positive"
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""


@dataclass(frozen=True)
class RatioWindow:
    """Claim, per task: along ``conditions`` (the same auxiliary ``aux`` trained at different lengths,
    one condition per aux/main length ratio, in any order) the generalization gap is smallest where
    the ratio lies in ``window`` (Cai et al., Figure 10: [0.5, 2]); the report also fits the "A+B"
    exponential-penalty model to the gaps (``verify.transfer.ratio_window_penalty_fit``)."""

    conditions: tuple[str, ...]
    aux: str
    window: tuple[float, float] = (0.5, 2.0)
    published: str | None = "inside"
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""


@dataclass(frozen=True)
class AuxPredicts:
    """Claim, over every run of the suite that trains an auxiliary longer than the primary (and the
    runs of the suites named in ``also_suites``, read from their report folders): the auxiliary's
    exact match beyond the primary's training range predicts the primary's exact match at the same
    lengths (rank correlation > 0) — the project's central question."""

    also_suites: tuple[str, ...] = ()
    published: str | None = None
    label: str | None = None
    #: how this setting differs from the cited paper's (scale, lengths, steps), written before the
    #: runs; the report prints it under every claim whose outcome disagrees with the paper
    differs: str = ""


ClaimSpec = (Beats | BoundHolds | Extrapolates | Ordering | TaskOrdering | Transfers | HeadReuse | GapTracksReuse
             | RatioWindow | AuxPredicts)
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
    n = suite.condition(claim.with_aux_condition).train_max or suite.train_max
    lengths = run_lengths(task, n, max(suite.test_lengths))
    mixed = resolve_item(item, task, lengths["train_lengths"], lengths["restriction_m"], lengths["restriction_lengths"])
    if mixed.kind == "derived":
        aux = _derivation(task, lengths["train_lengths"][1], lengths["restriction_m"],
                          lengths["restriction_lengths"]).by_name(source).task
    else:
        aux = resolve_task(source)
    band = tuple(claim.band) if claim.band is not None else (n, mixed.lengths[1])
    return aux, band


@dataclass(frozen=True)
class TaskPlan:
    """One task of a suite: its position scheme and why; optionally the conditions it trains (empty:
    all of the suite's) and its own budget and model size (None: the suite's), chosen per task on
    training-length validation (a task that does not fit its training range says nothing)."""

    task: str
    position_scheme: str
    why: str
    conditions: tuple[str, ...] = ()
    steps: int | None = None
    layers: int | None = None
    d_model: int | None = None
    heads: int | None = None
    section: str = ""  # a report heading this plan's section goes under (empty: the previous plan's)
    seeds: tuple[int, ...] | None = None  # None: the suite's (fewer for an expensive task, said in the suite file)
    test_factor: int | None = None  # None: the suite's (evaluate this task at lengths 1..test_factor·n)
    #: explicit test lengths instead of every length 1..test_factor·n (long-context sweeps: 64 × n
    #: at every length would cost more than the training)
    test_lengths: tuple[int, ...] | None = None

    def size(self, suite: "Suite") -> tuple[int, int, int]:
        """(layers, d_model, heads) this plan trains with."""
        return (self.layers or suite.layers, self.d_model or suite.d_model, self.heads or suite.heads)

    def trains(self, suite: "Suite", condition: str) -> bool:
        return not self.conditions or condition in self.conditions

    def seeds_in(self, suite: "Suite", condition: "Condition | None" = None) -> tuple[int, ...]:
        """The seeds this plan trains (under ``condition``, which may keep only some of them)."""
        seeds = tuple(self.seeds) if self.seeds is not None else suite.seeds
        if condition is not None and condition.seeds is not None:
            seeds = tuple(s for s in seeds if s in condition.seeds)
        return seeds

    def test_max(self, suite: "Suite") -> int:
        if self.test_lengths:
            return max(self.test_lengths)
        return (self.test_factor or suite.test_factor) * suite.train_max


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
    #: the report's "what this checks" paragraph (empty: the one for the suite's kind of claims)
    about: str = ""
    #: suites (report folders beside this one) whose stored runs with the same key are copied in
    #: instead of trained again (``verify.runner.copy_from_stores``; not with ``--fresh``)
    reuse_from: tuple[str, ...] = ()
    #: arithmetic of every run's training passes (``verify.spec.PRECISIONS``; ``TrainConfig.precision``)
    precision: str = "fp32"
    #: every run's training passes skip the batch's right padding (``TrainConfig.skip_padding``)
    skip_padding: bool = False
    #: quick-look overrides applied on the command line (``--seeds``, ``--steps``), as text
    overrides: tuple[str, ...] = field(default=())

    def __post_init__(self):
        _validate(self)

    @property
    def test_lengths(self) -> tuple[int, ...]:
        """The suite's own test lengths (a plan may evaluate further: ``TaskPlan.test_factor``)."""
        return tuple(range(1, self.test_factor * self.train_max + 1))

    @property
    def longest_test(self) -> int:
        """The longest length any plan is evaluated at."""
        return max(plan.test_max(self) for plan in self.plans)

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
            changes["plans"] = tuple(dataclasses.replace(p, seeds=None) for p in changes.get("plans", self.plans))
            changes["conditions"] = tuple(dataclasses.replace(c, seeds=None) for c in self.conditions)
            notes.append(f"seeds {','.join(map(str, seeds))} (suite: {','.join(map(str, self.seeds))})")
        if steps is not None:
            changes["steps"] = steps
            changes["conditions"] = tuple(dataclasses.replace(c, steps=None)
                                          for c in changes.get("conditions", self.conditions))
            changes["plans"] = tuple(dataclasses.replace(p, steps=None) for p in changes.get("plans", self.plans))
            notes.append(f"steps {steps} (suite: {self.steps})")
        if not changes:
            return self
        return dataclasses.replace(self, **changes, overrides=tuple(notes))

    def plan_conditions(self, plan: TaskPlan) -> list[Condition]:
        """The conditions ``plan`` trains, in the suite's order."""
        return [c for c in self.conditions if plan.trains(self, c.name)]

    def plans_training(self, *conditions: str) -> list[TaskPlan]:
        """The plans that train every one of ``conditions``."""
        return [p for p in self.plans if all(p.trains(self, c) for c in conditions)]

    def runs(self) -> list[RunSpec]:
        specs = []
        for plan in self.plans:
            task = resolve_task(plan.task)
            layers, d_model, heads = plan.size(self)
            built: dict[tuple[str, int], RunSpec] = {}
            for condition in self.stage_order():
                if not plan.trains(self, condition.name):
                    continue
                for seed in plan.seeds_in(self, condition):
                    parent = built[(condition.init_from, seed)] if condition.init_from else None
                    spec = build_spec(task, plan.task, condition, seed, condition.train_max or self.train_max,
                                      plan.test_max(self), condition.steps or plan.steps or self.steps,
                                      condition.position_scheme or plan.position_scheme,
                                      layers=layers, d_model=d_model, heads=heads,
                                      eval_every=self.eval_every, eval_instances=self.eval_instances, parent=parent,
                                      test_lengths=plan.test_lengths, precision=self.precision,
                                      skip_padding=self.skip_padding)
                    built[(condition.name, seed)] = spec
            # report order: the suite's condition order, seeds ascending
            specs += [built[(c.name, seed)] for c in self.plan_conditions(plan) for seed in plan.seeds_in(self, c)]
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
        raise SuiteError("a task appears in two plans; give each task one plan (a second position scheme is a "
                         "condition: Condition(name, position_scheme=...))")
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
    if suite.precision not in PRECISIONS:
        raise SuiteError(f"unknown precision {suite.precision!r}; choose one of {', '.join(PRECISIONS)}",
                         needle="precision=")
    if not isinstance(suite.skip_padding, bool):
        raise SuiteError(f"skip_padding must be True or False, got {suite.skip_padding!r}", needle="skip_padding=")
    if not isinstance(suite.about, str):
        raise SuiteError(f"about (the report's opening paragraph) must be a string, got {suite.about!r}")
    for plan in suite.plans:
        if not isinstance(plan.section, str):
            raise SuiteError(f"task {plan.task!r}: section (a report heading) must be a string, got {plan.section!r}")
    if isinstance(suite.reuse_from, (tuple, list)) and suite.name in suite.reuse_from:
        raise SuiteError(f"reuse_from names this suite itself ({suite.name!r}); name other suites' report folders")
    if not isinstance(suite.reuse_from, (tuple, list)) or not all(
            isinstance(r, str) and re.fullmatch(r"[A-Za-z0-9_\-.]+", r) and r != suite.name for r in suite.reuse_from):
        raise SuiteError(f"reuse_from must be a tuple of other suites' names (their report folders), got {suite.reuse_from!r}")
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
    for plan in suite.plans:
        _validate_plan(suite, plan, names)
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
            _check_published(claim, COMPARISON_DIRECTIONS)
            if claim.source is not None and (not isinstance(claim.source, str) or not claim.source.strip()):
                raise SuiteError(f"claim Beats({claim.treated!r}, {claim.baseline!r}): source must be a non-empty "
                                 f"string (the paper) or None, got {claim.source!r}")
        elif isinstance(claim, BoundHolds):
            refs = tuple(claim.conditions)
        elif isinstance(claim, (Extrapolates, Ordering, TaskOrdering, Transfers)):
            refs = _validate_claim(suite, claim)
        elif isinstance(claim, (HeadReuse, GapTracksReuse, RatioWindow, AuxPredicts)):
            refs = _validate_transfer_claim(suite, claim)
        else:
            raise SuiteError("claims must be Beats, BoundHolds, Extrapolates, Ordering, TaskOrdering, Transfers, "
                             f"HeadReuse, GapTracksReuse, RatioWindow or AuxPredicts (from verify.suite), got {claim!r}")
        for ref in refs:
            if ref not in names:
                raise SuiteError(f"claim {type(claim).__name__} names unknown condition {ref!r}; known: "
                                 f"{', '.join(names)}", needle=ref)
        if isinstance(claim, (Beats, Extrapolates, Ordering, Transfers)):
            _validate_claim_tasks(suite, claim)


def _validate_plan(suite: Suite, plan: TaskPlan, names: list[str]) -> None:
    if not isinstance(plan.conditions, (tuple, list)) or not all(isinstance(c, str) for c in plan.conditions):
        raise SuiteError(f"task {plan.task!r}: conditions must be a tuple of condition names, got {plan.conditions!r}")
    for ref in plan.conditions:
        if ref not in names:
            raise SuiteError(f"task {plan.task!r} trains unknown condition {ref!r}; known: {', '.join(names)}", needle=ref)
        parent = next(c for c in suite.conditions if c.name == ref).init_from
        if parent is not None and parent not in plan.conditions:
            raise SuiteError(f"task {plan.task!r} trains {ref!r}, which starts from {parent!r}; add {parent!r} to its "
                             "conditions", needle=ref)
    if plan.seeds is not None and (not isinstance(plan.seeds, (tuple, list)) or not plan.seeds
                                   or not all(_is_int(s) and s >= 0 for s in plan.seeds)
                                   or len(set(plan.seeds)) != len(plan.seeds)):
        raise SuiteError(f"task {plan.task!r}: seeds must be a non-empty tuple of distinct integers >= 0 or None, "
                         f"got {plan.seeds!r}")
    for c in suite.plan_conditions(plan):
        if c.mixer == "recurrent" and (c.position_scheme or plan.position_scheme) != "none":
            raise SuiteError(f"task {plan.task!r}, condition {c.name!r}: the recurrent mixer takes no position scheme, "
                             f"and the plan's is {plan.position_scheme!r}; give the condition position_scheme='none'",
                             needle=c.name)
        if not plan.seeds_in(suite, c):
            raise SuiteError(f"task {plan.task!r}, condition {c.name!r}: none of the plan's seeds is in the condition's "
                             f"seeds {c.seeds!r}", needle=c.name)
        if c.init_from is not None:
            parent = next(x for x in suite.conditions if x.name == c.init_from)
            orphans = set(plan.seeds_in(suite, c)) - set(plan.seeds_in(suite, parent))
            if orphans:
                raise SuiteError(f"task {plan.task!r}: condition {c.name!r} trains seeds {sorted(orphans)}, which its "
                                 f"parent {parent.name!r} does not; a stage's seeds must be among its parent's",
                                 needle=c.name)
    if plan.test_lengths is not None:
        if (not isinstance(plan.test_lengths, (tuple, list)) or not plan.test_lengths
                or not all(_is_int(n) and n >= 1 for n in plan.test_lengths)):
            raise SuiteError(f"task {plan.task!r}: test_lengths must be a non-empty tuple of integers >= 1 or None, "
                             f"got {plan.test_lengths!r}")
        if plan.test_factor is not None:
            raise SuiteError(f"task {plan.task!r}: give test_lengths or test_factor, not both")
        if max(plan.test_lengths) <= suite.train_max and any(c.train_max is None for c in suite.plan_conditions(plan)):
            raise SuiteError(f"task {plan.task!r}: test_lengths {tuple(plan.test_lengths)!r} hold no length beyond "
                             f"train_max ({suite.train_max}), so no claim could be judged; add longer lengths")
    for name in ("steps", "layers", "d_model", "heads", "test_factor"):
        value = getattr(plan, name)
        if value is not None and (not _is_int(value) or value < 1):
            raise SuiteError(f"task {plan.task!r}: {name} must be an integer >= 1 or None, got {value!r}")
    layers, d_model, heads = plan.size(suite)
    if d_model % heads:
        raise SuiteError(f"task {plan.task!r}: d_model ({d_model}) must be a multiple of heads ({heads})")


def claim_plans(suite: Suite, claim) -> list[TaskPlan]:
    """The plans a per-task claim is about: those named in ``claim.tasks`` (each must train the
    claim's conditions), else every plan that trains them."""
    refs = claim_conditions(claim)
    if claim.tasks:
        return [p for p in suite.plans if p.task in claim.tasks]
    return suite.plans_training(*refs)


def claim_conditions(claim) -> tuple[str, ...]:
    if isinstance(claim, Beats):
        return (claim.treated, claim.baseline)
    if isinstance(claim, Extrapolates):
        return (claim.condition,)
    if isinstance(claim, Ordering):
        return tuple(claim.conditions)
    return (claim.main_condition, claim.with_aux_condition)  # Transfers


PREDICTORS = ("crasp", "coupling")


def _validate_claim_tasks(suite: Suite, claim) -> None:
    kind = type(claim).__name__
    if not isinstance(claim.tasks, (tuple, list)) or not all(isinstance(t, str) for t in claim.tasks):
        raise SuiteError(f"claim {kind}: tasks must be a tuple of task names, got {claim.tasks!r}")
    refs = claim_conditions(claim)
    planned = {p.task: p for p in suite.plans}
    for task in claim.tasks:
        if task not in planned:
            raise SuiteError(f"claim {kind} names task {task!r}, which no plan trains; planned: {', '.join(planned)}",
                             needle=task)
        missing = [c for c in refs if not planned[task].trains(suite, c)]
        if missing:
            raise SuiteError(f"claim {kind} is about task {task!r}, whose plan does not train {', '.join(missing)}; add "
                             "them to its conditions", needle=task)
    if not claim_plans(suite, claim):
        raise SuiteError(f"claim {kind}: no plan trains {', '.join(refs)}; add them to a plan's conditions",
                         needle=refs[0])


def _names(value, what: str, at_least: int = 1) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)) or len(value) < at_least or not all(isinstance(v, str) for v in value) \
            or len(set(value)) != len(value):
        raise SuiteError(f"{what} must be a tuple of at least {at_least} distinct condition names, got {value!r}")
    return tuple(value)


def _validate_transfer_claim(suite: Suite, claim) -> tuple[str, ...]:
    """The checks of the head-reuse, ratio-window and aux-predicts claims; returns the conditions named."""
    kind = type(claim).__name__
    if isinstance(claim, HeadReuse):
        a = _names(claim.transfer_conditions, "claim HeadReuse: transfer_conditions")
        b = _names(claim.control_conditions, "claim HeadReuse: control_conditions")
        if set(a) & set(b):
            raise SuiteError(f"claim HeadReuse: a condition is both transfer and control: {sorted(set(a) & set(b))}")
        _check_published(claim, ("smaller", "none"))
        return a + b
    if isinstance(claim, GapTracksReuse):
        _check_published(claim, ("positive", "none"))
        return _names(claim.conditions, "claim GapTracksReuse: conditions")
    if isinstance(claim, RatioWindow):
        refs = _names(claim.conditions, "claim RatioWindow: conditions", at_least=3)
        if not isinstance(claim.aux, str) or not claim.aux:
            raise SuiteError(f"claim RatioWindow: aux must be the auxiliary's mixture source (a string such as "
                             f"'reverse'), got {claim.aux!r}")
        w = claim.window
        if not isinstance(w, (tuple, list)) or len(w) != 2 or not all(_is_number(v) for v in w) or not 0 < w[0] <= 1 <= w[1]:
            raise SuiteError(f"claim RatioWindow: window must be (lo, hi) with 0 < lo <= 1 <= hi, got {w!r}")
        for ref in refs:
            if ref in suite.condition_names and claim.aux not in trained_sources(suite.conditions, ref):
                raise SuiteError(f"claim RatioWindow: condition {ref!r} does not train the auxiliary {claim.aux!r}",
                                 needle=ref)
        _check_published(claim, ("inside", "none"))
        return refs
    # AuxPredicts
    if not isinstance(claim.also_suites, (tuple, list)) or not all(isinstance(s, str) for s in claim.also_suites):
        raise SuiteError(f"claim {kind}: also_suites must be a tuple of suite names, got {claim.also_suites!r}")
    _check_published(claim, ("positive", "none"))
    return ()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_published(claim, allowed: tuple[str, ...]) -> None:
    if claim.published is not None and claim.published not in allowed:
        raise SuiteError(f"claim {type(claim).__name__}: published must be one of {', '.join(allowed)} (the direction "
                         f"the cited paper reports) or None, got {claim.published!r}")


def _validate_claim(suite: Suite, claim) -> tuple[str, ...]:
    """The checks of the newer claim kinds that need no task resolved; returns the conditions named."""
    kind = type(claim).__name__
    top = suite.longest_test
    if isinstance(claim, Extrapolates):
        if not _is_number(claim.threshold) or not 0 < claim.threshold <= 1:
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): threshold must be a number in (0, 1], "
                             f"got {claim.threshold!r}")
        band = claim.band
        if not isinstance(band, (tuple, list)) or len(band) != 2 or not all(_is_number(v) for v in band) \
                or not 1 <= band[0] < band[1] or band[1] * suite.train_max > suite.longest_test:
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): band must be (lo, hi) factors of train_max with "
                             f"1 <= lo < hi <= test_factor ({suite.longest_test // suite.train_max}), got {band!r}")
        if int(round(band[1] * suite.train_max)) <= int(round(band[0] * suite.train_max)):
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): band {band!r} holds no length at train_max "
                             f"{suite.train_max}; widen it")
        _check_published(claim, EXTRAPOLATION_DIRECTIONS)
        if claim.source is not None and (not isinstance(claim.source, str) or not claim.source.strip()):
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): source must be a non-empty string (the paper) "
                             f"or None, got {claim.source!r}")
        if claim.predictor not in PREDICTORS:
            raise SuiteError(f"claim Extrapolates({claim.condition!r}): predictor must be one of {', '.join(PREDICTORS)}, "
                             f"got {claim.predictor!r}")
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
            if not next(p for p in suite.plans if p.task == task).trains(suite, claim.condition):
                raise SuiteError(f"claim TaskOrdering({claim.condition!r}) names task {task!r}, whose plan does not "
                                 f"train {claim.condition!r}", needle=task)
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
               parent: RunSpec | None = None, test_lengths: tuple[int, ...] | None = None,
               precision: str = "fp32", skip_padding: bool = False) -> RunSpec:
    """The one place a ``RunSpec`` is made: ``task`` is the resolved primary, ``task_ref`` how it is
    named (catalogue name or file path; workers resolve it again), ``parent`` the spec of the run
    this one finetunes from (``condition.init_from``'s run of the same seed)."""
    if (parent is None) != (condition.init_from is None):
        raise SuiteError(f"condition {condition.name!r}: a stage needs its parent run, and only a stage has one")
    lengths = run_lengths(task, train_max, test_max)
    if test_lengths:
        lengths["test_lengths"] = tuple(sorted(set(test_lengths)))
    mixture = tuple(resolve_item(item, task, lengths["train_lengths"], lengths["restriction_m"],
                                 lengths["restriction_lengths"]) for item in condition.mixture)
    if parent is not None and (parent.layers, parent.d_model, parent.heads, parent.position_scheme, parent.mixer) != \
            (layers, d_model, heads, position_scheme, condition.mixer):
        raise SuiteError(f"condition {condition.name!r} finetunes from {condition.init_from!r}, which has another "
                         "architecture; a stage keeps its parent's layers, d_model, heads, position scheme and mixer")
    rule_prefix = _rule_prefix(task, condition, position_scheme, mixture, lengths, parent)
    return RunSpec(task=task_ref, condition=condition.name, seed=seed, **lengths, layers=layers, d_model=d_model,
                   heads=heads, position_scheme=position_scheme,
                   train=TrainConfig(steps=steps, eval_every=eval_every,
                                     data_seed=1000 + seed if data_seed is None else data_seed, model_seed=seed,
                                     max_position_offset=32 if position_scheme in ("learned", "coupled", "predicted") else 0,
                                     precision=precision, skip_padding=skip_padding),
                   mixture=mixture, init_from=parent, eval_instances=eval_instances,
                   primary_weight=float(condition.primary_weight),
                   mixer=condition.mixer, chunk_size=condition.chunk_size, top_k=condition.top_k,
                   coupling_ids=_coupling_ids(task, position_scheme, train_max), rule_prefix=rule_prefix,
                   validation_instances=validation_instances, task_digest=definition_digest(task))


def _rule_prefix(task, condition: Condition, position_scheme: str, mixture: tuple[MixtureItem, ...], lengths: dict,
                 parent: RunSpec | None) -> int:
    """``RunSpec.rule_prefix`` of a condition: 0 without one, else the rule-token format, once every
    task the run serializes has rule tokens and the stage agrees with its parent (its vocabulary
    holds the rule tokens exactly when its parent's does)."""
    from theory.rule_tokens import RULE_FORMAT

    wanted = RULE_FORMAT if condition.rule_prefix else 0
    check_rule_prefix_fits(condition.name, wanted, position_scheme, condition.mixer, parent)
    if not wanted:
        return 0
    tasks = [task]
    for item in mixture:
        if item.kind == "derived":
            tasks.append(_derivation(task, lengths["train_lengths"][1], lengths["restriction_m"],
                                     lengths["restriction_lengths"]).by_name(item.source).task)
        elif item.kind == "task":
            tasks.append(resolve_task(item.source))
    check_rule_tokens(condition.name, tasks)
    return wanted


def check_rule_tokens(condition: str, tasks) -> None:
    """Every task a rule-prefix condition serializes has rule tokens, or a ``SuiteError`` naming the
    condition, the task and why (``build_spec`` for suites; ``verify.run.build`` for specs made any other way)."""
    from theory.rule_tokens import RuleTokenError, rule_tokens

    for task in tasks:
        try:
            rule_tokens(task)
        except RuleTokenError as err:
            raise SuiteError(f"condition {condition!r} has rule_prefix=True, but {err}; drop rule_prefix from the "
                             "condition or train only symbolic tasks in it", needle=condition) from None


def _coupling_ids(task, position_scheme: str, train_max: int) -> int:
    """``RunSpec.coupling_ids``: 2 where the separator fix changed this run's coupled ids."""
    if position_scheme not in ("coupled", "predicted"):
        return 1
    from theory.structure import separator_id

    return 2 if separator_id(task, train_max) != 0 else 1


# ------------------------------------------------------------------------------ loading suite files


def _line_of(path: Path, needle: str | None) -> str:
    """``file:line`` of the first line of ``path`` that mentions ``needle`` (quoted; a needle ending
    in ``=`` is a keyword argument: the line that starts with it), else of ``SUITE =``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return str(path)
    if needle is not None and needle.endswith("="):
        for i, line in enumerate(lines, 1):
            if line.lstrip().startswith(needle):
                return f"{path}:{i}"
    elif needle is not None:
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
        if any(item.source in (RESTRICTION, f"{task.name}-{RESTRICTION}") for c in suite.plan_conditions(plan)
               for item in c.mixture):
            from theory.structure import structure_profile

            profile = structure_profile(task)
            if not profile.bounded:
                raise _located(path, RESTRICTION, f"task {plan.task!r} has no restriction family: its support grows "
                                                  f"with n ({profile.sparsity()}); remove the restriction item or "
                                                  "choose a k-sparse task")
        for condition in suite.plan_conditions(plan):
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
        for n_value in plan.test_lengths or ():
            try:
                task.check_length(n_value)
            except TaskDefinitionError as err:
                raise _located(path, plan.task, f"task {plan.task!r}, test length {n_value}: {err}") from None
        for condition in suite.plan_conditions(plan):
            if condition.train_max is None:
                continue
            if condition.train_max >= plan.test_max(suite):
                raise _located(path, condition.name, f"condition {condition.name!r}: train_max {condition.train_max} leaves "
                                                     f"no test length beyond it (task {plan.task!r} is tested up to "
                                                     f"{plan.test_max(suite)}); lower it or raise test_factor")
            try:
                task.check_length(condition.train_max)
            except TaskDefinitionError as err:
                raise _located(path, condition.name, f"condition {condition.name!r}, train_max = "
                                                     f"{condition.train_max}: {err}") from None
    try:
        suite.runs()
    except (TaskDefinitionError, SuiteError) as err:  # a problem about a condition points at its line
        raise _located(path, getattr(err, "needle", None), str(err)) from None
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
            for plan in claim_plans(suite, claim):
                try:
                    aux, band = transfer_auxiliary(suite, resolve_task(plan.task), claim)
                except (TaskDefinitionError, SuiteError) as err:
                    raise _located(path, claim.with_aux_condition, f"claim Transfers, task {plan.task!r}: {err}") from None
                if band[1] <= band[0]:
                    raise _located(path, claim.with_aux_condition,
                                   f"claim Transfers, task {plan.task!r}: auxiliary {aux.name!r} trains only up to "
                                   f"length {band[1]}, not beyond train_max {suite.train_max}: there is no band to "
                                   "transfer into; train it longer (Item(..., lengths=(lo, hi))) or give band=(lo, hi)")
                if band[1] > plan.test_max(suite):
                    raise _located(path, claim.with_aux_condition,
                                   f"claim Transfers, task {plan.task!r}: the band ends at {band[1]}, beyond the longest "
                                   f"test length {plan.test_max(suite)}; raise test_factor or give band=(lo, hi)")
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
