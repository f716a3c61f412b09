"""The extrapolation-by-association claims beyond ``Transfers`` (Cai et al., NeurIPS 2025; issue 11).

Builders for the claim specs ``verify.suite.HeadReuse``, ``GapTracksReuse``, ``RatioWindow`` and
``AuxPredicts``, in the style of ``verify.claims``: a ``Claim`` whose ``predict()`` reads the task
definitions only and whose ``judge(runs, prediction)`` turns stored runs into a ``Verdict`` by a rule
fixed here.  Every number comes from what a run stored (``StoredRun.measurements``,
``item_measurements``, ``head_maps``, ``transfer_checkpoints``); the metrics are
``verify.transfer``'s.  Runs stored before those fields existed make a claim inconclusive ("not
measured"), as do groups of runs that did not fit their training range (``mostly_fit``).

The per-run quantities the report also shows (``run_gap``, ``run_map_difference``,
``checkpoint_series``, ``aux_predicts_points``) are defined here once, so a plot and a verdict can
never disagree about what they are.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sstats

from auxtasks.derive import resolve_task
from auxtasks.relatedness import relatedness

from .claims import (ALPHA, CAI_SOURCE, MIN_EFFECT, Claim, Verdict, compare_seeds, directional_outcome,
                     fits_training_range, mostly_fit)
from .spec import MixtureItem, StoredRun
from .stats import MAX_EXACT, MONTE_CARLO_RESAMPLES, rank_trend_test, t_interval
from .transfer import (
    AIC_PREFERENCE,
    PenaltyFit,
    TransferInputError,
    gap_metric_correlation,
    generalization_gap,
    map_difference,
    ratio_window_penalty_fit,
    transfer_band,
)

SOURCE = f"{CAI_SOURCE}, as formalised here (verify.transfer)"
#: a rank correlation below this does not count as one: "none" when the 95% interval lies under it
MIN_RHO = 0.1
POSITIVE_OR_NONE = {"yes": "positive", "no": "none", "unclear": "unclear"}  # directional_outcome, as a correlation
BOOTSTRAP_RESAMPLES = 10_000
HYPOTHESIS = "the paper's hypothesis under test; no lengthgen theorem predicts it"
NAN = float("nan")

# ---------------------------------------------------------------------------- per-run quantities


def task_items(run: StoredRun) -> list[MixtureItem]:
    """The mixture items of a run that are tasks of their own (derived or plain; not restrictions)."""
    return [item for item in run.spec.mixture if item.kind != "restriction"]


def item_of(run: StoredRun, source: str) -> MixtureItem | None:
    return next((item for item in task_items(run) if item.source == source), None)


def main_curve(run: StoredRun) -> dict[int, float]:
    """Length -> the primary's exact match (fraction) at the chosen checkpoint."""
    return {m.length: m.exact / m.instances for m in run.measurements if m.instances}


def item_curve(run: StoredRun, source: str) -> dict[int, float]:
    """Length -> the item's exact match (fraction); empty where the run did not store it."""
    rows = run.item_measurements.get(source, ())
    return {int(length): exact / count for length, exact, count in rows if count}


def run_gap(run: StoredRun, source: str) -> float:
    """Cai et al.'s generalization gap of ``run`` between the primary and item ``source``
    (``verify.transfer.generalization_gap`` over ``transfer_band(n, A)``); NaN for a failed run, an
    item the run does not train or did not measure, or a band with no evaluated length."""
    item = item_of(run, source)
    if not run.ok or item is None:
        return NAN
    main, aux = main_curve(run), item_curve(run, source)
    lengths = sorted(set(main) & set(aux))
    if not lengths:
        return NAN
    try:
        return generalization_gap([main[n] for n in lengths], [aux[n] for n in lengths], lengths,
                                  transfer_band(run.spec.train_lengths[1], item.lengths[1]))
    except TransferInputError:
        return NAN


def ratio_of(run: StoredRun, source: str) -> float:
    """The item's training maximum over the primary's (A / n)."""
    item = item_of(run, source)
    return item.lengths[1] / run.spec.train_lengths[1] if item is not None else NAN


def primary_map(run: StoredRun):
    """The primary's head map: stored under the resolved task name, which for a task file is not
    ``spec.task`` (a path); it is then the one map that belongs to no item."""
    maps = run.head_maps
    if run.spec.task in maps:
        return maps[run.spec.task]
    others = [label for label in maps if label not in {i.source for i in task_items(run)}]
    return maps[others[0]] if len(others) == 1 else None


def item_map_differences(run: StoredRun) -> dict[str, float]:
    """Item source -> map difference between the primary's and the item's maps (chosen checkpoint)."""
    main = primary_map(run)
    maps = run.head_maps
    if main is None:
        return {}
    return {i.source: map_difference(main, maps[i.source]) for i in task_items(run) if i.source in maps}


def run_map_difference(run: StoredRun) -> float:
    """One value per run: the mean over its task items of their map difference with the primary
    (NaN where no map was stored)."""
    values = list(item_map_differences(run).values())
    return float(np.mean(values)) if values else NAN


@dataclass(frozen=True)
class CheckpointSeries:
    """One (run, item) over its validation checkpoints: step, map difference and gap at each, and
    Spearman's rho of the gap against the map difference with its one-sided exact p."""

    run: StoredRun
    source: str
    steps: tuple[int, ...]
    map_differences: tuple[float, ...]
    gaps: tuple[float, ...]
    rho: float
    p: float


#: up to this many checkpoints, ``checkpoint_correlation`` enumerates every ordering at once in numpy
#: (8! = 40,320, within ``verify.stats.MAX_EXACT``); ``rank_trend_test`` does the same enumeration in
#: Python, about half a second per 8-checkpoint run, minutes for a suite's report
FAST_EXACT_POINTS = 8
_ORDERINGS: dict[int, np.ndarray] = {}


def checkpoint_correlation(gaps, metrics) -> tuple[float, float]:
    """``verify.transfer.gap_metric_correlation`` (Spearman's rho of the metric against the gap with
    the one-sided exact permutation p), the same numbers computed faster for up to
    ``FAST_EXACT_POINTS`` points: every ordering of the metric's ranks is enumerated, so tied ranks
    count each distinct arrangement equally often, as ``rank_trend_test``'s enumeration does."""
    x, y = np.asarray(metrics, float), np.asarray(gaps, float)
    n = len(x)
    if n > FAST_EXACT_POINTS:
        return gap_metric_correlation(gaps, metrics)
    rank_x, rank_y = sstats.rankdata(x), sstats.rankdata(y)
    if n < 2 or np.ptp(rank_x) == 0 or np.ptp(rank_y) == 0:
        return NAN, NAN
    if n not in _ORDERINGS:
        _ORDERINGS[n] = np.array(list(itertools.permutations(range(n))))
    centred_x, centred_y = rank_x - rank_x.mean(), rank_y - rank_y.mean()
    scale = math.sqrt(float((centred_x ** 2).sum() * (centred_y ** 2).sum()))
    rho = float(centred_x @ centred_y / scale)
    null = centred_x[_ORDERINGS[n]] @ centred_y / scale
    return rho, float(np.mean(null >= rho - 1e-9))  # the tolerance rank_trend_test uses


def _checkpoint_gap(checkpoint, source: str, band: tuple[int, int]) -> float:
    item = checkpoint.items.get(source)
    if item is None:
        return NAN
    pairs = [(n, m, a) for n, m, a in zip(checkpoint.lengths, checkpoint.main, item.exact)
             if np.isfinite(m) and np.isfinite(a)]  # a NaN is a length the probe could not evaluate
    if not pairs:
        return NAN
    try:
        return generalization_gap([m for _, m, _ in pairs], [a for _, _, a in pairs], [n for n, _, _ in pairs], band)
    except TransferInputError:
        return NAN


def checkpoint_series(run: StoredRun) -> list[CheckpointSeries]:
    """Every task item's (map difference, gap) over the run's stored checkpoints (empty if none)."""
    out = []
    for item in task_items(run):
        band = transfer_band(run.spec.train_lengths[1], item.lengths[1])
        points = []
        for c in run.transfer_checkpoints:
            gap = _checkpoint_gap(c, item.source, band)
            metric = c.items[item.source].map_difference if item.source in c.items else NAN
            if np.isfinite(gap) and np.isfinite(metric):
                points.append((c.step, metric, gap))
        if not points:
            continue
        steps, metrics, gaps = zip(*points)
        rho, p = checkpoint_correlation(gaps, metrics)
        out.append(CheckpointSeries(run, item.source, steps, metrics, gaps, rho, p))
    return out


def run_rho(series: list[CheckpointSeries]) -> float:
    """One value per run: the mean rho over its items with a defined rho (NaN if none)."""
    rhos = [s.rho for s in series if np.isfinite(s.rho)]
    return float(np.mean(rhos)) if rhos else NAN


# ---------------------------------------------------------------------------- shared statistics


def sign_flip_test(values, alternative: str = "greater") -> float:
    """One-sample permutation p of mean(values) > 0 ("greater") or < 0 ("less"): every assignment of
    signs to the values is equally likely under the null of a symmetric distribution about 0.
    Exact (all 2^k assignments) up to ``MAX_EXACT``, else ``MONTE_CARLO_RESAMPLES`` with a fixed
    seed.  With k values the smallest attainable p is 1/2^k."""
    v = np.asarray(values, float)
    k = len(v)
    if k == 0:
        return NAN
    if 2 ** k <= MAX_EXACT:
        signs = ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1) * 2 - 1
    else:
        signs = np.random.default_rng(0).choice([-1, 1], size=(MONTE_CARLO_RESAMPLES, k))
    null = (signs * v).mean(axis=1)
    observed, eps = v.mean(), 1e-12
    hits = int(np.sum(null >= observed - eps) if alternative == "greater" else np.sum(null <= observed + eps))
    return hits / len(null) if 2 ** k <= MAX_EXACT else (hits + 1) / (len(null) + 1)


def bootstrap_rho_interval(x, y, confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                           seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman's rho, resampling (x, y) pairs with a fixed seed;
    resamples without a rank order (all ties) are left out."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if len(xs) < 3:
        return NAN, NAN
    idx = np.random.default_rng(seed).integers(0, len(xs), size=(resamples, len(xs)))
    rx, ry = sstats.rankdata(xs[idx], axis=1), sstats.rankdata(ys[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    scale = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (rx * ry).sum(axis=1) / scale
    rhos = rhos[np.isfinite(rhos)]
    if not len(rhos):
        return NAN, NAN
    alpha = (1 - confidence) / 2
    return float(np.quantile(rhos, alpha)), float(np.quantile(rhos, 1 - alpha))


def _verdict_of(outcome: str, expected: str, blocked: list[str]) -> str:
    """supported if the outcome is the expected one, refuted if it is "none" where something else was
    expected (or the other direction), inconclusive if blocked, unclear or nothing was expected."""
    if blocked or outcome == "unclear" or expected in ("", "unknown"):
        return "inconclusive"
    return "supported" if outcome == expected else "refuted"


def _not_measured(runs: list[StoredRun], has, what: str) -> str:
    missing = [r for r in runs if r.ok and not has(r)]
    if not missing:
        return ""
    return (f"not measured: {len(missing)} of {len(runs)} runs stored before {what} were stored "
            f"({', '.join(f'{r.spec.task}/{r.spec.condition}/seed {r.spec.seed}' for r in missing[:4])}"
            f"{', …' if len(missing) > 4 else ''}); re-run them")


def _seed_list(runs: list[StoredRun], values: list[float]) -> str:
    return ", ".join(f"seed {r.spec.seed}: {v:.3f}" for r, v in zip(runs, values))


# ---------------------------------------------------------------------------- predictions from definitions


def condition_auxiliaries(suite, condition: str) -> list[str]:
    """The task items (not restrictions) a condition trains, its stages' parents included."""
    from .suite import RESTRICTION, trained_sources

    return [s for s in trained_sources(suite.conditions, condition)
            if s != RESTRICTION and not s.endswith("-" + RESTRICTION)]


def resolved_auxiliary(suite, task: str, condition: str, source: str) -> tuple:
    """(the resolved auxiliary task, its training maximum A) of item ``source`` of ``condition`` for
    the primary ``task``, from the definitions alone (``verify.suite.transfer_auxiliary``, asked about
    that one item)."""
    from .suite import Transfers, transfer_auxiliary

    aux, band = transfer_auxiliary(suite, resolve_task(task), Transfers(condition, condition, aux=source))
    return aux, band[1]


def condition_train_max(suite, condition: str) -> int:
    """n of a condition: its own ``train_max`` where it sets one, else the suite's."""
    return suite.condition(condition).train_max or suite.train_max


def pair_predictions(suite, conditions: tuple[str, ...]) -> dict[str, dict]:
    """"task/condition/source" -> relatedness of each (primary, auxiliary) pair the conditions train."""
    out = {}
    for condition in conditions:
        for plan in suite.plans_training(condition):
            main = resolve_task(plan.task)
            for source in condition_auxiliaries(suite, condition):
                aux, _ = resolved_auxiliary(suite, plan.task, condition, source)
                r = relatedness(main, aux)
                related = None if not r.analysed and r.declared is None else r.predicts_transfer
                out[f"{plan.task}/{condition}/{source}"] = {"related": related, "why": r.summary()}
    return out


def grouping_agreement(pairs: dict[str, dict[str, dict]]) -> str:
    """Whether ``auxtasks.relatedness`` agrees with a claim's grouping ("transfer" pairs related,
    "control" pairs not), as text for the record; the grouping is the suite's (the paper's), not this."""
    wrong = [v["why"] for k, v in pairs.get("transfer", {}).items() if v["related"] is not True] + \
            [v["why"] for k, v in pairs.get("control", {}).items() if v["related"] is not False]
    if not wrong:
        return "the definitions agree with the grouping (auxtasks.relatedness)"
    return "the definitions disagree with the grouping for: " + "; ".join(wrong)


# ---------------------------------------------------------------------------- HeadReuse


def head_reuse_name(spec) -> str:
    return spec.label or (f"head reuse: main and auxiliary ablation maps differ less in "
                          f"{', '.join(spec.transfer_conditions)} than in {', '.join(spec.control_conditions)}")


def head_reuse_verdict(name: str, transfer: list[StoredRun], control: list[StoredRun], fit_threshold: float,
                       prediction: dict, published: str = "") -> Verdict:
    """Per-run map difference (mean over the run's task items) of transfer vs control runs."""
    expected = prediction.get("expected", "unknown")
    everything = transfer + control
    no_aux = sorted({r.spec.condition for r in everything if not task_items(r)})
    missing = _not_measured([r for r in everything if task_items(r)], lambda r: bool(item_map_differences(r)),
                            "head maps")
    ok_t = [r for r in transfer if r.ok and np.isfinite(run_map_difference(r))]
    ok_c = [r for r in control if r.ok and np.isfinite(run_map_difference(r))]
    a = [run_map_difference(r) for r in ok_c]  # the control is "treated": its difference should be larger
    b = [run_map_difference(r) for r in ok_t]
    c = compare_seeds(a, b) if a and b and not missing else {"difference": NAN, "lo": NAN, "hi": NAN,
                                                              "p_greater": NAN, "outcome": "unclear", "few": True}
    outcome = {"better": "smaller", "not better": "none"}.get(c["outcome"], "unclear")
    unfit = [g for g, runs in (("transfer", transfer), ("control", control)) if not runs or not mostly_fit(runs, fit_threshold)]
    blocked = [missing] if missing else []
    if no_aux:
        blocked.append(f"{', '.join(no_aux)} train no task auxiliary: there is no map to compare")
    if unfit:
        blocked.append(f"fewer than half the runs fit the training range in {', '.join(unfit)} (validation exact "
                       f"match >= {fit_threshold})")
    if expected not in ("smaller", "none"):
        blocked.append(f"nothing predicted ({prediction.get('why', 'no prediction')})")
    statistic = (f"map difference (mean |main − aux| over layers × heads, chosen checkpoint): transfer "
                 f"{np.mean(b) if b else NAN:.3f} ({_seed_list(ok_t, b) or 'no runs'}); control "
                 f"{np.mean(a) if a else NAN:.3f} ({_seed_list(ok_c, a) or 'no runs'}); control − transfer "
                 f"{c['difference']:+.3f}, 95% bootstrap CI [{c['lo']:+.3f}, {c['hi']:+.3f}], one-sided exact "
                 f"permutation p = {c['p_greater']:.3f}; outcome: {outcome}")
    if blocked:
        statistic += "; inconclusive: " + "; ".join(blocked)
    elif c.get("few"):
        statistic += "; inconclusive: fewer than 2 runs in a group"
    rows = [{"group": g, "task": r.spec.task, "condition": r.spec.condition, "seed": r.spec.seed,
             "map_difference": run_map_difference(r)} for g, runs in (("transfer", transfer), ("control", control))
            for r in runs]
    return Verdict(
        claim=name, statement="The main task and its auxiliary use the same attention heads (their mean-ablation maps "
                              "differ less) when the auxiliary is related than when it is not.",
        source=SOURCE,
        rule=f"per run, the mean over its task items of the map difference between the primary's and the item's "
             f"layers × heads mean-ablation maps at the chosen checkpoint (failed runs left out); outcome 'smaller' if "
             f"control − transfer is >= {MIN_EFFECT} with one-sided exact permutation p <= {ALPHA}, 'none' if the "
             f"95% bootstrap CI's upper end is < {MIN_EFFECT} or the opposite test has p <= {ALPHA}, else unclear; "
             "supported if the outcome is the predicted one, refuted if it is the other; inconclusive if unclear, "
             "with fewer than 2 runs a group, if a run lacks its maps (stored before they were measured), if fewer "
             "than half the runs of either group fit, or if the definitions do not predict the grouping",
        verdict=_verdict_of(outcome, expected, blocked), statistic=statistic, rows=rows, expected=expected,
        outcome=outcome, published=published)


def head_reuse_claim(spec, suite) -> Claim:
    """``HeadReuse``: maps differ less in ``transfer_conditions`` than in ``control_conditions``;
    predicted "smaller" when the definitions call every transfer pair related and every control pair
    unrelated (``auxtasks.relatedness``), else nothing is predicted."""
    name = head_reuse_name(spec)
    transfer, control = tuple(spec.transfer_conditions), tuple(spec.control_conditions)

    def predict() -> dict:
        pairs = {"transfer": pair_predictions(suite, transfer), "control": pair_predictions(suite, control)}
        return {"expected": spec.published or "smaller", "pairs": pairs,
                "why": f"Cai et al.'s grouping; that related pairs reuse heads is {HYPOTHESIS}; "
                       + grouping_agreement(pairs)}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        return head_reuse_verdict(name, [r for r in runs if r.spec.condition in transfer],
                                  [r for r in runs if r.spec.condition in control], suite.fit_threshold, prediction,
                                  spec.published or "")

    return Claim(name, "The main task and its auxiliary use the same attention heads when the auxiliary is related.",
                 SOURCE, f"runs of {', '.join(transfer)} (transfer) vs {', '.join(control)} (control), every seed; "
                         "mean-ablation maps at a length inside the transfer band",
                 "per-run map difference; bootstrap CI of the difference; exact permutation test", predict, judge)


# ---------------------------------------------------------------------------- GapTracksReuse


def gap_tracks_name(spec) -> str:
    return spec.label or f"the generalization gap tracks head reuse across checkpoints ({', '.join(spec.conditions)})"


def gap_tracks_verdict(name: str, runs: list[StoredRun], fit_threshold: float, prediction: dict,
                       published: str = "") -> Verdict:
    """Per run, Spearman's rho of the gap against the map difference over its checkpoints; the mean
    rho over runs, tested against 0 by an exact sign-flip test."""
    expected = prediction.get("expected", "unknown")
    missing = _not_measured(runs, lambda r: bool(r.transfer_checkpoints), "transfer checkpoints")
    series = {r.key: checkpoint_series(r) for r in runs if r.ok}
    judged = [r for r in runs if r.ok and np.isfinite(run_rho(series[r.key]))]
    rhos = [run_rho(series[r.key]) for r in judged]
    k = len(rhos)
    p_greater = sign_flip_test(rhos, "greater") if k else NAN
    p_less = sign_flip_test(rhos, "less") if k else NAN
    mean = float(np.mean(rhos)) if rhos else NAN
    lo, hi = t_interval(rhos, bounds=(-1.0, 1.0)) if k >= 2 else (NAN, NAN)
    outcome = "unclear" if k < 2 or missing else POSITIVE_OR_NONE[
        directional_outcome(mean, hi, p_greater, p_less, MIN_RHO)]
    blocked = [missing] if missing else []
    if not runs or not mostly_fit(runs, fit_threshold):
        blocked.append(f"fewer than half the runs fit the training range (validation exact match >= {fit_threshold})")
    statistic = (f"per-run Spearman rho (gap vs map difference over checkpoints; mean over a run's items): "
                 f"{', '.join(f'{r.spec.condition}/seed {r.spec.seed}: {v:+.2f}' for r, v in zip(judged, rhos)) or 'none'}; "
                 f"mean {mean:+.3f} over {k} runs, 95% t interval [{lo:+.3f}, {hi:+.3f}], one-sided exact sign-flip "
                 f"p = {p_greater:.3f}; outcome: {outcome}")
    if k and 0.5 ** k > ALPHA:
        statistic += f"; with {k} runs even all rho > 0 gives p = {0.5 ** k:.3f} > {ALPHA} (add seeds)"
    if blocked:
        statistic += "; inconclusive: " + "; ".join(blocked)
    elif k < 2:
        statistic += "; inconclusive: fewer than 2 runs with a rank order over checkpoints"
    rows = [{"task": s.run.spec.task, "condition": s.run.spec.condition, "seed": s.run.spec.seed, "item": s.source,
             "checkpoints": len(s.steps), "rho": s.rho, "p": s.p} for r in runs if r.ok for s in series[r.key]]
    return Verdict(
        claim=name, statement="Across the checkpoints of a run, a smaller map difference between the main task and "
                              "its auxiliary goes with a smaller generalization gap.",
        source=SOURCE,
        rule=f"per (run, task item), Spearman's rho between the map difference and the gap over (n, A] at every "
             f"validation checkpoint; per run the mean over its items; outcome 'positive' if the mean over runs is "
             f">= {MIN_RHO} with a one-sided exact sign-flip p <= {ALPHA}, 'none' if the 95% t interval's upper end "
             f"is < {MIN_RHO} or the mean is negative with the opposite p <= {ALPHA}, else unclear; supported if "
             "the outcome is the predicted one, refuted if it is the other; inconclusive if unclear, with fewer "
             "than 2 runs with a rho, if a run lacks its checkpoints (stored before they were measured), or if "
             "fewer than half the runs fit the training range",
        verdict=_verdict_of(outcome, expected, blocked), statistic=statistic, rows=rows, expected=expected,
        outcome=outcome, published=published)


def gap_tracks_reuse_claim(spec, suite) -> Claim:
    """``GapTracksReuse``: over the runs of ``spec.conditions``, gap and map difference go together
    across checkpoints — or, for a claim about controls (``published="none"``), they do not: the
    paper's direction is the expectation (no lengthgen theorem predicts either)."""
    name = gap_tracks_name(spec)
    conditions = tuple(spec.conditions)

    def predict() -> dict:
        # the paper's direction: tracking for its transfer groups, none for its controls (``published``)
        expected = spec.published or "positive"
        pairs = {"transfer" if expected == "positive" else "control": pair_predictions(suite, conditions)}
        return {"expected": expected, "pairs": pairs,
                "why": f"Cai et al., Appendix B ({'transfer groups' if expected == 'positive' else 'control pairs'}); "
                       f"{HYPOTHESIS}; {grouping_agreement(pairs)}"}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        return gap_tracks_verdict(name, [r for r in runs if r.spec.condition in conditions], suite.fit_threshold,
                                  prediction, spec.published or "")

    return Claim(name, "Across checkpoints, a smaller map difference goes with a smaller generalization gap.", SOURCE,
                 f"runs of {', '.join(conditions)}, every seed, every validation checkpoint",
                 "per-run Spearman rho over checkpoints; exact sign-flip test of their mean", predict, judge)


# ---------------------------------------------------------------------------- RatioWindow


def ratio_window_names(task: str, spec) -> tuple[str, str]:
    lo, hi = spec.window
    window = spec.label or f"generalization gap smallest for {spec.aux}/main length ratios in [{lo:g}, {hi:g}]"
    penalty = (f"{spec.label} (penalty model)" if spec.label
               else f"the exponential-penalty model fits the {spec.aux} gaps better than a constant")
    return f"{task}: {window}", f"{task}: {penalty}"


@dataclass(frozen=True)
class RatioPoint:
    """One condition of a ratio sweep: its ratio A/n and each run's gap."""

    condition: str
    ratio: float
    runs: tuple[StoredRun, ...]
    gaps: tuple[float, ...]  # NaN: a failed run (no gap), left out of every mean

    @property
    def mean(self) -> float:
        finite = [g for g in self.gaps if np.isfinite(g)]
        return float(np.mean(finite)) if finite else NAN


def ratio_points(runs: list[StoredRun], task: str, conditions: tuple[str, ...], aux: str) -> list[RatioPoint]:
    """The sweep's conditions with their runs of ``task``, sorted by ratio; conditions without runs left out."""
    points = []
    for condition in conditions:
        group = [r for r in runs if r.spec.task == task and r.spec.condition == condition]
        if not group:
            continue
        points.append(RatioPoint(condition, ratio_of(group[0], aux), tuple(group), tuple(run_gap(r, aux) for r in group)))
    return sorted(points, key=lambda p: p.ratio)


def _sweep_problems(points: list[RatioPoint], conditions: tuple[str, ...], aux: str, fit_threshold: float) -> list[str]:
    runs = [r for p in points for r in p.runs]
    problems = []
    missing = _not_measured(runs, lambda r: bool(item_curve(r, aux)), f"{aux}'s exact match per length")
    if missing:
        problems.append(missing)
    absent = [c for c in conditions if c not in {p.condition for p in points}]
    if absent:
        problems.append(f"no runs of {', '.join(absent)}")
    unfit = [p.condition for p in points if not mostly_fit(list(p.runs), fit_threshold)]
    if unfit:
        problems.append(f"fewer than half the seeds fit the training range in {', '.join(unfit)} (validation exact "
                        f"match >= {fit_threshold})")
    return problems


def ratio_window_verdict(name: str, points: list[RatioPoint], window: tuple[float, float], problems: list[str],
                         prediction: dict, published: str = "") -> Verdict:
    """Per-seed gaps of the conditions whose ratio lies in ``window`` against the others'."""
    expected = prediction.get("expected", "unknown")
    lo, hi = window
    swept = [p for p in points if p.ratio != 1]  # ratio 1: no band, the gap is 0 by construction
    inside = [(r, g) for p in swept if lo <= p.ratio <= hi for r, g in zip(p.runs, p.gaps) if np.isfinite(g)]
    outside = [(r, g) for p in swept if not lo <= p.ratio <= hi for r, g in zip(p.runs, p.gaps) if np.isfinite(g)]
    a, b = [g for _, g in outside], [g for _, g in inside]
    c = compare_seeds(a, b) if a and b else {"difference": NAN, "lo": NAN, "hi": NAN, "p_greater": NAN,
                                             "outcome": "unclear", "few": True}
    outcome = {"better": "inside", "not better": "none"}.get(c["outcome"], "unclear")
    blocked = list(problems)
    if not a or not b:
        blocked.append("the sweep needs conditions both inside and outside the window (ratio 1 excluded)")
    per_condition = "; ".join(f"{p.condition} (ratio {p.ratio:g}) {p.mean:.3f}" for p in points)
    statistic = (f"mean gap per condition: {per_condition}; inside [{lo:g}, {hi:g}] {np.mean(b) if b else NAN:.3f} "
                 f"({len(b)} runs) vs outside {np.mean(a) if a else NAN:.3f} ({len(a)} runs); outside − inside "
                 f"{c['difference']:+.3f}, 95% bootstrap CI [{c['lo']:+.3f}, {c['hi']:+.3f}], one-sided exact "
                 f"permutation p = {c['p_greater']:.3f}; outcome: {outcome}")
    failed = sum(1 for p in points for g in p.gaps if not np.isfinite(g))
    if failed:
        statistic += f"; {failed} runs without a gap (failed or band not evaluated) left out"
    if any(p.ratio == 1 for p in points):
        statistic += "; ratio 1 left out (its gap is 0 by construction)"
    if blocked:
        statistic += "; inconclusive: " + "; ".join(blocked)
    rows = [{"condition": p.condition, "ratio": p.ratio, "seed": r.spec.seed, "gap": g,
             "inside": lo <= p.ratio <= hi} for p in points for r, g in zip(p.runs, p.gaps)]
    return Verdict(
        claim=name, statement=f"The generalization gap is smallest where the auxiliary's training length is "
                              f"{lo:g}–{hi:g} times the main task's.",
        source=SOURCE,
        rule=f"per run, generalization_gap(main, aux) over transfer_band(n, A); conditions with A/n in [{lo:g}, "
             f"{hi:g}] (A = n excluded: gap 0 by construction) against the others; outcome 'inside' if the mean "
             f"gap outside minus inside is >= {MIN_EFFECT} with one-sided exact permutation p <= {ALPHA} over the "
             f"runs, 'none' if the 95% bootstrap CI's upper end is < {MIN_EFFECT} or the opposite test has p <= "
             f"{ALPHA}, else unclear; supported if the outcome is the predicted one, refuted if it is the other; "
             "inconclusive if unclear, if a condition has no runs or fewer than half its seeds fitting, or if a run "
             "lacks the auxiliary's curve (stored before it was measured); failed runs have no gap and are left out",
        verdict=_verdict_of(outcome, expected, blocked), statistic=statistic, rows=rows, expected=expected,
        outcome=outcome, published=published)


def penalty_fit_of(points: list[RatioPoint]) -> tuple[PenaltyFit | None, str]:
    """``ratio_window_penalty_fit`` on the per-condition mean gaps (ratio 1 left out), or why not."""
    swept = [p for p in points if p.ratio != 1 and np.isfinite(p.mean)]
    try:
        return ratio_window_penalty_fit([p.ratio for p in swept], [p.mean for p in swept]), ""
    except TransferInputError as err:
        return None, str(err)


def penalty_verdict(name: str, points: list[RatioPoint], problems: list[str], prediction: dict) -> Verdict:
    """Does the exponential-penalty model fit the mean gaps better than a constant (AIC)?"""
    expected = prediction.get("expected", "unknown")
    fit, why = penalty_fit_of(points)
    blocked = list(problems)
    if fit is not None:
        delta = fit.constant_aic - fit.aic
        outcome = "penalty" if delta >= AIC_PREFERENCE else "constant" if delta <= 0 else "unclear"
        statistic = f"{fit.summary()}; AIC(constant) − AIC(penalty) = {delta:+.2f}; outcome: {outcome}"
    elif "gaps are constant" in why:  # equal gaps at several ratio distances: no growth at all
        outcome, statistic = "constant", "the mean gaps are equal at every ratio: no ratio effect; outcome: constant"
    else:
        outcome, statistic = "unclear", f"no fit: {why}"
        blocked.append("the sweep cannot be fitted")
    if problems:
        statistic += "; inconclusive: " + "; ".join(problems)
    means = [{"condition": p.condition, "ratio": p.ratio, "mean_gap": p.mean,
              "seeds": sum(1 for g in p.gaps if np.isfinite(g))} for p in points]
    verdict = _verdict_of(outcome, expected, blocked)
    return Verdict(
        claim=name, statement="The gap grows with the octaves of length one task is trained on and the other is not, "
                              "as gap = A·(1 − exp(−λ·|log2 ratio|)), better than a constant gap.",
        source=f"{SOURCE}; the penalty's shape from 'Why is A+B Better Than B?' (docs/theory.md §8.7), as formalised here",
        rule=f"ratio_window_penalty_fit on the per-condition mean gaps (ratio 1 left out); outcome 'penalty' if the "
             f"constant model's AIC exceeds the penalty model's by >= {AIC_PREFERENCE}, 'constant' if it does not "
             "exceed it at all (or the gaps are equal at every ratio), else unclear; supported if 'penalty', refuted "
             "if 'constant'; inconclusive if unclear, if the sweep cannot be fitted (fewer than 3 ratios, one ratio "
             "distance), or on the window claim's grounds (no runs, unfit, not measured)",
        verdict=verdict, statistic=statistic, rows=means, expected=expected, outcome=outcome)


def ratio_window_claims(task: str, spec, suite) -> list[Claim]:
    """``RatioWindow`` for one task: (a) the gap is smallest inside the window, (b) the penalty model
    fits the mean gaps better than a constant.  Both are the papers' hypotheses, recorded as such."""
    window_name, penalty_name = ratio_window_names(task, spec)
    conditions, window = tuple(spec.conditions), tuple(spec.window)

    def ratios() -> dict[str, float]:  # A / n, n the condition's own training maximum
        return {c: resolved_auxiliary(suite, task, c, spec.aux)[1] / condition_train_max(suite, c) for c in conditions}

    def predict_window() -> dict:
        r = ratios()
        inside = [c for c, v in r.items() if window[0] <= v <= window[1] and v != 1]
        return {"expected": spec.published or "inside", "ratios": r, "inside": inside,
                "why": f"Cai et al., Figure 10; {HYPOTHESIS}"}

    def predict_penalty() -> dict:
        return {"expected": "penalty", "ratios": ratios(),
                "why": f"'Why is A+B Better Than B?' states an exponential penalty; {HYPOTHESIS}"}

    def sweep(runs: list[StoredRun]) -> tuple[list[RatioPoint], list[str]]:
        points = ratio_points(runs, task, conditions, spec.aux)
        return points, _sweep_problems(points, conditions, spec.aux, suite.fit_threshold)

    def judge_window(runs: list[StoredRun], prediction: dict) -> Verdict:
        points, problems = sweep(runs)
        return ratio_window_verdict(window_name, points, window, problems, prediction, spec.published or "")

    def judge_penalty(runs: list[StoredRun], prediction: dict) -> Verdict:
        points, problems = sweep(runs)
        return penalty_verdict(penalty_name, points, problems, prediction)

    experiment = f"{task}: {', '.join(conditions)} ({spec.aux} at different lengths), every seed"
    return [Claim(window_name, f"The generalization gap is smallest for {spec.aux}/main length ratios in "
                               f"[{window[0]:g}, {window[1]:g}].", SOURCE, experiment,
                  "per-run gap; inside vs outside the window; exact permutation test", predict_window, judge_window,
                  task),
            Claim(penalty_name, "The exponential-penalty model fits the gaps over ratios better than a constant.",
                  SOURCE, experiment, "penalty model vs constant on mean gaps, AIC", predict_penalty, judge_penalty,
                  task)]


# ---------------------------------------------------------------------------- AuxPredicts


def aux_predicts_name(spec) -> str:
    return spec.label or "the auxiliary's exact match beyond n predicts the main task's"


def _band_mean(curve: dict[int, float], lengths: list[int]) -> float:
    return float(np.mean([curve[n] for n in lengths])) if lengths else NAN


def aux_predicts_points(runs: list[StoredRun], suite_name: str = "") -> tuple[list[dict], list[dict], int]:
    """The data of ``AuxPredicts``: (task-item points, restriction points, runs not measured).

    Task items (the primary test): one point per (run, task item trained longer than the primary),
    x = the item's mean exact match over the lengths L in (n, A] where both were evaluated, y = the
    primary's over the same lengths.  Restrictions (secondary): one point per (run, test length
    N > n with restrictions measured), x = 1 − ε(N), y = exact match at N.  Failed runs are left out
    (nothing was measured); the caller decides about unfit ones."""
    items, restrictions, missing = [], [], 0
    for run in runs:
        if not run.ok:
            continue
        n = run.spec.train_lengths[1]
        base = {"suite": suite_name, "task": run.spec.task, "condition": run.spec.condition, "seed": run.spec.seed,
                "key": run.key}
        main = main_curve(run)
        for item in task_items(run):
            if item.lengths[1] <= n:
                continue
            aux = item_curve(run, item.source)
            if not aux:
                missing += 1
                continue
            lengths = sorted(L for L in set(main) & set(aux) if n < L <= item.lengths[1])
            if lengths:
                items.append({**base, "data": "task item", "item": item.source, "band": f"{n + 1}..{item.lengths[1]}",
                              "aux": _band_mean(aux, lengths), "main": _band_mean(main, lengths)})
        for m in run.measurements:
            if m.length > n and m.restrictions:
                restrictions.append({**base, "data": "restriction", "item": "restriction", "length": m.length,
                                     "aux": 1 - m.restriction_errors / m.restrictions, "main": m.exact / m.instances})
    return items, restrictions, missing


def correlation(points: list[dict]) -> dict:
    """Spearman's rho of main against aux with its one-sided permutation p (both directions) and a
    bootstrap interval; NaN with fewer than 3 points or no rank order."""
    if len(points) < 3:
        return {"rho": NAN, "p_greater": NAN, "p_less": NAN, "lo": NAN, "hi": NAN, "points": len(points)}
    x, y = [p["aux"] for p in points], [p["main"] for p in points]
    rho, p_greater = rank_trend_test(x, y, alternative="greater")
    _, p_less = rank_trend_test(x, y, alternative="less")
    lo, hi = bootstrap_rho_interval(x, y)
    return {"rho": rho, "p_greater": p_greater, "p_less": p_less, "lo": lo, "hi": hi, "points": len(points)}


def correlation_outcome(c: dict) -> str:
    """'positive' if rho >= MIN_RHO with one-sided p <= ALPHA; 'none' if the interval's upper end is
    < MIN_RHO or rho < 0 with the opposite p <= ALPHA; else unclear."""
    if not np.isfinite(c["rho"]):
        return "unclear"
    return POSITIVE_OR_NONE[directional_outcome(c["rho"], c["hi"], c["p_greater"], c["p_less"], MIN_RHO)]


def _correlation_text(c: dict) -> str:
    return (f"Spearman rho = {c['rho']:+.3f} over {c['points']} points, one-sided permutation p = "
            f"{c['p_greater']:.3f}, 95% bootstrap CI [{c['lo']:+.3f}, {c['hi']:+.3f}]")


def read_other_suites(names: tuple[str, ...], reports_dir: Path | None) -> tuple[dict[str, list[StoredRun]], list[str]]:
    """The stored runs of the suites ``names`` (their report folders in ``reports_dir``), and a note
    per suite that could not be read."""
    from .store import RunStore, StoreError

    if not names:
        return {}, []
    if reports_dir is None:
        return {}, [f"also_suites {', '.join(names)} not read (no reports folder given): this suite's runs only"]
    found, notes = {}, []
    for name in names:
        store = RunStore(Path(reports_dir) / name)
        if not store.exists():
            notes.append(f"suite {name}: no stored runs in {Path(reports_dir) / name}")
            continue
        try:
            found[name] = list(store.runs().values())
        except StoreError as err:
            notes.append(f"suite {name}: unreadable ({err})")
    return found, notes


def aux_predicts_verdict(name: str, groups: dict[str, list[StoredRun]], notes: list[str], fit_threshold: float,
                         prediction: dict, published: str = "") -> Verdict:
    """``groups``: suite name -> its runs (the first is this suite); a run stored under the same key in
    two suites counts once."""
    expected = prediction.get("expected", "unknown")
    seen, items, restrictions, missing, unfit, candidates = set(), [], [], 0, 0, 0
    for suite_name, runs in groups.items():
        fresh = [r for r in runs if r.key not in seen]
        seen.update(r.key for r in fresh)
        # a pretraining stage (primary weight 0) never trains the primary: nothing to predict there
        relevant = [r for r in fresh if r.spec.primary_weight > 0
                    and (any(i.lengths[1] > r.spec.train_lengths[1] for i in task_items(r))
                         or any(m.restrictions for m in r.measurements))]
        candidates += len(relevant)
        fit = [r for r in relevant if fits_training_range(r, fit_threshold)]
        unfit += len(relevant) - len(fit)
        i, rs, m = aux_predicts_points(fit, suite_name)
        items, restrictions, missing = items + i, restrictions + rs, missing + m
    primary, secondary = correlation(items), correlation(restrictions)
    outcome = correlation_outcome(primary)
    blocked = []
    if not items and missing:
        blocked.append(f"not measured: the {missing} (run, item) pairs trained longer than the primary were stored "
                       "before item curves were stored; re-run them")
    elif len(items) < 3:
        blocked.append(f"{len(items)} task-item points; at least 3 are needed")
    if candidates and unfit * 2 > candidates:
        blocked.append(f"fewer than half the runs fit the training range ({unfit} of {candidates} do not; validation "
                       f"exact match >= {fit_threshold})")
    statistic = (f"primary test, task items trained longer than the primary (aux EM vs main EM over (n, A]): "
                 f"{_correlation_text(primary)}; outcome: {outcome}. Secondary, not part of the verdict, restriction "
                 f"items (1 − ε(N) vs EM(N) per run and test length): {_correlation_text(secondary)}, outcome "
                 f"{correlation_outcome(secondary)}. Suites: {', '.join(groups)}; unfit runs left out: {unfit}")
    if missing and items:
        statistic += f"; {missing} (run, item) pairs not measured (stored before item curves) left out"
    for note in notes:
        statistic += f"; {note}"
    if blocked:
        statistic += "; inconclusive: " + "; ".join(blocked)
    return Verdict(
        claim=name, statement="How well the auxiliary task extrapolates beyond the primary's training range predicts "
                              "how well the primary does at the same lengths.",
        source=f"{CAI_SOURCE}; the project's central question",
        rule=f"primary test: one point per (run, task item with training maximum A > n), x = the item's mean exact "
             f"match over the lengths in (n, A] evaluated for both, y = the primary's over the same lengths; Spearman "
             f"rho with a one-sided permutation p (exact up to {MAX_EXACT:,} orderings, else "
             f"{MONTE_CARLO_RESAMPLES:,} random ones with a fixed seed) and a 95% percentile bootstrap CI of rho "
             f"({BOOTSTRAP_RESAMPLES:,} resamples of the points); outcome 'positive' if rho >= {MIN_RHO} with p <= "
             f"{ALPHA}, 'none' if the CI's upper end is < {MIN_RHO} or rho < 0 with the opposite p <= {ALPHA}, else "
             "unclear; supported if the outcome is the predicted one, refuted if it is the other; inconclusive if "
             "unclear, with fewer than 3 points, if nothing was measured, or if fewer than half the runs fit their "
             "training range (unfit and failed runs are left out, and pretraining stages that never train the "
             "primary are not counted). The restriction points (1 − ε(N) vs EM(N)) are "
             "reported beside it and never decide the verdict",
        verdict=_verdict_of(outcome, expected, blocked), statistic=statistic, rows=items + restrictions,
        expected=expected, outcome=outcome, published=published)


def aux_predicts_claim(spec, suite, reports_dir: Path | None = None) -> Claim:
    """``AuxPredicts`` over this suite's runs and those of ``spec.also_suites``, read from
    ``reports_dir/<name>/`` (None: this suite's runs only, said in the statistic)."""
    name = aux_predicts_name(spec)
    also = tuple(spec.also_suites)

    def predict() -> dict:
        return {"expected": "positive", "why": f"the project's central question; {HYPOTHESIS} for task auxiliaries"}

    def judge(runs: list[StoredRun], prediction: dict) -> Verdict:
        others, notes = read_other_suites(also, reports_dir)
        return aux_predicts_verdict(name, {suite.name: runs, **others}, notes, suite.fit_threshold, prediction,
                                    spec.published or "")

    return Claim(name, "The auxiliary's exact match beyond the primary's training range predicts the primary's.",
                 f"{CAI_SOURCE}; the project's central question",
                 f"every run of {', '.join((suite.name,) + also)} with an auxiliary trained longer than the primary",
                 "Spearman rho over (run, item) points; permutation p; bootstrap CI", predict, judge)


def transfer_claims(spec, suite, reports_dir: Path | None = None) -> list[Claim]:
    """The claims of one ``HeadReuse`` / ``GapTracksReuse`` / ``RatioWindow`` / ``AuxPredicts`` spec
    (``verify.claims.suite_claims`` calls this); ``RatioWindow`` is per task: every plan that trains
    all its conditions."""
    from .suite import AuxPredicts, GapTracksReuse, HeadReuse, RatioWindow

    if isinstance(spec, HeadReuse):
        return [head_reuse_claim(spec, suite)]
    if isinstance(spec, GapTracksReuse):
        return [gap_tracks_reuse_claim(spec, suite)]
    if isinstance(spec, RatioWindow):
        return [c for plan in suite.plans_training(*spec.conditions) for c in ratio_window_claims(plan.task, spec, suite)]
    if isinstance(spec, AuxPredicts):
        return [aux_predicts_claim(spec, suite, reports_dir)]
    raise TypeError(f"not a transfer claim spec: {spec!r}")
