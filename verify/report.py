"""Render a suite's report (report.md, PNG plots, results.csv, verdicts.json) from its stored runs.

Everything here reads the run store (``runs.sqlite``, imported from ``runs.json`` in a fresh
clone) and ``predictions.json``; nothing is typed in.  Rendering also writes ``runs.json``, the
store's committed snapshot.  The report can therefore be re-rendered at any time
(``lengthgen report --no-train``) and always says the same thing as the stored measurements.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from auxtasks.derive import resolve_task
from theory.structure import structure_profile

from . import plots
from .claims import (
    CONSISTENT,
    fits_training_range,
    length_rows,
    lengths_summary,
    ood_exact_match,
    suite_claims,
)
from .store import RunStore, StoreError, _atomic_write, export_csv, write_json
from .suite import Suite


def predictions(suite: Suite) -> dict:
    """What theory says before any model is trained: structure profiles and every claim's prediction."""
    tasks = {}
    for plan in suite.plans:
        task = resolve_task(plan.task)
        profile = structure_profile(task)
        tasks[plan.task] = {
            "rule": f"y[t] = {task.rule}" if task.rule is not None else f"opaque: {task.description}",
            "profile": profile.summary(),
            "sparsity_k": profile.k,
            "bounded": profile.bounded,
            "dependencies": [dataclasses.asdict(d) for d in profile.dependencies],
        }
    claims = {claim.name: claim.registration() for claim in suite_claims(suite)}
    return {"suite": suite.name, "tasks": tasks, "claims": claims}


def record_predictions(suite: Suite, directory: Path) -> dict:
    """Store the predictions before training; keep the original timestamp if they are unchanged."""
    path = directory / "predictions.json"
    current = predictions(suite)
    if path.exists():
        try:
            old = json.loads(path.read_text())
            if {k: v for k, v in old.items() if k != "recorded_at"} == current:
                return old
        except json.JSONDecodeError:
            pass  # a damaged predictions file is simply recomputed
    current["recorded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(path, current)
    return current


def _fmt(v) -> str:
    return "—" if v is None else str(v)


def render(suite: Suite, directory: Path, command: str, invocation_seconds: float | None) -> dict:
    """Write every report artefact from the store; return the verdicts."""
    directory.mkdir(parents=True, exist_ok=True)
    store = RunStore(directory)
    stored = store.load()
    specs = suite.runs()
    missing = [s for s in specs if s.key not in stored]
    if missing:
        raise StoreError(f"{len(missing)} of {len(specs)} runs of suite {suite.name!r} have no stored result in "
                         f"{directory}; run `lengthgen report --suite {suite.name}` (without --no-train) to compute them")
    runs = [stored[s.key] for s in specs]
    preds_path = directory / "predictions.json"
    preds = json.loads(preds_path.read_text()) if preds_path.exists() else record_predictions(suite, directory)
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if invocation_seconds is not None:
        meta = {"command": command, "invocation_seconds": round(invocation_seconds, 1),
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_json(meta_path, meta)

    n = suite.train_max
    claims = suite_claims(suite)
    unregistered = [c.name for c in claims if c.name not in preds.get("claims", {})]
    if unregistered:
        raise StoreError(f"{preds_path} holds no prediction for {unregistered[0]!r}; predictions must be recorded "
                         f"before training: re-run `lengthgen report --suite {suite.name}`")
    judged = {c.name: c.judge(runs, preds["claims"][c.name]["prediction"]) for c in claims}
    csv_rows, verdicts, sections = [], [], []
    for plan in suite.plans:
        task_runs = [r for r in runs if r["spec"]["task"] == plan.task]
        for run in task_runs:
            for row in (length_rows(run, n) if run["status"] == "ok" else []):
                csv_rows.append({"suite": suite.name, "task": plan.task, "condition": run["spec"]["condition"],
                                 "seed": run["spec"]["seed"], "run_key": run["key"], **row})
        plots.accuracy_vs_length(plan.task, task_runs, n, directory / f"{plan.task}_accuracy.png")
        plots.bound_vs_error(plan.task, task_runs, n, directory / f"{plan.task}_bound.png")
        verdict = judged[f"{plan.task}: restriction auxiliaries improve extrapolation"]
        sections.append(_task_section(suite, plan, task_runs, preds["tasks"].get(plan.task, {}), verdict))
    verdicts = list(judged.values())

    store.export_json()
    export_csv(directory / "results.csv", csv_rows)
    write_json(directory / "verdicts.json", [dataclasses.asdict(v) for v in verdicts])
    _atomic_write(directory / "report.md", _document(suite, runs, preds, sections, verdicts, meta))
    return {v.claim: v.verdict for v in verdicts}


def _task_section(suite: Suite, plan, task_runs: list[dict], pred: dict, verdict) -> str:
    n = suite.train_max
    lines = [f"## {plan.task}", "",
             f"Rule: `{pred.get('rule', '?')}` — profile: {pred.get('profile', '?')}. "
             f"Position scheme: `{plan.position_scheme}` ({plan.why}).", "",
             f"![accuracy vs length]({plan.task}_accuracy.png)", "",
             "| condition | seed | status | chosen step | val. EM (1..n) | fits training range | OOD EM (n+1..) | "
             "N*(δ) certified | N*(δ) if consistent | measured N(δ) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for run in sorted(task_runs, key=lambda r: (r["spec"]["condition"], r["spec"]["seed"])):
        s = run["spec"]
        if run["status"] != "ok":
            lines.append(f"| {s['condition']} | {s['seed']} | **failed**: {run['reason'].split(' | ')[0]} | — | — | no | 0 | — | — | — |")
            continue
        L = lengths_summary(run, n, suite.delta)
        fits = "yes" if run["validation_exact"] >= suite.fit_threshold else "**no**"
        lines.append(f"| {s['condition']} | {s['seed']} | ok | {run['best_step']} | {run['validation_exact']:.3f} | {fits} | "
                     f"{ood_exact_match(run, n):.3f} | {_fmt(L['certified'])} | {_fmt(L['certified_assuming_consistency'])} | "
                     f"{_fmt(L['measured'])} |")
    for condition in ("primary", "primary+restriction"):
        group = [r for r in task_runs if r["spec"]["condition"] == condition]
        unfit = sum(1 for r in group if not fits_training_range(r, suite.fit_threshold))
        lines.append("")
        lines.append(f"- {condition}: {unfit}/{len(group)} seeds failed to fit the training range "
                     f"(validation exact match < {suite.fit_threshold} or a failed run).")
    lines += ["", f"![bound vs error]({plan.task}_bound.png)", "",
              _exact_match_table(task_runs, n), "",
              f"**Verdict — {verdict.claim}: {verdict.verdict.upper()}.** {verdict.statistic}.", ""]
    return "\n".join(lines)


def _exact_match_table(task_runs: list[dict], n: int) -> str:
    """Exact match per length (mean over seeds, with the pooled 95% Wilson interval)."""
    from .stats import wilson_interval

    ok = [r for r in task_runs if r["status"] == "ok"]
    if not ok:
        return ""
    lengths = [m["length"] for m in ok[0]["measurements"]]
    shown = [L for L in lengths if L in (n, n + 1, n + 2) or L % n == 0 or L == lengths[-1]]
    header = "| condition | " + " | ".join(f"N={L}" for L in shown) + " |"
    lines = ["Exact match per length (mean over seeds; pooled 95% Wilson interval):", "", header,
             "|---|" + "---|" * len(shown)]
    for condition in ("primary", "primary+restriction"):
        group = [r for r in ok if r["spec"]["condition"] == condition]
        if not group:
            continue
        cells = []
        for L in shown:
            ms = [next(m for m in r["measurements"] if m["length"] == L) for r in group]
            k, total = sum(m["exact"] for m in ms), sum(m["instances"] for m in ms)
            lo, hi = wilson_interval(k, total)
            cells.append(f"{np.mean([m['exact'] / m['instances'] for m in ms]):.3f} [{lo:.2f}, {hi:.2f}]")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _document(suite: Suite, runs: list[dict], preds: dict, sections: list[str], verdicts, meta: dict) -> str:
    spec0 = runs[0]["spec"]
    n, top = suite.train_max, max(suite.test_lengths)
    train_seconds = sum(r.get("wall_seconds", 0.0) for r in runs)
    failed = sum(1 for r in runs if r["status"] != "ok")
    head = [
        f"# lengthgen report — suite `{suite.name}`", "",
        f"{suite.description}.", "",
        "**What this checks.** The auxiliary-task theory of Awasthi, Gupta & Kumar (NeurIPS 2025) says that for "
        "tasks whose every output depends on few tokens (k-sparse), low error on the primary task plus low error on "
        "its *restriction tasks* — short sub-sequences of long instances that keep each output's support, with the "
        "original position ids — bounds the error at longer lengths: P[error at N] ≤ r(N)·ε(N) (+ r(N)·(1 − c(N)) "
        "when the model is not fully restriction-consistent). Each task is trained on the primary alone and on "
        "primary + restrictions, and evaluated at every length.", "",
        "**How to read it.** Shaded regions are the training range. Thin lines are single seeds, thick lines the mean "
        "with a 95% bootstrap band across seeds. In the bound plots, a solid line below its dashed twin means the "
        "theorem's bound held for that seed. N*(δ) is the largest length up to which the bound stays ≤ δ "
        f"(δ = {suite.delta}); the measured N(δ) is the largest length up to which the measured error stays ≤ δ. "
        "A certificate is only meaningful where it does not exceed the measured length.", "",
        "## Setup", "",
        f"- primary trained at lengths 1..{n}; evaluated at every length 1..{top} on a fixed evaluation set of "
        f"{suite.eval_instances} instances per length (the same instances for every run)",
        f"- restriction tasks: m = {spec0['restriction_m']} tokens, drawn from instances of length "
        f"{spec0['restriction_lengths'][0]}..{spec0['restriction_lengths'][1]}; in the "
        f"auxiliary condition every step adds {spec0['train']['batch']} restriction rows to the "
        f"{spec0['train']['batch']} primary rows",
        f"- model: {suite.layers} layers, d = {suite.d_model}, {suite.heads} heads; AdamW lr "
        f"{spec0['train']['lr']}, {suite.steps} steps; seeds {', '.join(map(str, suite.seeds))}",
        f"- checkpoint: the best of every {suite.eval_every} steps on validation instances at training lengths only "
        "(ties → later); test lengths never choose anything",
        "", "## Predictions (recorded before training)", "",
        f"Recorded at {preds.get('recorded_at', 'unknown')}.", "",
    ]
    for task, p in preds["tasks"].items():
        head.append(f"- **{task}**: {p['profile']}.")
    for name, claim in preds.get("claims", {}).items():
        pred = claim["prediction"]
        head.append(f"- *{name}*: expected {pred['expected']}" + (f" ({pred['why']})" if "why" in pred else "") + ".")
    head += ["", "## Verdicts", "", "| claim | verdict | statistic |", "|---|---|---|"]
    for v in verdicts:
        head.append(f"| {v.claim} | **{v.verdict}** | {v.statistic} |")
    head.append("")
    for v in verdicts:
        head.append(f"- *{v.claim}* — {v.statement} Source: {v.source}. Rule: {v.rule}.")
    head.append("")
    bound_section = ["## The bound where models are restriction-consistent", "",
                     f"Cells are (run, test length) pairs with consistency c(N) = {CONSISTENT:g}: every measured "
                     "restriction was answered as on its full instance. Where p < m a restriction keeps the whole "
                     "prefix, so those positions are consistent by construction.", "",
                     f"**Verdict: {verdicts[-1].verdict.upper()}.** {verdicts[-1].statistic}.", ""]
    import torch

    footer = ["---", "",
              f"Runs: {len(runs)} ({failed} failed), seeds {', '.join(map(str, suite.seeds))}. "
              f"Compute stored in these runs: {train_seconds:.0f} worker-seconds. "
              f"Last invocation that trained: {meta.get('invocation_seconds', 'unknown')} s wall "
              f"(finished {meta.get('finished_at', 'unknown')}).",
              f"Command: `{meta.get('command', 'lengthgen report --suite ' + suite.name)}`. "
              f"Python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}.",
              "Data: `results.csv` (every run × length), `runs.json` (every stored run; a snapshot of `runs.sqlite`), `verdicts.json`, `predictions.json`.", ""]
    return "\n".join(head + sections + bound_section + footer)
