"""Plots of a suite's stored runs (every value from the store; PNG files).

Figures are ``matplotlib.figure.Figure`` objects drawn on their own Agg canvas, so importing this
module (or ``verify.api``) neither imports pyplot nor changes matplotlib's backend.  Colours
follow the order of the conditions passed in, so no condition label is known here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .claims import length_rows
from .spec import StoredRun
from .stats import t_interval

PALETTE = ("#c0392b", "#2471a3", "#229954", "#8e44ad", "#d68910", "#17a589", "#5d6d7e", "#cb4335")


def _figure(**kwargs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _by_condition(runs: list[StoredRun], conditions: list[str] | None) -> list[tuple[str, list[StoredRun]]]:
    order = list(conditions or dict.fromkeys(r.spec.condition for r in runs))
    return [(c, [r for r in runs if r.spec.condition == c]) for c in order if any(r.spec.condition == c for r in runs)]


def _color(conditions: list[str], condition: str) -> str:
    return PALETTE[conditions.index(condition) % len(PALETTE)]


def accuracy_vs_length(task: str, runs: list[StoredRun], train_max: int, path: Path,
                       conditions: list[str] | None = None) -> None:
    """Exact match and token accuracy per length: every seed thin, the mean thick with a 95% t
    interval over seeds (with 2-3 seeds it is wide: that is the honest width)."""
    groups = _by_condition(runs, conditions)
    names = [c for c, _ in groups]
    fig = _figure(figsize=(11, 4))
    axes = fig.subplots(1, 2, sharex=True)
    for condition, group in groups:
        ok = [r for r in group if r.ok]
        if not ok:
            continue
        color = _color(names, condition)
        for ax, key in zip(axes, ("exact_match", "token_accuracy")):
            curves = [[row[key] for row in length_rows(r, train_max)] for r in ok]
            lengths = [row["length"] for row in length_rows(ok[0], train_max)]
            for curve in curves:
                ax.plot(lengths, curve, color=color, alpha=0.25, lw=0.8)
            mean = np.mean(curves, axis=0)
            ax.plot(lengths, mean, color=color, lw=2, label=f"{condition} ({len(ok)}/{len(group)} seeds ok)")
            if len(ok) > 1:
                band = np.array([t_interval(col, bounds=(0.0, 1.0)) for col in np.array(curves).T])
                ax.fill_between(lengths, band[:, 0], band[:, 1], color=color, alpha=0.15)
    for ax, title in zip(axes, ("exact match", "token accuracy")):
        ax.axvspan(0.5, train_max + 0.5, color="0.9", zorder=0)
        ax.set_xlabel("length N (training range shaded)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{task}: {title}\nthick: mean over seeds; band: 95% t interval over seeds", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=8)
    _save(fig, path)


def bound_vs_error(task: str, runs: list[StoredRun], train_max: int, path: Path,
                   conditions: list[str] | None = None) -> None:
    """Measured error against the bound at the 95% upper limits of ε and of 1 − c, per seed."""
    groups = _by_condition(runs, conditions)
    fig = _figure(figsize=(5.5 * len(groups), 6))
    axes = fig.subplots(2, len(groups), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [2, 1]})
    floor = 1e-4  # zeros are drawn at the floor of the log axis
    for col, (condition, group) in enumerate(groups):
        top, bottom = axes[0, col], axes[1, col]
        for run in (r for r in group if r.ok):
            rows = length_rows(run, train_max)
            lengths = [r["length"] for r in rows]
            line, = top.plot(lengths, [max(r["error"], floor) for r in rows], lw=1.5, label=f"error, seed {run.spec.seed}")
            color = line.get_color()
            top.plot(lengths, [max(r["bound_assuming_consistency_hi"], floor) for r in rows], ls="--", color=color, lw=1)
            top.plot(lengths, [max(min(1.0, r["bound_assuming_consistency_hi"] + r["outputs"] * r["inconsistency_hi"]),
                                   floor) for r in rows], ls=":", color=color, lw=1)
            bottom.plot(lengths, [max(1 - r["consistency"], floor) for r in rows], color=color, lw=1.2)
        top.set_yscale("log")
        top.set_ylim(floor, 1.5)
        top.set_title(f"{task} — {condition}\nsolid: measured error; dashed: r·ε (ε at its 95% upper limit);\n"
                      "dotted: + r·(1−c) (upper limit)", fontsize=9)
        bottom.set_yscale("log")
        bottom.set_ylim(floor, 1.5)
        bottom.set_ylabel("inconsistency 1 − c(N)")
        bottom.set_xlabel("length N")
        for ax in (top, bottom):
            ax.axvspan(0.5, train_max + 0.5, color="0.9", zorder=0)
            ax.grid(alpha=0.3)
        if any(r.ok for r in group):
            top.legend(fontsize=7, loc="lower right")
    _save(fig, path)


def training_curves(task: str, runs: list[StoredRun], path: Path, conditions: list[str] | None = None) -> None:
    """Training loss and validation exact match (training lengths) per step, every run; the chosen
    checkpoint is marked on the validation curve."""
    groups = _by_condition(runs, conditions)
    names = [c for c, _ in groups]
    fig = _figure(figsize=(11, 4))
    loss_ax, val_ax = fig.subplots(1, 2, sharex=True)
    for condition, group in groups:
        color = _color(names, condition)
        for i, run in enumerate(r for r in group if r.loss_curve or r.validation_curve):
            label = condition if i == 0 else None
            if run.loss_curve:
                steps, losses = zip(*run.loss_curve)
                loss_ax.plot(steps, losses, color=color, alpha=0.6, lw=1, label=label)
            if run.validation_curve:
                steps, em = [p[0] for p in run.validation_curve], [p[1] for p in run.validation_curve]
                val_ax.plot(steps, em, color=color, alpha=0.6, lw=1, marker=".", label=label)
                if run.ok and run.best_step in steps:
                    val_ax.plot([run.best_step], [em[steps.index(run.best_step)]], marker="o", color=color,
                                markerfacecolor="none", ms=8)
    loss_ax.set_yscale("log")
    loss_ax.set_title(f"{task}: training loss (mixture, every 50 steps)", fontsize=9)
    val_ax.set_title(f"{task}: validation exact match at training lengths\n(circle: the chosen checkpoint)", fontsize=9)
    val_ax.set_ylim(-0.02, 1.02)
    for ax in (loss_ax, val_ax):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    _save(fig, path)


# ---------------------------------------------------------------------------- transfer (issue 11)
# The plots of ``verify.transfer_report``: every value from the stored runs, through the per-run
# quantities ``verify.transfer_claims`` defines, so a plot shows what the verdicts judged.


def _mean_curve(curves: list[dict[int, float]]) -> tuple[list[int], np.ndarray]:
    """Lengths every curve has, and the mean over curves there."""
    common = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    return common, np.array([np.mean([c[n] for c in curves]) for n in common])


def transfer_curves(task: str, runs: list[StoredRun], train_max: int, path: Path,
                    conditions: list[str] | None = None) -> None:
    """One panel per condition: the primary's exact match per length (solid) and each task item's
    (dashed, ``StoredRun.item_measurements``); every seed thin, the mean thick.  The primary's
    training range (the runs' own, else ``train_max``) is shaded grey, each item's training range
    (1..A) hatched in its colour."""
    from .transfer_claims import item_curve, main_curve, task_items

    groups = [(c, [r for r in g if r.ok]) for c, g in _by_condition(runs, conditions)]
    groups = [(c, g) for c, g in groups if g]
    columns = min(3, max(1, len(groups)))
    rows = max(1, math.ceil(len(groups) / columns))
    fig = _figure(figsize=(4.6 * columns, 3.8 * rows))
    grid = fig.subplots(rows, columns, sharey=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for ax in grid[:, 0]:
        ax.set_ylabel("exact match")
    for ax, (condition, group) in zip(axes, groups):
        n = group[0].spec.train_lengths[1] or train_max  # a condition may train the primary at its own n
        ax.axvspan(0.5, n + 0.5, color="0.9", zorder=0)
        series = [("main", PALETTE[1], "-", [main_curve(r) for r in group])]
        sources = list(dict.fromkeys(i.source for r in group for i in task_items(r)))
        for k, source in enumerate(sources):
            color = PALETTE[(k + 2) % len(PALETTE)]
            top = max(i.lengths[1] for r in group for i in task_items(r) if i.source == source)
            ax.axvspan(0.5, top + 0.5, facecolor="none", edgecolor=color, hatch="//", alpha=0.25, lw=0, zorder=0)
            ax.axvline(top + 0.5, color=color, ls=":", lw=1)
            curves = [c for c in (item_curve(r, source) for r in group) if c]
            if curves:
                series.append((f"{source} (aux, trained 1..{top})", color, "--", curves))
        for label, color, style, curves in series:
            for curve in curves:
                lengths = sorted(curve)
                ax.plot(lengths, [curve[n] for n in lengths], color=color, ls=style, alpha=0.25, lw=0.8)
            lengths, mean = _mean_curve(curves)
            if lengths:
                ax.plot(lengths, mean, color=color, ls=style, lw=2, label=f"{label}, {len(curves)} seeds")
        ax.set_title(f"{task} — {condition}\nsolid: main; dashed: auxiliary; thick: mean over seeds", fontsize=9)
        ax.set_xlabel(f"length N (main trains 1..{n}: grey; aux range hatched)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    _save(fig, path)


def ratio_sweep(task: str, aux: str, ratios: list[float], seed_gaps: list[list[float]], paper: list[tuple[float, float]],
                paper_label: str, fit, window: tuple[float, float], path: Path) -> None:
    """Generalization gap against the aux/main length ratio (log2 axis): every seed a point, the
    mean per ratio a line, Cai et al.'s reconstructed gaps as their own series, the fitted penalty
    model (``verify.transfer.PenaltyFit``, or None) as a smooth curve; the window shaded."""
    from .transfer import penalty_model

    fig = _figure(figsize=(7, 4.2))
    ax = fig.subplots()
    ax.axvspan(window[0], window[1], color="0.92", zorder=0, label=f"window [{window[0]:g}, {window[1]:g}]")
    for ratio, gaps in zip(ratios, seed_gaps):
        finite = [g for g in gaps if np.isfinite(g)]
        ax.scatter([ratio] * len(finite), finite, color=PALETTE[1], alpha=0.5, s=18, zorder=3)
    means = [np.mean([g for g in gaps if np.isfinite(g)]) if any(np.isfinite(gaps)) else np.nan for gaps in seed_gaps]
    ax.plot(ratios, means, color=PALETTE[1], lw=2, marker="o", label=f"ours: {aux} (mean; points: seeds)", zorder=4)
    if paper:
        pr, pg = zip(*sorted(paper))
        ax.plot(pr, pg, color=PALETTE[0], ls="--", marker="s", label=paper_label, zorder=2)
    if fit is not None:
        grid = np.geomspace(min(ratios + [p[0] for p in paper]), max(ratios + [p[0] for p in paper]), 200)
        ax.plot(grid, penalty_model(np.abs(np.log2(grid)), fit.saturation, fit.rate), color=PALETTE[2], lw=1.2,
                label=f"penalty fit to ours: {fit.saturation:.2f}·(1 − exp(−{fit.rate:.2f}·|log2 r|)) ({fit.preferred})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("aux training length / main training length")
    ax.set_ylabel("generalization gap")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{task}: gap over the length ratio", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def ablation_maps(title: str, maps: dict[str, np.ndarray], path: Path) -> None:
    """Layers × heads mean-ablation maps side by side on one colour scale (accuracy drop per head)."""
    arrays = {label: np.asarray(m, float) for label, m in maps.items()}
    top = max(0.05, max(float(np.nanmax(np.abs(a))) for a in arrays.values()))
    fig = _figure(figsize=(2.2 + 2.6 * len(arrays), 3.2), layout="constrained")  # room for the colour bar
    axes = fig.subplots(1, len(arrays), squeeze=False)[0]
    image = None
    for ax, (label, array) in zip(axes, arrays.items()):
        image = ax.imshow(array, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(array.shape[1]))
        ax.set_yticks(range(array.shape[0]))
    fig.colorbar(image, ax=list(axes), label="accuracy drop when mean-ablated")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)


def checkpoint_tracking(task: str, panels: list[tuple[str, list]], path: Path) -> None:
    """Per condition, each (run, item)'s generalization gap against its map difference at every
    validation checkpoint, joined in step order (the last checkpoint ringed), rho in the legend.
    ``panels``: (condition, [``verify.transfer_claims.CheckpointSeries``, ...])."""
    fig = _figure(figsize=(4.6 * max(1, len(panels)), 4))
    axes = fig.subplots(1, max(1, len(panels)), sharey=True, squeeze=False)[0]
    for ax, (condition, series) in zip(axes, panels):
        for k, s in enumerate(series):
            color = PALETTE[k % len(PALETTE)]
            ax.plot(s.map_differences, s.gaps, color=color, marker=".", lw=1, alpha=0.8,
                    label=f"seed {s.run.spec.seed}, {s.source}: rho {s.rho:+.2f}")
            ax.plot(s.map_differences[-1:], s.gaps[-1:], marker="o", color=color, markerfacecolor="none", ms=8)
        ax.set_title(f"{task} — {condition}\ngap vs map difference over checkpoints", fontsize=9)
        ax.set_xlabel("map difference (main vs aux)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("generalization gap over (n, A]")
    _save(fig, path)


def aux_predicts_scatter(items: list[dict], restrictions: list[dict], items_title: str, restrictions_title: str,
                         path: Path) -> None:
    """The main task's exact match against the auxiliary's: task items (one point per run and item,
    over (n, A]) and, beside them, restrictions (one point per run and test length, 1 − ε(N))."""
    fig = _figure(figsize=(11, 4.4))
    axes = fig.subplots(1, 2)
    for ax, points, title, xlabel in ((axes[0], items, items_title, "auxiliary exact match over (n, A]"),
                                      (axes[1], restrictions, restrictions_title, "1 − ε(N) (restrictions)")):
        groups = list(dict.fromkeys((p["suite"], p["condition"]) for p in points))
        for k, (suite, condition) in enumerate(groups):
            mine = [p for p in points if (p["suite"], p["condition"]) == (suite, condition)]
            ax.scatter([p["aux"] for p in mine], [p["main"] for p in mine], s=18, alpha=0.7,
                       color=PALETTE[k % len(PALETTE)], label=f"{suite}: {condition}")
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("main exact match at the same lengths")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if groups:
            ax.legend(fontsize=6, loc="upper left")
    _save(fig, path)


# ---------------------------------------------------------------------------- long context (issue 13)


def chunk_selection_vs_length(task: str, series: list[tuple], path: Path, conditions: list[str]) -> None:
    """Per HSA condition, chunk-selection accuracy (solid; every seed thin, pooled over seeds thick)
    and exact match pooled over seeds (dashed, the same colour) against length on a log axis, the
    training range shaded.  ``series``: (condition, pooled selection {N: share}, per-seed selections
    [{N: share}], pooled exact match {N: share}, (train lo, train hi)); colours follow ``conditions``
    (the suite's order, as in the accuracy plot)."""
    fig = _figure(figsize=(7.5, 4.4))
    ax = fig.subplots()
    lengths = sorted({L for _, sel, _, em, _ in series for L in (*sel, *em)})
    for condition, selection, seeds, exact, _ in series:
        color = _color(conditions, condition)
        for curve in seeds:
            xs = sorted(curve)
            ax.plot(xs, [curve[L] for L in xs], color=color, alpha=0.25, lw=0.8)
        xs = sorted(selection)
        ax.plot(xs, [selection[L] for L in xs], color=color, lw=2, marker="o", ms=3,
                label=f"{condition}: chunk selection ({len(seeds)} seeds)")
        xs = sorted(exact)
        ax.plot(xs, [exact[L] for L in xs], color=color, lw=1.5, ls="--", marker="s", ms=3,
                label=f"{condition}: exact match")
    for lo, hi in sorted({s[4] for s in series}):
        ax.axvspan(lo - 0.5 if lo > 1 else lo / 2, hi + 0.5, color="0.9", zorder=0)
    ax.set_xscale("log", base=2)
    if lengths:
        ax.set_xlim(lengths[0] / 1.3, lengths[-1] * 1.3)
        ax.set_xticks(lengths, [str(L) for L in lengths])  # the tested lengths, written out (not 2^k)
        ax.minorticks_off()
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("length N (log scale; training range shaded)")
    ax.set_ylabel("share of outputs (selection) / instances (exact match)")
    ax.set_title(f"{task}: did the top-k selection hold the support's chunks? (solid)\n"
                 "exact match of the same condition (dashed); thin: single seeds", fontsize=9)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc="best")
    _save(fig, path)
