"""Plots of a suite's stored runs (every value from the store; PNG files).

Figures are ``matplotlib.figure.Figure`` objects drawn on their own Agg canvas, so importing this
module (or ``verify.api``) neither imports pyplot nor changes matplotlib's backend.  Colours
follow the order of the conditions passed in, so no condition label is known here.
"""

from __future__ import annotations

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
