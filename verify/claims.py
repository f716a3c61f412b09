"""Claims and their verdicts, computed from stored measurements only.

A claim (``Claim``) states what theory predicts, names its source and the experiment it needs,
and fixes — before any training — the statistic and the rule that turns it into *supported*,
*refuted* or *inconclusive*.  Its prediction is computed from the task definitions alone and
stored (predictions.json) before the training it predicts; the verdict is computed from the
stored runs and that stored prediction.  The rules are code, so anyone can recompute a verdict.

Claims name the conditions they are about (``verify.suite.Beats``, ``BoundHolds``, ``Extrapolates``,
``Ordering``, ``TaskOrdering``, ``Transfers``); nothing here knows a condition label.  Runs are typed
(``verify.spec.StoredRun``).  Every kind is inconclusive where the runs it needs did not fit their
training range (validation exact match below the suite's ``fit_threshold`` for more than half the
seeds): a model that never learned the task is no evidence either way.  ``agreement_table`` sets the
verdicts that record an expectation beside the papers' published directions.
"""

from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from theory.bound import BOUND, c_sym, certified_length, error_bound, extrapolation_length
from auxtasks.derive import resolve_task
from auxtasks.relatedness import predict_transfer, relatedness
from theory.structure import crasp_check, structure_profile

from .spec import StoredRun
from .stats import bootstrap_difference_interval, permutation_test, rank_trend_test, t_interval, wilson_interval

ALPHA = 0.05  # one-sided level of the comparison tests
MIN_EFFECT = 0.02  # an improvement smaller than this (in OOD exact match) does not count
# A cell counts as restriction-consistent only if no restriction was answered differently from its
# full instance: a consistency of 0.99 at r(N) = 24 outputs already allows r·(1 − c) = 0.24 of error.
CONSISTENT = 1.0
MAX_VIOLATION_RATE = 0.05  # tolerated share of significant violations among consistent cells


HUANG_SOURCE = "Huang et al., A Formal Framework for Understanding Length Generalization (ICLR 2025)"
GOLOWICH_SOURCE = "Golowich et al., The Role of Sparsity for Length Generalization (ICML 2025)"
CAI_SOURCE = "Cai et al., Extrapolation by Association (NeurIPS 2025)"
AGK_SOURCE = "Awasthi, Gupta & Kumar (NeurIPS 2025)"
COUPLING_SOURCE = "Cho et al., Position Coupling (NeurIPS 2024); Golowich et al. (ICML 2025)"


@dataclass
class Verdict:
    claim: str
    statement: str
    source: str
    rule: str
    verdict: str  # supported | refuted | inconclusive
    statistic: str
    rows: list[dict] = field(default_factory=list)
    # for the agreement table (``agreement_table``): what the claim expected, what was observed, and
    # the direction the cited paper reports ("" where a claim kind does not record them)
    expected: str = ""
    outcome: str = ""
    published: str = ""
    differs: str = ""  # the claim's note on how this setting differs from the paper's
    published_source: str = ""  # the paper the published direction is from, where not ``source``


def length_rows(run: StoredRun, train_max: int) -> list[dict]:
    """Per-length measurements of a run with derived rates, intervals and bounds (with the raw counts)."""
    rows = []
    for m in run.measurements:
        n_inst, n_res = m.instances, m.restrictions
        err = 1 - m.exact / n_inst
        # no restrictions were measured where the support is unbounded: ε and c are undefined (NaN)
        eps = m.restriction_errors / n_res if n_res else float("nan")
        cons = m.consistent / n_res if n_res else float("nan")
        eps_hi = wilson_interval(m.restriction_errors, n_res)[1]
        inconsistency_hi = wilson_interval(n_res - m.consistent, n_res)[1]
        em_lo, em_hi = wilson_interval(m.exact, n_inst)
        rows.append({
            "length": m.length, "test": m.length > train_max, "outputs": m.outputs,
            "instances": m.instances, "exact": m.exact, "restrictions": m.restrictions,
            "restriction_errors": m.restriction_errors, "consistent": m.consistent,
            "exact_match": 1 - err, "exact_match_lo": em_lo, "exact_match_hi": em_hi,
            "error": err, "error_lo": 1 - em_hi, "token_accuracy": m.token_accuracy,
            "restriction_error": eps, "restriction_error_hi": eps_hi, "consistency": cons,
            "inconsistency_hi": inconsistency_hi,
            # where answers first go wrong (output index, median over the wrong instances; NaN if none)
            "first_error_median": m.first_error_median(),
            "first_error_counts": " ".join(map(str, m.first_errors)),
            "bound_assuming_consistency": error_bound(m.outputs, eps, 1.0),
            "bound_assuming_consistency_hi": error_bound(m.outputs, eps_hi, 1.0),
            "bound": error_bound(m.outputs, eps, cons),
        })
    return rows


def ood_exact_match(run: StoredRun, train_max: int) -> float:
    """The per-seed statistic of extrapolation: mean exact match over test lengths (> n); a failed
    run extrapolates nothing and counts 0 (counted, not dropped)."""
    return band_exact_match(run, (train_max, math.inf))


def lengths_summary(run: StoredRun, train_max: int, delta: float) -> dict:
    rows = length_rows(run, train_max) if run.ok else []
    lengths = [r["length"] for r in rows]
    return {
        "certified": certified_length(lengths, [r["bound"] for r in rows], delta),
        "certified_assuming_consistency": certified_length(lengths, [r["bound_assuming_consistency"] for r in rows], delta),
        "measured": extrapolation_length(lengths, [r["error"] for r in rows], delta),
    }


def fits_training_range(run: StoredRun, fit_threshold: float) -> bool:
    return run.ok and run.validation_exact >= fit_threshold


def mostly_fit(group: list[StoredRun], fit_threshold: float) -> bool:
    """At least half the seeds of ``group`` fit their training range (the claims' fitness rule)."""
    return sum(fits_training_range(r, fit_threshold) for r in group) * 2 >= len(group)


def directional_outcome(effect: float, upper: float, p_greater: float, p_less: float, threshold: float) -> str:
    """The rule every two-sided-evidence claim here uses: ``yes`` if ``effect`` >= ``threshold`` with
    one-sided p_greater <= ALPHA; ``no`` if the interval's ``upper`` end is < ``threshold`` or the
    effect is negative with the opposite p_less <= ALPHA; else ``unclear`` (NaN anywhere compares
    false, so a missing effect is unclear)."""
    if effect >= threshold and p_greater <= ALPHA:
        return "yes"
    if upper < threshold or (effect < 0 and p_less <= ALPHA):
        return "no"
    return "unclear"


def compare_seeds(a: list[float], b: list[float]) -> dict:
    """Per-seed values ``a`` (treated) against ``b`` (baseline): the difference of means, its 95%
    bootstrap CI, both one-sided exact permutation p-values, and the outcome by the comparison rule:
    ``better`` if the difference is >= MIN_EFFECT with p <= ALPHA; ``not better`` if the CI's upper end
    is < MIN_EFFECT or the opposite one-sided test has p <= ALPHA; else (or with < 2 seeds) ``unclear``."""
    nan = float("nan")
    diff = float(np.mean(a) - np.mean(b)) if a and b else nan
    few = min(len(a), len(b)) < 2  # a quick look with one seed: no spread, no test
    lo, hi = bootstrap_difference_interval(a, b) if not few else (nan, nan)
    p_greater = permutation_test(a, b, "greater") if not few else nan
    p_less = permutation_test(a, b, "less") if not few else nan
    outcome = "unclear" if few else {"yes": "better", "no": "not better", "unclear": "unclear"}[
        directional_outcome(diff, hi, p_greater, p_less, MIN_EFFECT)]
    return {"difference": diff, "lo": lo, "hi": hi, "p_greater": p_greater, "p_less": p_less, "few": few,
            "outcome": outcome}


def improves_extrapolation(task: str, baseline: list[StoredRun], treated: list[StoredRun], train_max: int,
                           fit_threshold: float, label: str | None = None, expected: str = "",
                           published: str = "", source: str = f"{AGK_SOURCE}, as formalised here") -> Verdict:
    """Does condition ``treated`` beat ``baseline`` on per-seed OOD exact match?  The condition
    names come from the runs themselves."""
    treated_name = treated[0].spec.condition if treated else "treated"
    baseline_name = baseline[0].spec.condition if baseline else "baseline"
    a = [ood_exact_match(r, train_max) for r in treated]
    b = [ood_exact_match(r, train_max) for r in baseline]
    c = compare_seeds(a, b)
    diff, lo, hi, p_greater, few = c["difference"], c["lo"], c["hi"], c["p_greater"], c["few"]
    # extrapolation means nothing for models that never learned the task at training lengths
    unfit = any(not mostly_fit(group, fit_threshold) for group in (treated, baseline))
    verdict = "inconclusive" if unfit or c["outcome"] == "unclear" else \
        {"better": "supported", "not better": "refuted"}[c["outcome"]]
    statistic = (f"mean OOD exact match {np.mean(a):.3f} ({treated_name}, {len(a)} seeds) vs {np.mean(b):.3f} "
                 f"({baseline_name}, {len(b)} seeds); difference {diff:+.3f}, 95% bootstrap CI [{lo:+.3f}, {hi:+.3f}]; "
                 f"one-sided exact permutation p = {p_greater:.3f}"
                 + ("; inconclusive: fewer than 2 seeds in a condition" if few else ""))
    return Verdict(
        claim=f"{task}: {label or beats_label(treated_name, baseline_name)}",
        statement=f"Training recipe {treated_name} raises exact match at lengths beyond the training range, "
                  f"compared with {baseline_name}.",
        source=source,
        rule=f"inconclusive if fewer than half the seeds of either condition fit the training range (validation "
             f"exact match >= {fit_threshold}); else supported if the difference is >= {MIN_EFFECT} and p <= {ALPHA}; "
             f"refuted if the CI's upper end is < {MIN_EFFECT} or the opposite one-sided test has p <= {ALPHA}; "
             "otherwise inconclusive. Statistic: per-seed mean exact match over test lengths; failed runs count as 0. "
             f"With {len(a)} vs {len(b)} seeds the smallest attainable p is 1/{math.comb(len(a) + len(b), len(a))} = "
             f"{1 / math.comb(len(a) + len(b), len(a)):.2g}: every treated seed must beat every baseline seed",
        verdict=verdict, statistic=statistic,
        rows=[{"condition": r.spec.condition, "seed": r.spec.seed, "ood_exact_match": v} for r, v in zip(treated, a)]
        + [{"condition": r.spec.condition, "seed": r.spec.seed, "ood_exact_match": v} for r, v in zip(baseline, b)],
        expected=expected, published=published,
        outcome={"better": "improvement", "not better": "none"}.get(c["outcome"], "unclear"),
    )


def beats_label(treated: str, baseline: str) -> str:
    return f"{treated} beats {baseline} on OOD exact match"


def bound_holds_where_consistent(runs: list[StoredRun], train_max: int, conditions: tuple[str, ...] = ()) -> Verdict:
    cells = violations = full_violations = all_cells = 0
    ratios = []
    for run in runs:
        if not run.ok:
            continue
        for row in length_rows(run, train_max):
            if not row["test"]:
                continue
            all_cells += 1
            # sanity check of the measurement: the full union bound (with the consistency term) can
            # only be exceeded by sampling noise or a bug
            if row["error_lo"] > min(1.0, row["bound_assuming_consistency_hi"] + row["outputs"] * row["inconsistency_hi"]):
                full_violations += 1  # (never true for unmeasured cells: their upper limits are 1)
            if not row["consistency"] >= CONSISTENT:  # NaN (not measured) is not consistent
                continue
            cells += 1
            # significant violation: even the error's lower limit exceeds the bound's upper limit
            if row["error_lo"] > row["bound_assuming_consistency_hi"]:
                violations += 1
            if row["error"] > 0:
                ratios.append(row["bound_assuming_consistency_hi"] / row["error"])
    if cells == 0:
        verdict = "inconclusive"
    elif violations <= MAX_VIOLATION_RATE * cells:
        verdict = "supported"
    else:
        verdict = "refuted"
    tight = f"; median r·ε(upper)/error {np.median(ratios):.2f} where the error is > 0" if ratios else ""
    statistic = (f"{cells} of {all_cells} (run, test length) cells restriction-consistent (c(N) = 1); "
                 f"{violations} significant violations{tight}; sanity check, full bound with the consistency "
                 f"term: {full_violations} of {all_cells} cells exceed it")
    return Verdict(
        claim=bound_claim_name(conditions),
        statement="Where a model answers every restriction as it answers the full instance, its length-N error is "
                  "at most r(N)·ε(N).",
        source="Awasthi, Gupta & Kumar (NeurIPS 2025), as formalised here (docs/theory.md §5)",
        rule=f"among test cells with c(N) = 1, a violation is a 95% Wilson lower limit of the error above "
             f"r(N)·(95% upper limit of ε(N)); supported if violations <= {MAX_VIOLATION_RATE:.0%} of cells, "
             "refuted otherwise, inconclusive if no cell is consistent. An inconsistency rate below about "
             "1/(restrictions measured) goes undetected and can still add up to r(N) times that rate",
        verdict=verdict, statistic=statistic,
    )


# ---------------------------------------------------------------------------- claim objects


@dataclass(frozen=True)
class Claim:
    """A claim a suite checks: what, from where, the prediction (from theory only), and its judge.

    ``predict()`` uses nothing but the task definitions, so it runs — and its result is stored —
    before any training.  ``judge(runs, prediction)`` turns the stored runs and the *stored*
    prediction into a ``Verdict`` by the rule fixed here.
    """

    name: str
    statement: str
    source: str
    experiment: str
    statistic: str
    predict: Callable[[], dict]
    judge: Callable[[list[StoredRun], dict], Verdict]
    task: str | None = None  # the task a per-task claim is about (None: the whole suite)
    differs: str = ""  # how the suite's setting differs from the cited paper's (shown where they disagree)
    published_source: str = ""  # the paper the published direction is from, where not ``source``

    def registration(self) -> dict:
        """What predictions.json records for this claim before training."""
        return {"statement": self.statement, "source": self.source, "experiment": self.experiment,
                "statistic": self.statistic, "prediction": self.predict()}


def comparison_claim(task: str, treated: str, baseline: str, train_max: int, fit_threshold: float,
                     adds_restriction: bool, label: str | None = None, published: str = "",
                     source: str | None = None) -> Claim:
    """``treated`` beats ``baseline`` on OOD exact match for ``task``.  Theory predicts it when the
    treated recipe adds the restriction family (AGK) and the task is k-sparse; any other
    comparison is the suite author's hypothesis, recorded as such."""
    name = f"{task}: {label or beats_label(treated, baseline)}"
    where = f"{source}, as formalised here" if source else (f"{AGK_SOURCE}, as formalised here" if adds_restriction
                                                            else "the suite's hypothesis")

    def predict() -> dict:
        if not adds_restriction:
            return {"expected": "improvement", "why": "the hypothesis under test (" + (source or "the suite's") +
                                                     "); no lengthgen theorem predicts it"}
        profile = structure_profile(resolve_task(task))
        if profile.bounded:
            return {"expected": "improvement", "why": f"k-sparse with k = {profile.k}: the AGK bound applies"}
        return {"expected": "none", "why": f"support grows with n ({profile.sparsity()}): the AGK bound does not apply"}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        mine = [r for r in runs if r.spec.task == task]
        verdict = improves_extrapolation(task, [r for r in mine if r.spec.condition == baseline],
                                         [r for r in mine if r.spec.condition == treated], train_max, fit_threshold,
                                         label, prediction["expected"], published, where)
        if prediction["expected"] != "improvement":
            verdict.verdict = "inconclusive"
            verdict.statistic += f"; theory predicted no improvement ({prediction['why']}), so there is nothing to confirm"
        return verdict

    return Claim(name, f"Training recipe {treated} raises exact match at lengths beyond the training range, compared "
                       f"with {baseline}.",
                 where,
                 f"{task}: {baseline} vs {treated}, every seed, evaluated at every length",
                 "per-seed mean exact match over test lengths; bootstrap CI of the difference; exact permutation test",
                 predict, judge, task)


def bound_claim_name(conditions: tuple[str, ...] = ()) -> str:
    return "the bound holds where the model is restriction-consistent" + (
        f" (conditions {', '.join(conditions)})" if conditions else "")


def bound_claim(tasks: tuple[str, ...], train_max: int, conditions: tuple[str, ...] = ()) -> Claim:
    """The AGK bound holds in the runs of ``conditions`` (empty: every run of the suite)."""
    def predict() -> dict:
        return {"expected": f"error(N) <= {BOUND.subs(c_sym, 1)} wherever c(N) = 1",
                "k": {task: structure_profile(resolve_task(task)).k for task in tasks}}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        chosen = [r for r in runs if not conditions or r.spec.condition in conditions]
        return bound_holds_where_consistent(chosen, train_max, conditions)

    return Claim(bound_claim_name(conditions),
                 "Where a model answers every restriction as it answers the full instance, its length-N error is at "
                 "most r(N)·ε(N).", "Awasthi, Gupta & Kumar (NeurIPS 2025), as formalised here (docs/theory.md §5)",
                 "every run of the suite, every test length: error, ε(N) and c(N) on the same instances",
                 "significant violations among consistent cells (95% Wilson limits)", predict, judge)


# ---------------------------------------------------------------------------- more claim kinds
# Extrapolates, Ordering, TaskOrdering and Transfers (``verify.suite``): each predicts from the task
# definitions alone, and its verdict is inconclusive whenever a group of runs it needs did not fit
# the training range (``mostly_fit``) — a model that never learned the task is no evidence either way.


def band_exact_match(run: StoredRun, band: tuple[int, int]) -> float:
    """Mean exact match of ``run`` over its measured lengths L with lo < L <= hi; a failed run
    counts 0 (as in ``ood_exact_match``); NaN where no measured length lies in the band."""
    if not run.ok:
        return 0.0
    values = [m.exact / m.instances for m in run.measurements if band[0] < m.length <= band[1]]
    return float(np.mean(values)) if values else float("nan")


def _seeds_text(runs: list[StoredRun], values: list[float]) -> str:
    return ", ".join(f"seed {r.spec.seed}: {v:.3f}" for r, v in zip(runs, values))


def extrapolates_verdict(name: str, runs: list[StoredRun], band: tuple[int, int], threshold: float,
                         fit_threshold: float, prediction: dict, published: str = "", predictor: str = "crasp") -> Verdict:
    """Do the runs of one condition keep exact match >= ``threshold`` over the length band?

    Outcome by the 95% t interval of the per-seed band means: ``extrapolates`` if its lower end is
    >= threshold, ``fails`` if its upper end is < threshold, else ``unclear``.  Verdict: supported if
    the outcome is the predicted one, refuted if it is the other, inconclusive if unclear, if fewer
    than 2 seeds, if fewer than half the seeds fit the training range, or if there is no prediction."""
    values = [band_exact_match(r, band) for r in runs]
    expected = prediction.get("expected", "unknown")
    lo, hi = t_interval(values, bounds=(0.0, 1.0)) if values else (float("nan"), float("nan"))
    if len(values) < 2 or any(np.isnan(values)):
        outcome = "unclear"
    elif lo >= threshold:
        outcome = "extrapolates"
    elif hi < threshold:
        outcome = "fails"
    else:
        outcome = "unclear"
    fit = mostly_fit(runs, fit_threshold) and bool(runs)
    verdict = ("inconclusive" if not fit or outcome == "unclear" or expected not in ("extrapolates", "fails")
               else "supported" if outcome == expected else "refuted")
    statistic = (f"mean exact match over lengths {band[0] + 1}..{band[1]}: {np.mean(values) if values else float('nan'):.3f}, "
                 f"95% t interval [{lo:.3f}, {hi:.3f}] over {len(values)} seeds ({_seeds_text(runs, values)}); "
                 f"outcome: {outcome}")
    if not fit:
        statistic += f"; inconclusive: fewer than half the seeds fit the training range (validation exact match >= {fit_threshold})"
    elif len(values) < 2:
        statistic += "; inconclusive: fewer than 2 seeds"
    test, source = PREDICTORS[predictor]
    return Verdict(
        claim=name, statement=f"Exact match stays >= {threshold} over lengths {band[0] + 1}..{band[1]} exactly when "
                              f"{test}.",
        source=f"{source}, as formalised here (docs/theory.md §6)",
        rule=f"per-seed mean exact match over the band (failed runs count as 0), 95% t interval over seeds: outcome "
             f"'extrapolates' if its lower end >= {threshold}, 'fails' if its upper end < {threshold}, else unclear; "
             "supported if the outcome is the predicted one, refuted if it is the other; inconclusive if unclear, with "
             f"fewer than 2 seeds, or if fewer than half the seeds fit the training range (validation exact match >= "
             f"{fit_threshold})",
        verdict=verdict, statistic=statistic,
        rows=[{"condition": r.spec.condition, "seed": r.spec.seed, "band_exact_match": v} for r, v in zip(runs, values)],
        expected=expected, outcome=outcome, published=published)


def coupling_prediction(task) -> dict:
    """Extrapolation under coupled positions, predicted from the structure: a positional coupling
    (every read at a fixed offset from the coupled id) and a bounded sparsity k (Golowich et al.'s
    sufficient condition; Cho et al. for addition)."""
    profile = structure_profile(task)
    coupled = profile.coupling.index is not None
    if coupled and profile.bounded:
        return {"expected": "extrapolates", "why": f"coupled ({profile.coupling.summary()}) and k-sparse ({profile.sparsity()})"}
    why = "no positional coupling" if not coupled else f"coupled but not k-sparse ({profile.sparsity()})"
    return {"expected": "fails", "why": why}


#: how an ``Extrapolates`` claim predicts: the test (as a phrase) and its source
PREDICTORS = {"crasp": ("the task passes the definition-level C-RASP test", HUANG_SOURCE),
              "coupling": ("the task has a positional coupling and a bounded sparsity k", COUPLING_SOURCE)}


def extrapolates_claim(task: str, condition: str, band_factors: tuple[float, float], threshold: float, train_max: int,
                       fit_threshold: float, published: str = "", label: str | None = None,
                       predictor: str = "crasp") -> Claim:
    """``condition`` extrapolates over (lo·n, hi·n] on ``task`` iff the task is in C-RASP (Huang et al.),
    or, with ``predictor="coupling"``, iff it is coupled and k-sparse (Cho et al.; Golowich et al.)."""
    band = (int(round(band_factors[0] * train_max)), int(round(band_factors[1] * train_max)))
    name = f"{task}: {label or f'{condition} extrapolates over lengths {band[0] + 1}..{band[1]}'}"
    test, source = PREDICTORS[predictor]

    def predict() -> dict:
        if predictor == "coupling":
            return coupling_prediction(resolve_task(task))
        check = crasp_check(resolve_task(task))
        if not check.analysed:
            return {"expected": "unknown", "why": "an opaque task: the C-RASP test cannot read it", "crasp_member": None}
        return {"expected": "extrapolates" if check.member else "fails", "crasp_member": check.member,
                "why": f"definition-level C-RASP test: {check.summary()}"}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        mine = [r for r in runs if r.spec.task == task and r.spec.condition == condition]
        return extrapolates_verdict(name, mine, band, threshold, fit_threshold, prediction, published, predictor)

    return Claim(name, f"{condition} keeps exact match >= {threshold} over lengths {band[0] + 1}..{band[1]} on {task} "
                       f"exactly when {test}.", f"{source}, as formalised here",
                 f"{task}: {condition}, every seed, evaluated at lengths {band[0] + 1}..{band[1]}",
                 "per-seed mean exact match over the band; 95% t interval over seeds", predict, judge, task)


def trend_outcome(xs: list[float], values: list[float]) -> dict:
    """A monotone trend of ``values`` in ``xs``: Spearman's rho with its exact two-sided permutation p
    (``rank_trend_test``) and the change of the mean from the smallest x to the largest.  Outcome:
    ``flat`` if nothing varies (no rank order); ``too small`` if p <= ALPHA but |change| < MIN_EFFECT
    (a significant order of differences too small to matter); ``increasing`` / ``decreasing`` if
    p <= ALPHA, by the sign of rho; otherwise ``unclear``.  Shared by the ordering claims and
    ``verify.theorems.sparsity_trend``."""
    rho, p = rank_trend_test(xs, values)
    # the p of a perfectly monotone series with these x (distinct values): the best this design can show
    p_min = rank_trend_test(xs, np.argsort(np.argsort(xs, kind="stable")))[1] if len(set(xs)) > 1 else float("nan")
    means = {x: float(np.mean([v for xx, v in zip(xs, values) if xx == x])) for x in xs}
    change = means[max(xs)] - means[min(xs)] if xs else float("nan")
    if np.isnan(rho):
        outcome = "flat"
    elif p <= ALPHA and abs(change) < MIN_EFFECT:
        outcome = "too small"
    elif p <= ALPHA:
        outcome = "increasing" if rho > 0 else "decreasing"
    else:
        outcome = "unclear"
    return {"rho": rho, "p": p, "p_min": p_min, "change": change, "means": means, "outcome": outcome}


def _trend_verdict(name: str, statement: str, source: str, groups: list[tuple[float, str, list[StoredRun]]],
                   values_of: Callable[[StoredRun], float], fit_threshold: float, prediction: dict,
                   published: str) -> Verdict:
    """``groups``: (x, label, runs) per point of the ordering; the verdict rule of both ordering claims."""
    xs, values, rows = [], [], []
    for x, label, group in groups:
        for r in group:
            v = values_of(r)
            xs.append(x)
            values.append(v)
            rows.append({"group": label, "x": x, "condition": r.spec.condition, "task": r.spec.task,
                         "seed": r.spec.seed, "value": v})
    expected = prediction.get("expected", "unknown")
    t = trend_outcome(xs, values) if xs else {"rho": float("nan"), "p": float("nan"), "p_min": float("nan"),
                                               "change": float("nan"), "means": {}, "outcome": "flat"}
    unfit = [label for _, label, group in groups if not group or not mostly_fit(group, fit_threshold)]
    opposite = {"increasing": "decreasing", "decreasing": "increasing"}.get(expected)
    if unfit or expected not in ("increasing", "decreasing"):
        verdict = "inconclusive"
    elif t["outcome"] == expected:
        verdict = "supported"
    elif t["outcome"] == opposite:
        verdict = "refuted"
    else:
        verdict = "inconclusive"
    means = "; ".join(f"{label} {t['means'].get(x, float('nan')):.3f}" for x, label, _ in groups)
    statistic = (f"mean per group: {means}; Spearman rho = {t['rho']:+.3f} over {len(values)} runs, exact permutation "
                 f"p = {t['p']:.3f} (two-sided); change of the mean from the lowest to the highest x {t['change']:+.3f}; "
                 f"outcome: {t['outcome']}")
    if t["p_min"] > ALPHA:
        statistic += (f"; this design cannot show a trend: even a perfect order gives p = {t['p_min']:.3f} > {ALPHA} "
                      "(add groups or seeds)")
    if t["outcome"] == "too small":
        statistic += f"; inconclusive because the change is below {MIN_EFFECT}"
    if unfit:
        statistic += (f"; inconclusive: fewer than half the seeds fit the training range in {', '.join(unfit)} "
                      f"(validation exact match >= {fit_threshold})")
    return Verdict(
        claim=name, statement=statement, source=source,
        rule=f"Spearman rho between the group's place and each run's value (failed runs count as 0), exact two-sided "
             f"permutation p; supported if p <= {ALPHA} with rho of the predicted sign and the mean changes by >= "
             f"{MIN_EFFECT} from the lowest to the highest x (place in the order, or k), refuted if p <= {ALPHA} with the opposite sign and such a change; "
             f"inconclusive otherwise, or if any group has fewer than half its seeds fitting the training range",
        verdict=verdict, statistic=statistic, rows=rows, expected=expected, outcome=t["outcome"], published=published)


def ordering_claim(task: str, conditions: tuple[str, ...], train_max: int, fit_threshold: float,
                   direction: str = "increasing", published: str = "", label: str | None = None) -> Claim:
    """OOD exact match on ``task`` changes monotonically along ``conditions`` (the suite's hypothesis)."""
    name = f"{task}: {label or 'OOD exact match ' + direction + ' along ' + ' < '.join(conditions)}"

    def predict() -> dict:
        return {"expected": direction, "why": "the suite's hypothesis; no theorem here predicts it"}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        groups = [(float(i), c, [r for r in runs if r.spec.task == task and r.spec.condition == c])
                  for i, c in enumerate(conditions)]
        return _trend_verdict(name, f"OOD exact match on {task} is {direction} along {', '.join(conditions)}.",
                              "the suite's hypothesis", groups, lambda r: ood_exact_match(r, train_max), fit_threshold,
                              prediction, published)

    return Claim(name, f"OOD exact match on {task} is {direction} along {', '.join(conditions)}.", "the suite's hypothesis",
                 f"{task}: conditions {', '.join(conditions)}, every seed", "Spearman rho with exact permutation p",
                 predict, judge, task)


def task_ordering_claim(condition: str, tasks: tuple[str, ...], train_max: int, fit_threshold: float,
                        published: str = "", label: str | None = None) -> Claim:
    """OOD exact match of ``condition`` falls as the tasks' sparsity k grows (Golowich et al.); k comes
    from each task's structure profile."""
    name = label or f"{condition}: OOD exact match falls with sparsity k across {', '.join(tasks)}"

    def predict() -> dict:
        ks = {task: structure_profile(resolve_task(task)).k for task in tasks}
        if len(set(ks.values())) < 2:
            return {"expected": "unknown", "why": f"every task has the same k ({ks}): no order to predict", "k": ks}
        return {"expected": "decreasing", "why": f"extrapolation degrades as k grows; k = {ks}", "k": ks}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        ks = prediction.get("k", {})
        groups = [(float(ks.get(task, i)), f"{task} (k = {ks.get(task, '?')})",
                   [r for r in runs if r.spec.task == task and r.spec.condition == condition])
                  for i, task in enumerate(tasks)]
        return _trend_verdict(name, f"Under {condition}, OOD exact match decreases as the sparsity k of the task grows.",
                              f"{GOLOWICH_SOURCE}, as formalised here", groups, lambda r: ood_exact_match(r, train_max),
                              fit_threshold, prediction, published)

    return Claim(name, f"Under {condition}, OOD exact match decreases as the sparsity k of the task grows.",
                 f"{GOLOWICH_SOURCE}, as formalised here", f"tasks {', '.join(tasks)} under {condition}, every seed",
                 "Spearman rho(k, OOD exact match) with exact permutation p", predict, judge)


def item_fits(run: StoredRun, source: str, fit_threshold: float) -> bool | None:
    """Did the run fit its auxiliary ``source`` on the auxiliary's own training lengths (mean exact
    match over them >= ``fit_threshold``)?  None where the run did not measure it (stored before
    auxiliaries were measured) or trains no such item."""
    item = next((m for m in run.spec.mixture if m.source == source), None)
    rows = run.item_measurements.get(source) if run.ok else None
    if item is None or not rows:
        return None if run.ok else False
    lo, hi = item.lengths
    inside = [exact / count for n, exact, count in rows if lo <= n <= hi and count]
    return bool(inside) and float(np.mean(inside)) >= fit_threshold


def transfers_verdict(name: str, alone: list[StoredRun], with_aux: list[StoredRun], band: tuple[int, int],
                      fit_threshold: float, prediction: dict, published: str = "", aux_source: str | None = None) -> Verdict:
    """Does training with the auxiliary raise the main task's exact match over ``band``?  Every seed,
    the median and the best are reported (the effect is seed-unstable); the verdict uses all seeds."""
    a = [band_exact_match(r, band) for r in with_aux]
    b = [band_exact_match(r, band) for r in alone]
    expected = prediction.get("expected", "unknown")
    if any(np.isnan(a + b)):
        c = {"difference": float("nan"), "lo": float("nan"), "hi": float("nan"), "p_greater": float("nan"),
             "outcome": "unclear"}
    else:
        c = compare_seeds(a, b)
    outcome = {"better": "transfer", "not better": "none", "unclear": "unclear"}[c["outcome"]]
    unfit = [g for g, runs in (("with the auxiliary", with_aux), ("alone", alone))
             if not runs or not mostly_fit(runs, fit_threshold)]
    # an auxiliary the model never learned on its own lengths cannot carry the main task there
    aux_fits = [item_fits(r, aux_source, fit_threshold) for r in with_aux] if aux_source else []
    measured = [f for f in aux_fits if f is not None]
    if measured and 2 * sum(measured) < len(with_aux):
        unfit.append(f"the auxiliary {aux_source} on its own training lengths: {sum(measured)} of {len(with_aux)} seeds")
    verdict = ("inconclusive" if unfit or outcome == "unclear" or expected not in ("transfer", "none")
               else "supported" if outcome == expected else "refuted")

    def spread(values):
        return (f"median {np.median(values):.3f}, best {max(values):.3f}" if values else "no runs")

    with_name = with_aux[0].spec.condition if with_aux else "with the auxiliary"
    alone_name = alone[0].spec.condition if alone else "alone"
    statistic = (f"exact match over lengths {band[0] + 1}..{band[1]}: {with_name} {_seeds_text(with_aux, a)} "
                 f"({spread(a)}); {alone_name} {_seeds_text(alone, b)} ({spread(b)}); difference of means "
                 f"{c['difference']:+.3f}, 95% bootstrap CI [{c['lo']:+.3f}, {c['hi']:+.3f}], one-sided exact "
                 f"permutation p = {c['p_greater']:.3f}; outcome: {outcome}")
    if unfit:
        statistic += (f"; inconclusive: fewer than half the seeds fit the training range ({', '.join(unfit)}; "
                      f"validation exact match >= {fit_threshold})")
    return Verdict(
        claim=name, statement="Training the main task with a related auxiliary trained longer carries the main task "
                              "toward the auxiliary's length; an unrelated auxiliary does not.",
        source=f"{CAI_SOURCE}, as formalised here (auxtasks.relatedness)",
        rule=f"per-seed mean exact match of the main task over the band (failed runs count as 0); outcome 'transfer' "
             f"if the mean difference (with - alone) is >= {MIN_EFFECT} with one-sided exact permutation p <= {ALPHA}, "
             f"'none' if the 95% bootstrap CI's upper end is < {MIN_EFFECT} or the opposite test has p <= {ALPHA}, else "
             "unclear; supported if the outcome is the predicted one, refuted if it is the other; inconclusive if "
             "unclear, with fewer than 2 seeds a side, or if either condition has fewer than half its seeds fitting "
             "(the main task at its training lengths; where measured, the auxiliary at its own)",
        verdict=verdict, statistic=statistic,
        rows=[{"condition": r.spec.condition, "seed": r.spec.seed, "band_exact_match": v} for r, v in zip(with_aux, a)]
        + [{"condition": r.spec.condition, "seed": r.spec.seed, "band_exact_match": v} for r, v in zip(alone, b)],
        expected=expected, outcome=outcome, published=published)


def transfers_claim(task: str, main_condition: str, with_aux_condition: str, aux_task, band: tuple[int, int],
                    fit_threshold: float, published: str = "", label: str | None = None) -> Claim:
    """``with_aux_condition`` carries ``task`` over ``band`` past ``main_condition`` iff ``aux_task``
    (the resolved auxiliary) is related (``auxtasks.relatedness.predict_transfer``)."""
    name = f"{task}: {label or f'{with_aux_condition} transfers over lengths {band[0] + 1}..{band[1]} vs {main_condition}'}"

    def predict() -> dict:
        main = resolve_task(task)
        related = relatedness(main, aux_task)  # the score behind predict_transfer, for the record
        if not related.analysed and related.declared is None:
            return {"expected": "unknown", "why": related.summary(), "auxiliary": aux_task.name}
        return {"expected": "transfer" if predict_transfer(main, aux_task) else "none", "why": related.summary(),
                "auxiliary": aux_task.name}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        mine = [r for r in runs if r.spec.task == task]
        return transfers_verdict(name, [r for r in mine if r.spec.condition == main_condition],
                                 [r for r in mine if r.spec.condition == with_aux_condition], band, fit_threshold,
                                 prediction, published, aux_task.name)

    return Claim(name, f"Training {task} with {aux_task.name} (trained to length {band[1]}) carries it to that length "
                       "if the two are related, and not otherwise.", f"{CAI_SOURCE}, as formalised here",
                 f"{task}: {main_condition} vs {with_aux_condition}, every seed, lengths {band[0] + 1}..{band[1]}",
                 "per-seed band exact match; bootstrap CI of the difference; exact permutation test; median and best",
                 predict, judge, task)


def agreement_table(verdicts: list[Verdict]) -> tuple[list[dict], dict]:
    """Rows (claim, source, published direction, prediction, verdict, statistic, agrees) for the
    verdicts that record an expectation, and the overall agreement.  ``agrees`` compares the observed
    outcome with the published direction where the suite recorded one, else with the prediction;
    it is None (not counted) where the verdict is inconclusive.  Summary: agreeing / judged, with a
    95% Wilson interval."""
    rows = []
    for v in verdicts:
        if not v.expected:
            continue
        reference = v.published or v.expected
        agrees = None if v.verdict == "inconclusive" else v.outcome == reference
        source = f"{v.published_source} (prediction: {v.source})" if v.published_source else v.source
        rows.append({"claim": v.claim, "source": source, "published": v.published or "—", "prediction": v.expected,
                     "verdict": v.verdict, "statistic": v.statistic, "agrees": agrees})
    judged = [r for r in rows if r["agrees"] is not None]
    k = sum(1 for r in judged if r["agrees"])
    lo, hi = wilson_interval(k, len(judged)) if judged else (float("nan"), float("nan"))
    return rows, {"agree": k, "judged": len(judged), "claims": len(rows),
                  "rate": k / len(judged) if judged else float("nan"), "lo": lo, "hi": hi}


def agreement_markdown(verdicts: list[Verdict]) -> list[str]:
    """The agreement table as markdown lines (empty when no verdict records an expectation)."""
    rows, summary = agreement_table(verdicts)
    if not rows:
        return []
    lines = ["## Agreement with the published claims", "",
             f"{summary['agree']} of {summary['judged']} judged claims agree with the published direction (or, where "
             f"none is recorded, the prediction): rate {summary['rate']:.2f}, 95% Wilson interval "
             f"[{summary['lo']:.2f}, {summary['hi']:.2f}]; {summary['claims'] - summary['judged']} of "
             f"{summary['claims']} inconclusive and not counted.", "",
             "| claim | source | published direction | prediction | verdict | statistic | agrees? |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        agrees = "—" if r["agrees"] is None else "yes" if r["agrees"] else "**no**"
        lines.append(f"| {r['claim']} | {r['source']} | {r['published']} | {r['prediction']} | **{r['verdict']}** | "
                     f"{r['statistic']} | {agrees} |")
    disagreements = [v for v in verdicts if v.differs and v.published and v.verdict != "inconclusive"
                     and v.outcome != v.published]
    if disagreements:
        lines += ["", "Where the outcome disagrees with the paper, what differs from the paper's setting (written in the "
                      "suite file before the runs):", ""]
        lines += [f"- *{v.claim}* (paper: {v.published}; here: {v.outcome}): {v.differs}." for v in disagreements]
    return lines + [""]


def suite_claims(suite, reports_dir=None) -> list[Claim]:
    """The claims a suite states (``suite.claims``): a ``Beats``, ``Extrapolates``, ``Ordering``,
    ``Transfers`` or ``RatioWindow`` per task, a ``BoundHolds``, ``TaskOrdering``, ``HeadReuse``,
    ``GapTracksReuse`` or ``AuxPredicts`` once.  ``reports_dir``: the folder holding the suites' report
    folders, where ``AuxPredicts.also_suites`` are read (None: that claim judges this suite's runs only)."""
    from .suite import (RESTRICTION, Beats, BoundHolds, Extrapolates, Ordering, TaskOrdering, claim_plans,
                        trained_sources, transfer_auxiliary)
    from .suite import AuxPredicts, GapTracksReuse, HeadReuse, RatioWindow, Transfers  # (transfer claims, issue 11)
    from .transfer_claims import transfer_claims  # (transfer claims, issue 11)

    claims = []
    for spec in suite.claims:
        before = len(claims)
        if isinstance(spec, Beats):
            adds = RESTRICTION in set(trained_sources(suite.conditions, spec.treated)) - set(
                trained_sources(suite.conditions, spec.baseline))
            claims += [comparison_claim(plan.task, spec.treated, spec.baseline, suite.train_max, suite.fit_threshold,
                                        adds, spec.label, spec.published or "", spec.source)
                       for plan in claim_plans(suite, spec)]
        elif isinstance(spec, BoundHolds):
            claims.append(bound_claim(tuple(plan.task for plan in suite.plans), suite.train_max, tuple(spec.conditions)))
        elif isinstance(spec, Extrapolates):
            claims += [extrapolates_claim(plan.task, spec.condition, tuple(spec.band), spec.threshold, suite.train_max,
                                          suite.fit_threshold, spec.published or "", spec.label, spec.predictor)
                       for plan in claim_plans(suite, spec)]
        elif isinstance(spec, Ordering):
            claims += [ordering_claim(plan.task, tuple(spec.conditions), suite.train_max, suite.fit_threshold,
                                      spec.direction, spec.published or "", spec.label) for plan in claim_plans(suite, spec)]
        elif isinstance(spec, TaskOrdering):
            claims.append(task_ordering_claim(spec.condition, tuple(spec.tasks), suite.train_max, suite.fit_threshold,
                                              spec.published or "", spec.label))
        elif isinstance(spec, Transfers):  # the auxiliary and its band are resolved per primary task
            for plan in claim_plans(suite, spec):
                aux, band = transfer_auxiliary(suite, resolve_task(plan.task), spec)
                claims.append(transfers_claim(plan.task, spec.main_condition, spec.with_aux_condition, aux, band,
                                              suite.fit_threshold, spec.published or "", spec.label))
        elif isinstance(spec, (HeadReuse, GapTracksReuse, RatioWindow, AuxPredicts)):  # (transfer claims, issue 11)
            claims += transfer_claims(spec, suite, reports_dir)  # RatioWindow: one pair per plan training its conditions
        else:
            raise TypeError(f"unknown claim spec {spec!r}")  # (suite validation refuses it first)
        claims[before:] = [dataclasses.replace(c, differs=getattr(spec, "differs", ""),
                                               published_source=(getattr(spec, "source", None) or "")
                                               if isinstance(spec, Extrapolates) else "")
                           for c in claims[before:]]
    return claims
