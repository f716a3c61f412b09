"""Plots of a suite's stored measurements (matplotlib, Agg backend; every value from runs.json)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .claims import length_rows  # noqa: E402
from .stats import bootstrap_mean_interval  # noqa: E402

COLORS = {"primary": "#c0392b", "primary+restriction": "#2471a3"}


def _by_condition(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for run in runs:
        out.setdefault(run["spec"]["condition"], []).append(run)
    return out


def accuracy_vs_length(task: str, runs: list[dict], train_max: int, path: Path) -> None:
    """Exact match and token accuracy per length: every seed thin, the mean with a seed-bootstrap band."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for condition, group in sorted(_by_condition(runs).items()):
        ok = [r for r in group if r["status"] == "ok"]
        if not ok:
            continue
        color = COLORS.get(condition, "grey")
        for ax, key in zip(axes, ("exact_match", "token_accuracy")):
            curves = [[row[key] for row in length_rows(r, train_max)] for r in ok]
            lengths = [row["length"] for row in length_rows(ok[0], train_max)]
            for curve in curves:
                ax.plot(lengths, curve, color=color, alpha=0.25, lw=0.8)
            mean = np.mean(curves, axis=0)
            band = np.array([bootstrap_mean_interval(col) for col in np.array(curves).T])
            ax.plot(lengths, mean, color=color, lw=2, label=f"{condition} ({len(ok)}/{len(group)} seeds ok)")
            ax.fill_between(lengths, band[:, 0], band[:, 1], color=color, alpha=0.15)
    for ax, title in zip(axes, ("exact match", "token accuracy")):
        ax.axvspan(0.5, train_max + 0.5, color="0.9", zorder=0)
        ax.set_xlabel("length N (training range shaded)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{task}: {title}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bound_vs_error(task: str, runs: list[dict], train_max: int, path: Path) -> None:
    """Measured error against the bound at the 95% upper limits of ε and of 1 − c, per seed."""
    groups = sorted(_by_condition(runs).items())
    fig, axes = plt.subplots(2, len(groups), figsize=(5.5 * len(groups), 6), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    floor = 1e-4  # zeros are drawn at the floor of the log axis
    for col, (condition, group) in enumerate(groups):
        top, bottom = axes[0, col], axes[1, col]
        for run in (r for r in group if r["status"] == "ok"):
            rows = length_rows(run, train_max)
            lengths = [r["length"] for r in rows]
            seed = run["spec"]["seed"]
            line, = top.plot(lengths, [max(r["error"], floor) for r in rows], lw=1.5, label=f"error, seed {seed}")
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
        top.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
