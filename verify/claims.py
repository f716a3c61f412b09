"""Claims and their verdicts, computed from stored measurements only.

A claim (``Claim``) states what theory predicts, names its source and the experiment it needs,
and fixes — before any training — the statistic and the rule that turns it into *supported*,
*refuted* or *inconclusive*.  Its prediction is computed from the task definitions alone and
stored (predictions.json) before the training it predicts; the verdict is computed from the
stored runs and that stored prediction.  The rules are code, so anyone can recompute a verdict.

Claims name the conditions they are about (``verify.suite.Beats``, ``BoundHolds``); nothing here
knows a condition label.  Runs are typed (``verify.spec.StoredRun``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from theory.bound import BOUND, c_sym, certified_length, error_bound, extrapolation_length
from auxtasks.derive import resolve_task
from theory.structure import structure_profile

from .spec import StoredRun
from .stats import bootstrap_difference_interval, permutation_test, wilson_interval

ALPHA = 0.05  # one-sided level of the comparison tests
MIN_EFFECT = 0.02  # an improvement smaller than this (in OOD exact match) does not count
# A cell counts as restriction-consistent only if no restriction was answered differently from its
# full instance: a consistency of 0.99 at r(N) = 24 outputs already allows r·(1 − c) = 0.24 of error.
CONSISTENT = 1.0
MAX_VIOLATION_RATE = 0.05  # tolerated share of significant violations among consistent cells


@dataclass
class Verdict:
    claim: str
    statement: str
    source: str
    rule: str
    verdict: str  # supported | refuted | inconclusive
    statistic: str
    rows: list[dict] = field(default_factory=list)


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
    """The per-seed statistic of extrapolation: mean exact match over test lengths (> n)."""
    if not run.ok:
        return 0.0  # a failed run extrapolates nothing; it is counted, not dropped
    return float(np.mean([r["exact_match"] for r in length_rows(run, train_max) if r["test"]]))


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


def improves_extrapolation(task: str, baseline: list[StoredRun], treated: list[StoredRun], train_max: int,
                           fit_threshold: float, label: str | None = None) -> Verdict:
    """Does condition ``treated`` beat ``baseline`` on per-seed OOD exact match?  The condition
    names come from the runs themselves."""
    treated_name = treated[0].spec.condition if treated else "treated"
    baseline_name = baseline[0].spec.condition if baseline else "baseline"
    a = [ood_exact_match(r, train_max) for r in treated]
    b = [ood_exact_match(r, train_max) for r in baseline]
    diff = float(np.mean(a) - np.mean(b)) if a and b else float("nan")
    few = min(len(a), len(b)) < 2  # a quick look with one seed: no spread, no test
    lo, hi = bootstrap_difference_interval(a, b) if not few else (float("nan"), float("nan"))
    p_greater = permutation_test(a, b, "greater") if not few else float("nan")
    p_less = permutation_test(a, b, "less") if not few else float("nan")
    # extrapolation means nothing for models that never learned the task at training lengths
    unfit = any(sum(fits_training_range(r, fit_threshold) for r in group) * 2 < len(group) for group in (treated, baseline))
    if unfit or few:
        verdict = "inconclusive"
    elif diff >= MIN_EFFECT and p_greater <= ALPHA:
        verdict = "supported"
    elif hi < MIN_EFFECT or (diff < 0 and p_less <= ALPHA):
        verdict = "refuted"
    else:
        verdict = "inconclusive"
    statistic = (f"mean OOD exact match {np.mean(a):.3f} ({treated_name}, {len(a)} seeds) vs {np.mean(b):.3f} "
                 f"({baseline_name}, {len(b)} seeds); difference {diff:+.3f}, 95% bootstrap CI [{lo:+.3f}, {hi:+.3f}]; "
                 f"one-sided exact permutation p = {p_greater:.3f}"
                 + ("; inconclusive: fewer than 2 seeds in a condition" if few else ""))
    return Verdict(
        claim=f"{task}: {label or beats_label(treated_name, baseline_name)}",
        statement=f"Training recipe {treated_name} raises exact match at lengths beyond the training range, "
                  f"compared with {baseline_name}.",
        source="Awasthi, Gupta & Kumar (NeurIPS 2025), as formalised here",
        rule=f"inconclusive if fewer than half the seeds of either condition fit the training range (validation "
             f"exact match >= {fit_threshold}); else supported if the difference is >= {MIN_EFFECT} and p <= {ALPHA}; "
             f"refuted if the CI's upper end is < {MIN_EFFECT} or the opposite one-sided test has p <= {ALPHA}; "
             "otherwise inconclusive. Statistic: per-seed mean exact match over test lengths; failed runs count as 0. "
             "With 3 vs 3 seeds the smallest attainable p is 1/20 = 0.05: every treated seed must beat every baseline seed",
        verdict=verdict, statistic=statistic,
        rows=[{"condition": r.spec.condition, "seed": r.spec.seed, "ood_exact_match": v} for r, v in zip(treated, a)]
        + [{"condition": r.spec.condition, "seed": r.spec.seed, "ood_exact_match": v} for r, v in zip(baseline, b)],
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

    def registration(self) -> dict:
        """What predictions.json records for this claim before training."""
        return {"statement": self.statement, "source": self.source, "experiment": self.experiment,
                "statistic": self.statistic, "prediction": self.predict()}


def comparison_claim(task: str, treated: str, baseline: str, train_max: int, fit_threshold: float,
                     adds_restriction: bool, label: str | None = None) -> Claim:
    """``treated`` beats ``baseline`` on OOD exact match for ``task``.  Theory predicts it when the
    treated recipe adds the restriction family (AGK) and the task is k-sparse; any other
    comparison is the suite author's hypothesis, recorded as such."""
    name = f"{task}: {label or beats_label(treated, baseline)}"

    def predict() -> dict:
        if not adds_restriction:
            return {"expected": "improvement", "why": "the suite's hypothesis; no theorem here predicts it"}
        profile = structure_profile(resolve_task(task))
        if profile.bounded:
            return {"expected": "improvement", "why": f"k-sparse with k = {profile.k}: the AGK bound applies"}
        return {"expected": "none", "why": f"support grows with n ({profile.sparsity()}): the AGK bound does not apply"}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        mine = [r for r in runs if r.spec.task == task]
        verdict = improves_extrapolation(task, [r for r in mine if r.spec.condition == baseline],
                                         [r for r in mine if r.spec.condition == treated], train_max, fit_threshold,
                                         label)
        if prediction["expected"] != "improvement":
            verdict.verdict = "inconclusive"
            verdict.statistic += f"; theory predicted no improvement ({prediction['why']}), so there is nothing to confirm"
        return verdict

    return Claim(name, f"Training recipe {treated} raises exact match at lengths beyond the training range, compared "
                       f"with {baseline}.",
                 "Awasthi, Gupta & Kumar (NeurIPS 2025), as formalised here" if adds_restriction else "the suite's hypothesis",
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


def suite_claims(suite) -> list[Claim]:
    """The claims a suite states (``suite.claims``): a ``Beats`` per task, a ``BoundHolds`` once."""
    from .suite import RESTRICTION, Beats

    def kinds(condition: str) -> set[str]:  # the item sources a recipe trains on, stages included
        c = suite.condition(condition)
        own = {item.source for item in c.mixture}
        return own | (kinds(c.init_from) if c.init_from else set())

    claims = []
    for spec in suite.claims:
        if isinstance(spec, Beats):
            adds = RESTRICTION in kinds(spec.treated) - kinds(spec.baseline)
            claims += [comparison_claim(plan.task, spec.treated, spec.baseline, suite.train_max, suite.fit_threshold,
                                        adds, spec.label) for plan in suite.plans]
        else:
            claims.append(bound_claim(tuple(plan.task for plan in suite.plans), suite.train_max, tuple(spec.conditions)))
    return claims
