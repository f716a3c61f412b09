"""The transfer sections of a report (Cai et al.'s extrapolation by association; issue 11).

``transfer_sections`` writes the markdown and the plots that show what the transfer claims judged:
main and auxiliary curves per task, the length-ratio sweep beside the paper's, head-ablation maps
with their differences, gap and map difference over checkpoints, and the auxiliary-predicts-main
scatter.  Everything is read from the stored runs (``runs.json`` in a fresh clone: no weights) and
the verdicts, through the per-run quantities of ``verify.transfer_claims``; ``verify.report.render``
calls it only for a suite that states a transfer claim (``has_transfer_claims``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import plots
from .claims import Verdict
from .report import file_stem
from .spec import StoredRun
from .transfer import (
    CAI_RATIO_GAPS,
    CAI_RATIO_LENGTHS,
    CAI_RATIO_SOURCE,
    TransferInputError,
    ratio_window_penalty_fit,
    transfer_band,
)
from .transfer_claims import (
    aux_predicts_name,
    checkpoint_series,
    correlation,
    gap_tracks_name,
    head_reuse_name,
    item_curve,
    item_map_differences,
    main_curve,
    penalty_fit_of,
    primary_map,
    ratio_points,
    ratio_window_names,
    run_gap,
    run_map_difference,
    task_items,
)


def _kinds():
    from .suite import AuxPredicts, GapTracksReuse, HeadReuse, RatioWindow, Transfers

    return Transfers, HeadReuse, GapTracksReuse, RatioWindow, AuxPredicts


def has_transfer_claims(suite) -> bool:
    """Whether the suite states a Transfers, HeadReuse, GapTracksReuse, RatioWindow or AuxPredicts claim."""
    return any(isinstance(c, _kinds()) for c in suite.claims)


def _num(value, spec: str = ".3f") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def _verdict_line(verdicts: dict[str, Verdict], name: str) -> list[str]:
    v = verdicts.get(name)
    return [f"**Verdict — {v.claim}: {v.verdict.upper()}.** {v.statistic}.", ""] if v else []


def _ordered(suite, runs: list[StoredRun]) -> list[StoredRun]:
    order = {c: i for i, c in enumerate(suite.condition_names)}
    return sorted(runs, key=lambda r: (order.get(r.spec.condition, 99), r.spec.seed))


# ---------------------------------------------------------------------------- (a) curves


def _band_means(run: StoredRun, source: str, band: tuple[int, int]) -> tuple[float, float]:
    """The primary's and the item's mean exact match over the band (lo, hi] (NaN if none evaluated)."""
    main, aux = main_curve(run), item_curve(run, source)
    lengths = [L for L in sorted(set(main) & set(aux)) if band[0] < L <= band[1]]
    if not lengths:
        return math.nan, math.nan
    return float(np.mean([main[L] for L in lengths])), float(np.mean([aux[L] for L in lengths]))


def curves_section(suite, runs: list[StoredRun], directory: Path) -> list[str]:
    """Per task with task items: main and auxiliary curves, and each run's band exact match and gap."""
    n = suite.train_max
    lines = ["## Transfer: main and auxiliary curves", "",
             "Solid lines: the main task's exact match; dashed: each auxiliary's, measured on the same model at "
             "the chosen checkpoint. Grey: the main task's training range; hatched: the auxiliary's. The band is "
             "(min(n, A), max(n, A)], the lengths one task was trained on and the other was not; the gap is "
             "`verify.transfer.generalization_gap`, the mean |aux − main| over it.", ""]
    for plan in suite.plans:
        task_runs = _ordered(suite, [r for r in runs if r.spec.task == plan.task])
        if not any(task_items(r) for r in task_runs):
            continue
        name = f"{file_stem(plan.task)}_transfer_curves.png"
        plots.transfer_curves(plan.task, task_runs, n, directory / name, list(suite.condition_names))
        lines += [f"### {plan.task}", "", f"![main and auxiliary curves]({name})", ""]
        with_items = [r for r in task_runs if task_items(r) and r.ok]
        if with_items and not any(item_curve(r, i.source) for r in with_items for i in task_items(r)):
            lines += [f"Not measured: the {len(with_items)} runs with an auxiliary were stored before item curves were "
                      "stored; re-run them to see the auxiliaries' curves and gaps.", ""]
            continue
        lines += ["| condition | seed | auxiliary | trained to A | A/n | band | main EM over the band | aux EM over the band "
                  "| gap |", "|---|---|---|---|---|---|---|---|---|"]
        for run in task_runs:
            for item in task_items(run):
                s, top = run.spec, item.lengths[1]
                band = transfer_band(s.train_lengths[1], top)
                head = (f"| {s.condition} | {s.seed} | {item.source} | {top} | {top / s.train_lengths[1]:g} | "
                        f"{band[0] + 1}..{band[1]} |")
                if not run.ok:
                    lines.append(f"{head} failed | — | — |")
                    continue
                if not item_curve(run, item.source):
                    lines.append(f"{head} not measured (stored before item curves) | — | — |")
                    continue
                main, aux = _band_means(run, item.source, band)
                lines.append(f"{head} {_num(main)} | {_num(aux)} | {_num(run_gap(run, item.source))} |")
        lines.append("")
    return lines


# ---------------------------------------------------------------------------- (b) ratio sweep


def paper_row(main_length: int) -> int:
    """The main length of Cai et al.'s sweep nearest ``main_length`` on a log scale (8 for n = 8)."""
    return min(CAI_RATIO_LENGTHS, key=lambda L: (abs(math.log2(L / main_length)), L))


def paper_points(row: int) -> list[tuple[float, float]]:
    """(aux/main ratio, gap) of the paper's row ``row``, the diagonal (0 by construction) left out."""
    return [(aux / row, CAI_RATIO_GAPS[(row, aux)]) for aux in CAI_RATIO_LENGTHS if aux != row]


def _paper_fit_text(paper: list[tuple[float, float]]) -> str:
    try:
        fit = ratio_window_penalty_fit([r for r, _ in paper], [g for _, g in paper])
    except TransferInputError as err:
        return f"The paper's row cannot be fitted: {err}."
    return f"The same model fitted to the paper's row: {fit.summary()}."


def ratio_section(suite, runs: list[StoredRun], directory: Path, verdicts: dict[str, Verdict]) -> list[str]:
    """Per RatioWindow claim and task: gap over ratios, ours beside the paper's, the penalty fit."""
    _, _, _, RatioWindow, _ = _kinds()
    specs = [c for c in suite.claims if isinstance(c, RatioWindow)]
    if not specs:
        return []
    lines = ["## Transfer: the length-ratio sweep", "",
             f"Our generalization gap per aux/main length ratio (every seed a point, the mean a line) beside Cai et "
             f"al.'s, from the row of their Figure 10 whose main length is nearest ours ({CAI_RATIO_SOURCE}). Their "
             "gap's exact formula is not published, so compare shapes, not digits. The penalty model gap = "
             "A·(1 − exp(−λ·|log2 ratio|)) is fitted to our mean gaps (ratio 1 left out: its gap is 0 by "
             "construction).", ""]
    for spec in specs:
        for plan in suite.plans_training(*spec.conditions):
            points = ratio_points(runs, plan.task, tuple(spec.conditions), spec.aux)
            if not points:
                continue
            n = points[0].runs[0].spec.train_lengths[1]  # the sweep's main training maximum
            row = paper_row(n)
            paper = paper_points(row)
            paper_fit_text = _paper_fit_text(paper)
            fit, why = penalty_fit_of(points)
            name = f"{file_stem(plan.task)}_ratio_{file_stem(spec.aux)}.png"
            plots.ratio_sweep(plan.task, spec.aux, [p.ratio for p in points], [list(p.gaps) for p in points], paper,
                              f"Cai et al., main length {row} (reconstructed)", fit, tuple(spec.window),
                              directory / name)
            lines += [f"### {plan.task}: {spec.aux} over length ratios", "",
                      f"Main task trained at 1..{n}; Cai et al.'s row: main length {row}.", "",
                      f"![gap over the length ratio]({name})", "",
                      f"| A/n | condition | our gap: mean (seeds) | Cai et al. at this ratio (main length {row}) |",
                      "|---|---|---|---|"]
            for p in points:
                seeds = ", ".join(f"{r.spec.seed}: {_num(g)}" for r, g in zip(p.runs, p.gaps))
                theirs = CAI_RATIO_GAPS.get((row, int(round(row * p.ratio)))) if float(row * p.ratio).is_integer() else None
                lines.append(f"| {p.ratio:g} | {p.condition} | {_num(p.mean)} ({seeds}) | {_num(theirs, '.2f')} |")
            lines += ["", f"Fit to ours: {fit.summary() if fit else 'none (' + why + ')'}. {paper_fit_text}", ""]
            for claim_name in ratio_window_names(plan.task, spec):
                lines += _verdict_line(verdicts, claim_name)
    return lines


# ---------------------------------------------------------------------------- (c) head maps


def _groups(suite) -> dict[str, str]:
    """condition -> "transfer" / "control", from the suite's HeadReuse claims."""
    _, HeadReuse, _, _, _ = _kinds()
    out = {}
    for spec in (c for c in suite.claims if isinstance(c, HeadReuse)):
        out.update({c: "transfer" for c in spec.transfer_conditions})
        out.update({c: "control" for c in spec.control_conditions})
    return out


def representative(group: list[StoredRun]) -> StoredRun | None:
    """The run whose map difference is the (lower) median of its condition's: typical, not the best."""
    measured = sorted((r for r in group if np.isfinite(run_map_difference(r))), key=lambda r: (run_map_difference(r),
                                                                                               r.spec.seed))
    return measured[(len(measured) - 1) // 2] if measured else None


def maps_section(suite, runs: list[StoredRun], directory: Path, verdicts: dict[str, Verdict]) -> list[str]:
    """Per (task, condition) with an auxiliary, one representative seed's maps; every run's differences."""
    with_items = [r for r in runs if task_items(r)]
    if not with_items:
        return []
    groups = _groups(suite)
    lines = ["## Transfer: head-ablation maps", "",
             "Each map is layers × heads: the drop in exact match when that head's output is replaced by its mean "
             "over the batch, at the chosen checkpoint, at a length L inside the transfer band. Figures show the "
             "seed whose map difference is its condition's median; the table has every seed.", ""]
    for plan in suite.plans:
        for condition in suite.condition_names:
            group = [r for r in with_items if r.spec.task == plan.task and r.spec.condition == condition and r.ok]
            run = representative(group)
            if run is None:
                continue
            maps = {f"{plan.task} (main)": primary_map(run)}
            maps.update({f"{i.source} (aux)": run.head_maps[i.source] for i in task_items(run) if i.source in run.head_maps})
            name = f"{file_stem(plan.task)}_{condition}_maps.png"
            plots.ablation_maps(f"{plan.task} — {condition}, seed {run.spec.seed}, L = {run.head_map_length}: map "
                                f"difference {run_map_difference(run):.3f}", maps, directory / name)
            lines += [f"![head maps, {plan.task} — {condition}]({name})", ""]
    if not any(item_map_differences(r) for r in with_items):
        return lines + [f"Not measured: the {len(with_items)} runs with an auxiliary were stored before head maps were "
                        "stored; re-run them to see the maps.", ""] + _head_reuse_verdicts(suite, verdicts)
    lines += ["| group | task | condition | seed | auxiliary | L | map difference |", "|---|---|---|---|---|---|---|"]
    ordered = sorted(with_items, key=lambda r: ({"transfer": 0, "control": 1}.get(groups.get(r.spec.condition), 2),
                                                r.spec.task, suite.condition_names.index(r.spec.condition)
                                                if r.spec.condition in suite.condition_names else 99, r.spec.seed))
    for run in ordered:
        s, group = run.spec, groups.get(run.spec.condition, "—")
        differences = item_map_differences(run)
        for item in task_items(run):
            value = differences.get(item.source)
            text = "failed" if not run.ok else _num(value) if value is not None else "not measured"
            lines.append(f"| {group} | {s.task} | {s.condition} | {s.seed} | {item.source} | "
                         f"{run.head_map_length or '—'} | {text} |")
    lines.append("")
    for label in ("transfer", "control"):
        values = [run_map_difference(r) for r in with_items if groups.get(r.spec.condition) == label and r.ok]
        values = [v for v in values if np.isfinite(v)]
        if values:
            lines.append(f"- {label}: mean map difference {np.mean(values):.3f} over {len(values)} runs.")
    return lines + [""] + _head_reuse_verdicts(suite, verdicts)


def _head_reuse_verdicts(suite, verdicts: dict[str, Verdict]) -> list[str]:
    _, HeadReuse, _, _, _ = _kinds()
    return [line for spec in suite.claims if isinstance(spec, HeadReuse)
            for line in _verdict_line(verdicts, head_reuse_name(spec))]


# ---------------------------------------------------------------------------- (d) checkpoints


def checkpoints_section(suite, runs: list[StoredRun], directory: Path, verdicts: dict[str, Verdict]) -> list[str]:
    """Per task: gap against map difference over every validation checkpoint, and each run's rho."""
    series_by_run = {r.key: checkpoint_series(r) for r in runs if r.ok and getattr(r, "transfer_checkpoints", None)}
    if not any(series_by_run.values()):
        return []
    lines = ["## Transfer: gap and head reuse over checkpoints", "",
             "At every validation checkpoint, the gap over (n, A] (main vs auxiliary exact match) against the map "
             "difference of their ablation maps; rho is Spearman's over the checkpoints of one run with its "
             "one-sided exact permutation p that a smaller map difference goes with a smaller gap.", ""]
    for plan in suite.plans:
        task_runs = _ordered(suite, [r for r in runs if r.spec.task == plan.task and series_by_run.get(r.key)])
        if not task_runs:
            continue
        panels = [(c, [s for r in task_runs if r.spec.condition == c for s in series_by_run[r.key]])
                  for c in suite.condition_names if any(r.spec.condition == c for r in task_runs)]
        name = f"{file_stem(plan.task)}_checkpoints.png"
        plots.checkpoint_tracking(plan.task, panels, directory / name)
        lines += [f"### {plan.task}", "", f"![gap vs map difference over checkpoints]({name})", "",
                  "| condition | seed | auxiliary | checkpoints | steps | rho | one-sided p |", "|---|---|---|---|---|---|---|"]
        for run in task_runs:
            for s in series_by_run[run.key]:
                lines.append(f"| {run.spec.condition} | {run.spec.seed} | {s.source} | {len(s.steps)} | "
                             f"{s.steps[0]}..{s.steps[-1]} | {_num(s.rho, '+.2f')} | {_num(s.p)} |")
        lines.append("")
    _, _, GapTracksReuse, _, _ = _kinds()
    for spec in (c for c in suite.claims if isinstance(c, GapTracksReuse)):
        lines += _verdict_line(verdicts, gap_tracks_name(spec))
    return lines


# ---------------------------------------------------------------------------- (e) aux predicts main


def _rho_text(c: dict) -> str:
    return (f"rho {_num(c['rho'], '+.2f')}, p {_num(c['p_greater'])}, 95% CI [{_num(c['lo'], '+.2f')}, "
            f"{_num(c['hi'], '+.2f')}], {c['points']} points")


def predicts_section(suite, directory: Path, verdicts: dict[str, Verdict]) -> list[str]:
    """The AuxPredicts scatter, drawn from the points its verdict judged (other suites' runs included)."""
    _, _, _, _, AuxPredicts = _kinds()
    lines = []
    for k, spec in enumerate(c for c in suite.claims if isinstance(c, AuxPredicts)):
        v = verdicts.get(aux_predicts_name(spec))
        if v is None:
            continue
        items = [r for r in v.rows if r.get("data") == "task item"]
        restrictions = [r for r in v.rows if r.get("data") == "restriction"]
        name = f"aux_predicts{'' if k == 0 else f'_{k}'}.png"
        plots.aux_predicts_scatter(items, restrictions, f"primary test, task items: {_rho_text(correlation(items))}",
                                   f"secondary, restrictions: {_rho_text(correlation(restrictions))}",
                                   directory / name)
        lines += ["## Transfer: does the auxiliary predict the main task?", "",
                  "Left: one point per (run, task item trained longer than the main task), the mean exact match of the "
                  "auxiliary and of the main task over (n, A]. Right (secondary, not part of the verdict): one point "
                  "per (run, test length) with restrictions measured, 1 − ε(N) against exact match at N.", "",
                  f"![auxiliary vs main exact match]({name})", ""]
        lines += _verdict_line(verdicts, v.claim)
    return lines


def transfer_sections(suite, runs: list[StoredRun], directory: Path, verdicts: list[Verdict]) -> list[str]:
    """The transfer sections (markdown lines) of ``suite``'s report; their plots are written to ``directory``."""
    by_name = {v.claim: v for v in verdicts}
    directory = Path(directory)
    return (curves_section(suite, runs, directory) + ratio_section(suite, runs, directory, by_name)
            + maps_section(suite, runs, directory, by_name) + checkpoints_section(suite, runs, directory, by_name)
            + predicts_section(suite, directory, by_name))
