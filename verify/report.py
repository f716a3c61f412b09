"""Render a suite's report (report.md and report.html, PNG plots, results.csv, verdicts.json) from its stored runs.

Everything here reads the run store (``runs.sqlite``, imported from ``runs.json`` in a fresh
clone) and ``predictions.json``; nothing is typed in.  Rendering also writes ``runs.json``, the
store's committed snapshot.  The report can therefore be re-rendered at any time
(``lengthgen report --no-train``) and always says the same thing as the stored measurements.

Nothing here knows a condition label: sections, tables, plots and the CSV follow the suite's
conditions in order.  ``results.csv`` has one row per (run, length) for every finished run and one
row with ``status`` and empty metrics for every failed run.  The footer says which runs the
invocation trained and which it reused from the store (with when they were stored).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from auxtasks.derive import resolve_task
from theory.structure import structure_profile

from . import plots
from .claims import (
    CONSISTENT,
    agreement_markdown,
    fits_training_range,
    length_rows,
    lengths_summary,
    ood_exact_match,
    suite_claims,
)
from .html import write_html
from .spec import StoredRun
from .store import RunStore, StoreError, _atomic_write, export_csv, read_copied, write_json
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
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            pass  # a damaged predictions file is simply recomputed (this runs before any training)
    current["recorded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(path, current)
    return current


def _read_predictions(path: Path) -> dict:
    """predictions.json as recorded before training; damage is refused, never silently re-recorded
    (a new file would carry a timestamp after the training it claims to precede)."""
    try:
        preds = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        preds = err
    if not (isinstance(preds, dict) and isinstance(preds.get("claims"), dict) and isinstance(preds.get("tasks"), dict)):
        what = f"is corrupt ({type(preds).__name__}: {preds})" if isinstance(preds, Exception) else "lacks claims/tasks"
        raise StoreError(f"{path} {what}; restore it from git, or move it aside and re-run without --no-train "
                         "(predictions are then recorded anew, before training)")
    return preds


def _read_meta(path: Path) -> dict:
    """meta.json (the last command and its time) is informational: a damaged one is ignored, said so,
    and rewritten by the next command that trains."""
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict):
        print(f"lengthgen: note: {path} is unreadable; ignored (it only records the last command; the next "
              "training run rewrites it)", file=sys.stderr)
        return {}
    return meta


def _stored_before_predictions(suite: Suite, runs: list[StoredRun], recorded_at: str | None,
                               copied: dict) -> list[str]:
    """A warning (as report lines) if some runs were stored before the predictions were recorded:
    predictions are re-recorded when their text changes, and reused runs then predate them, so
    their verdicts do not test a prediction made before training."""
    if not recorded_at:
        return []
    when = datetime.fromisoformat(recorded_at)
    early = [r for r in runs if r.finished_at and datetime.fromisoformat(r.finished_at) < when and r.key not in copied]
    # a run copied from another suite's store was trained there, under that suite's predictions
    borrowed = sorted({Path(copied[r.key]["from"]).name for r in runs if r.key in copied and r.finished_at
                       and datetime.fromisoformat(r.finished_at) < when})
    note = [f"Note: runs copied from {', '.join(borrowed)} were trained there before these predictions were recorded "
            "(after that suite's own); the claims of this suite that only they decide test a prediction recorded after "
            "their training (the predictions are computed from the task definitions alone, so they would have been the "
            "same), and each such run is listed under *Computed* with its training time.", ""] if borrowed else []
    if not early:
        return note
    return note + [f"**Warning: {len(early)} of {len(runs)} runs were stored before these predictions were recorded** (the "
            "predictions changed after those runs were trained), so their verdicts do not test a prediction made "
            f"before training; `lengthgen report --suite {suite.name} --fresh` retrains every run after it.", ""]


def _profile_text(task: str, pred: dict) -> str:
    """The recorded profile without its leading task name (the report names the task already)."""
    text = pred.get("profile", "?")
    return text[len(task) + 2:] if text.startswith(f"{task}: ") else text


def _fmt(v) -> str:
    return "—" if v is None else str(v)


def render(suite: Suite, directory: Path, command: str, invocation_seconds: float | None,
           started_at: str | None = None) -> dict:
    """Write every report artefact from the store; return the verdicts (claim -> verdict).

    ``started_at`` (ISO time the invocation began) separates runs it trained from runs it reused."""
    directory.mkdir(parents=True, exist_ok=True)
    copied = read_copied(directory)  # first: a damaged file must stop the rendering before it writes anything
    store = RunStore(directory)
    stored = store.runs()
    specs = suite.runs()
    missing = [s for s in specs if s.key not in stored]
    if missing:
        raise StoreError(f"{len(missing)} of {len(specs)} runs of suite {suite.name!r} have no stored result in "
                         f"{directory}; run `lengthgen report --suite {suite.name}` (without --no-train) to compute them")
    runs = [stored[s.key] for s in specs]
    preds_path = directory / "predictions.json"
    preds = _read_predictions(preds_path) if preds_path.exists() else record_predictions(suite, directory)
    meta_path = directory / "meta.json"
    meta = _read_meta(meta_path) if meta_path.exists() else {}
    if invocation_seconds is not None:
        trained = [r.key for r in runs if started_at and r.finished_at and r.finished_at >= started_at]
        meta = {"command": command, "invocation_seconds": round(invocation_seconds, 1),
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "started_at": started_at, "trained": trained, "overrides": list(suite.overrides)}
        write_json(meta_path, meta)

    n = suite.train_max
    claims = suite_claims(suite, directory.parent)  # (transfer claims: AuxPredicts reads sibling suites)
    unregistered = [c.name for c in claims if c.name not in preds.get("claims", {})]
    if unregistered:
        raise StoreError(f"{preds_path} holds no prediction for {unregistered[0]!r}; predictions must be recorded "
                         f"before training: re-run `lengthgen report --suite {suite.name}`")
    judged = {c.name: c.judge(runs, preds["claims"][c.name]["prediction"]) for c in claims}
    for c in claims:
        judged[c.name].differs, judged[c.name].published_source = c.differs, c.published_source
    conditions = list(suite.condition_names)
    csv_rows, sections, previous_section = [], [], ""
    for plan in suite.plans:
        task_runs = [r for r in runs if r.spec.task == plan.task]
        csv_rows += results_rows(suite.name, n, task_runs)
        plots.accuracy_vs_length(plan.task, task_runs, n, directory / f"{file_stem(plan.task)}_accuracy.png", conditions)
        plots.bound_vs_error(plan.task, task_runs, n, directory / f"{file_stem(plan.task)}_bound.png", conditions)
        plots.training_curves(plan.task, task_runs, directory / f"{file_stem(plan.task)}_training.png", conditions)
        task_verdicts = [judged[c.name] for c in claims if c.task == plan.task]
        if plan.section and plan.section != previous_section:
            sections.append(f"# {plan.section}\n")
        previous_section = plan.section
        sections.append(_task_section(suite, plan, task_runs, preds["tasks"].get(plan.task, {}), task_verdicts))
    verdicts = list(judged.values())
    from .transfer_report import has_transfer_claims, transfer_sections  # (transfer claims, issue 11)

    if has_transfer_claims(suite):  # (transfer claims, issue 11): their sections go after the per-task ones
        sections.append("\n".join(transfer_sections(suite, runs, directory, verdicts)))
    from .long_context_report import has_chunk_selection, long_context_sections  # (HSA runs, issue 13)

    if has_chunk_selection(runs):  # chunk selection and the benchmark's efficiency table, after the per-task ones
        sections.append("\n".join(long_context_sections(suite, runs, directory)))
    suite_verdicts = [judged[c.name] for c in claims if c.task is None]

    store.export_json()
    export_csv(directory / "results.csv", csv_rows)
    write_json(directory / "verdicts.json", [dataclasses.asdict(v) for v in verdicts])
    _atomic_write(directory / "report.md", _document(suite, runs, preds, sections, verdicts, suite_verdicts, meta,
                                                       copied))
    write_html(directory / "report.md")  # report.html beside it: the same content, plots embedded
    return {v.claim: v.verdict for v in verdicts}


def file_stem(task: str) -> str:
    """A file-name stem for a task reference (a task file's path becomes its stem)."""
    return Path(task).stem if task.endswith(".py") else task


def mixture_text(spec) -> str:
    """A run's recipe in one line: the primary, each item with lengths × weight, the parent it starts from."""
    parts = [f"primary {spec.train_lengths[0]}..{spec.train_lengths[1]}"]
    parts += [f"{i.source} {i.lengths[0]}..{i.lengths[1]} ×{i.weight:g}" + (f" [{i.token}]" if i.kind != "restriction" else "")
              for i in spec.mixture]
    text = " + ".join(parts)
    return text + (f"; finetuned from {spec.init_from.condition} (same seed)" if spec.init_from else "")


def results_rows(suite_name: str, train_max: int, task_runs: list[StoredRun]) -> list[dict]:
    """results.csv rows: (run, length) for finished runs, one row with empty metrics for a failed run
    (lengths above ``train_max`` are test lengths)."""
    rows = []
    for run in task_runs:
        s = run.spec
        base = {"suite": suite_name, "task": s.task, "condition": s.condition, "seed": s.seed, "run_key": run.key,
                "status": run.status, "reason": run.reason.split(" | ")[0], "scheme": s.position_scheme,
                "layers": s.layers, "d_model": s.d_model, "heads": s.heads, "steps": s.train.steps,
                "train_lo": s.train_lengths[0], "train_hi": s.train_lengths[1], "mixture": mixture_text(s),
                "init_from": s.init_from.key if s.init_from else "",
                "best_step": run.best_step if run.ok else "", "validation_exact": run.validation_exact if run.ok else ""}
        if not run.ok:
            rows.append(base)
            continue
        rows += [{**base, **row} for row in length_rows(run, run.spec.train_lengths[1])]
    return rows


def _task_section(suite: Suite, plan, task_runs: list[StoredRun], pred: dict, verdicts: list) -> str:
    n = suite.train_max
    stem = file_stem(plan.task)
    layers, d_model, heads = plan.size(suite)
    overridden = [f"`{c.name}`: `{c.position_scheme}`" for c in suite.plan_conditions(plan)
                  if c.position_scheme and c.position_scheme != plan.position_scheme]
    steps = sorted({r.spec.train.steps for r in task_runs}) or [plan.steps or suite.steps]
    lines = [f"## {plan.task}", "",
             f"Rule: `{pred.get('rule', '?')}` — profile: {_profile_text(plan.task, pred)}. "
             f"Position scheme: `{plan.position_scheme}` ({plan.why})"
             + (f"; per condition: {', '.join(overridden)}" if overridden else "") + ". "
             f"Model: {layers} layers, d = {d_model}, {heads} heads; {'/'.join(map(str, steps))} steps; seeds "
             f"{', '.join(map(str, plan.seeds_in(suite)))}.", "",
             f"![accuracy vs length]({stem}_accuracy.png)", "",
             "| condition | seed | status | chosen step | val. EM (1..n) | fits training range | OOD EM (n+1..) | "
             "N*(δ) certified | N*(δ) if consistent | measured N(δ) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    order = {c: i for i, c in enumerate(suite.condition_names)}
    for run in sorted(task_runs, key=lambda r: (order.get(r.spec.condition, 99), r.spec.seed)):
        s = run.spec
        if not run.ok:
            lines.append(f"| {s.condition} | {s.seed} | **failed**: {run.reason.split(' | ')[0]} | — | — | no | 0 | — | — | — |")
            continue
        own_n = s.train_lengths[1]  # a condition may train the primary shorter than the suite's n
        L = lengths_summary(run, own_n, suite.delta)
        fits = "yes" if run.validation_exact >= suite.fit_threshold else "**no**"
        lines.append(f"| {s.condition} | {s.seed} | ok | {run.best_step} | {run.validation_exact:.3f} | {fits} | "
                     f"{ood_exact_match(run, own_n):.3f} | {_fmt(L['certified'])} | {_fmt(L['certified_assuming_consistency'])} | "
                     f"{_fmt(L['measured'])} |")
    lines.append("")
    for condition in suite.condition_names:
        group = [r for r in task_runs if r.spec.condition == condition]
        if not group:
            continue
        unfit = sum(1 for r in group if not fits_training_range(r, suite.fit_threshold))
        lines.append(f"- {condition}: {unfit}/{len(group)} seeds failed to fit the training range "
                     f"(validation exact match < {suite.fit_threshold} or a failed run).")
    lines += ["", f"![bound vs error]({stem}_bound.png)", "",
              _exact_match_table(suite, task_runs, n), "",
              f"![training curves]({stem}_training.png)", ""]
    for verdict in verdicts:
        lines += [f"**Verdict — {verdict.claim}: {verdict.verdict.upper()}.** {verdict.statistic}.", ""]
    return "\n".join(lines)


def _exact_match_table(suite: Suite, task_runs: list[StoredRun], n: int) -> str:
    """Exact match per length (mean over seeds, with the pooled 95% Wilson interval)."""
    from .stats import wilson_interval

    ok = [r for r in task_runs if r.ok]
    if not ok:
        return ""
    lengths = [m.length for m in ok[0].measurements]
    shown = [L for L in lengths if L in (n, n + 1, n + 2) or L % n == 0 or L == lengths[-1]]
    header = "| condition | " + " | ".join(f"N={L}" for L in shown) + " |"
    lines = ["Exact match per length (mean over seeds; pooled 95% Wilson interval):", "", header,
             "|---|" + "---|" * len(shown)]
    for condition in suite.condition_names:
        group = [r for r in ok if r.spec.condition == condition]
        if not group:
            continue
        cells = []
        for L in shown:
            ms = [next(m for m in r.measurements if m.length == L) for r in group]
            k, total = sum(m.exact for m in ms), sum(m.instances for m in ms)
            lo, hi = wilson_interval(k, total)
            cells.append(f"{np.mean([m.exact / m.instances for m in ms]):.3f} [{lo:.2f}, {hi:.2f}]")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _conditions_text(suite: Suite, runs: list[StoredRun]) -> list[str]:
    lines = []
    for condition in suite.conditions:
        mine = [r.spec for r in runs if r.spec.condition == condition.name]
        example = mine[0] if mine else None
        recipe = mixture_text(example) if example is not None else "(no runs)"
        steps = "/".join(map(str, sorted({s.train.steps for s in mine}))) if mine else str(condition.steps or suite.steps)
        tasks = sorted({s.task for s in mine})
        scheme = f"; positions `{condition.position_scheme}`" if condition.position_scheme else ""
        trained_by = f"; tasks {', '.join(tasks)}" if len(suite.plans) > 1 and tasks else ""
        lines.append(f"- condition `{condition.name}`: {recipe}{scheme}; {steps} steps{trained_by}"
                     + (f" — {condition.why}" if condition.why else ""))
    return lines


def _test_lengths_text(runs: list[StoredRun]) -> str:
    lengths = sorted({L for r in runs for L in r.spec.test_lengths})
    if lengths == list(range(lengths[0], lengths[-1] + 1)):
        return f"every length {lengths[0]}..{lengths[-1]}"
    return "lengths " + ", ".join(map(str, lengths))


def _model_text(suite: Suite, spec0) -> str:
    sizes = {plan.size(suite) for plan in suite.plans}
    # a condition's own budget counts too (a stage, a slower mixer): one number only when all agree
    steps = {c.steps or plan.steps or suite.steps for plan in suite.plans for c in suite.plan_conditions(plan)}
    # said only when not fp32, so the reports of fp32 suites render as before
    precision = "" if suite.precision == "fp32" else (
        f"; trained in {suite.precision} mixed precision (token mixing, losses and optimizer in fp32; "
        "validation and evaluation in fp32)")
    if suite.skip_padding:
        precision += ("; training passes skip the batch's right padding in the layers that treat tokens one at a "
                      "time (the same loss up to float rounding)")
    if len(sizes) == 1 and len(steps) == 1:
        (layers, d_model, heads), = sizes
        return (f"- model: {layers} layers, d = {d_model}, {heads} heads; AdamW lr {spec0.train.lr}, {steps.pop()} steps; "
                f"seeds {', '.join(map(str, suite.seeds))}{precision}")
    return (f"- model and budget per task (chosen on training-length validation; each task's section says): AdamW lr "
            f"{spec0.train.lr}; seeds {', '.join(map(str, suite.seeds))}{precision}")


def threads_text(runs: list[StoredRun]) -> str:
    """How many torch threads the runs computed with: results are reproducible per spec *and* thread
    count (CPU float reductions depend on it; ``verify.runner`` gives each of w workers cores // w)."""
    counts = Counter(run.threads for run in runs)
    parts = [f"{n} run{'s' if n != 1 else ''} with {t} thread{'s' if t != 1 else ''}" for t, n in sorted(counts.items()) if t]
    if counts.get(0):
        parts.append(f"{counts[0]} not recorded (stored before the thread count was)")
    return ("Torch threads per run (the same spec computed with another thread count differs in its last bits): "
            + "; ".join(parts) + ".")


def _computed_text(runs: list[StoredRun], meta: dict, copied: dict) -> list[str]:
    """Which runs the last invocation that trained computed, and which it reused (stored when)."""
    trained = set(meta.get("trained") or [])
    if "trained" not in meta:
        return ["Which runs the last invocation trained is not recorded (a report rendered before this was kept)."]
    reused = [r for r in runs if r.key not in trained and r.key not in copied]
    lines = [f"This report's last training invocation (started {meta.get('started_at') or 'unknown'}) trained "
             f"{len(trained & {r.key for r in runs})} of {len(runs)} runs and reused {len(reused)} from the store."]
    mine = [r for r in runs if r.key in copied]
    if mine:
        lines.append(f"Copied from other suites' stores under the same run key (the same spec: task definitions, data "
                     f"format, model, budget, seed; so the same numbers), with the time they were trained there: "
                     + ", ".join(f"{r.spec.task}/{r.spec.condition}/seed {r.spec.seed} ({r.key}, from "
                                 f"{Path(copied[r.key]['from']).name}, trained {copied[r.key].get('finished_at')})"
                                 for r in mine) + ".")
    lines.append(threads_text(runs))
    if trained:
        lines.append("Trained: " + ", ".join(f"{r.spec.task}/{r.spec.condition}/seed {r.spec.seed} ({r.key})"
                                             for r in runs if r.key in trained) + ".")
    if reused:
        lines.append("Reused: " + ", ".join(f"{r.spec.task}/{r.spec.condition}/seed {r.spec.seed} ({r.key}, stored "
                                            f"{r.finished_at or 'at an unknown time'})" for r in reused) + ".")
    return lines


def _document(suite: Suite, runs: list[StoredRun], preds: dict, sections: list[str], verdicts, suite_verdicts,
              meta: dict, copied: dict | None = None) -> str:
    copied = copied or {}
    spec0 = runs[0].spec
    n, top = suite.train_max, max(max(r.spec.test_lengths) for r in runs)
    train_seconds = sum(r.wall_seconds for r in runs)
    failed = sum(1 for r in runs if not r.ok)
    head = [f"# lengthgen report — suite `{suite.name}`", ""]
    if suite.overrides:
        head += [f"> **Quick look, not the suite as committed:** overridden on the command line: "
                 f"{'; '.join(suite.overrides)}. Written to its own folder.", ""]
    from .transfer_report import has_transfer_claims  # (transfer claims, issue 11: every transfer kind)

    transfer = has_transfer_claims(suite)
    theory = ("**What this checks.** Cai et al. (NeurIPS 2025) found that a main task trained at short lengths "
              "extrapolates toward the length of a *related* auxiliary task trained longer, and that unrelated "
              "auxiliaries do not carry it. lengthgen predicts from the two definitions alone, before training, "
              "which auxiliaries are related (`auxtasks/relatedness.py`), and compares the main task's exact "
              "match beyond its training range with and without each auxiliary, every seed shown."
              ) if transfer else (
        "**What this checks.** The auxiliary-task theory of Awasthi, Gupta & Kumar (NeurIPS 2025) says that for "
        "tasks whose every output depends on few tokens (k-sparse), low error on the primary task plus low error on "
        "its *restriction tasks* — short sub-sequences of long instances that keep each output's support, with the "
        "original position ids — bounds the error at longer lengths: P[error at N] ≤ r(N)·ε(N) (+ r(N)·(1 − c(N)) "
        "when the model is not fully restriction-consistent).")
    head += [
        f"{suite.description}.", "",
        (suite.about or theory) + (" Each task is trained under every condition below" if all(not p.conditions for p in suite.plans)
                                   else " Each task is trained under the conditions its plan names")
        + " and evaluated at every length.", "",
        "**How to read it.** Shaded regions are the training range. Thin lines are single seeds, thick lines the mean "
        "with a 95% t interval over seeds (with 2–3 seeds it is wide). In the bound plots, a solid line below its "
        "dashed twin means the theorem's bound held for that seed. N*(δ) is the largest length up to which the bound "
        f"stays ≤ δ (δ = {suite.delta}); the measured N(δ) is the largest length up to which the measured error stays "
        "≤ δ. A certificate is only meaningful where it does not exceed the measured length.", "",
        # the agreement table first: claim by claim, the paper, lengthgen's prediction and the verdict
        *agreement_markdown(verdicts),  # (only where claims record a published direction or prediction)
        "## Setup", "",
        f"- primary trained at lengths 1..{n}" + ("" if all(r.spec.train_lengths[1] == n for r in runs) else
                                                   " (unless a condition below says otherwise)")
        + f"; evaluated at {_test_lengths_text(runs)} on a fixed evaluation set of {suite.eval_instances} instances "
          "per length (the same instances for every run)",
        *_conditions_text(suite, runs),
        f"- restriction tasks (training items and the measurement of ε, c): m = {spec0.restriction_m} tokens, drawn "
        f"from instances of length {spec0.restriction_lengths[0]}..{spec0.restriction_lengths[1]}; an item of weight "
        f"w adds w × {spec0.train.batch} rows to the {spec0.train.batch} primary rows of every step",
        _model_text(suite, spec0),
        f"- checkpoint: the best of every {suite.eval_every} steps on validation instances at training lengths only "
        "(ties → later); test lengths never choose anything",
        "", "## Predictions (recorded before training)", "",
        f"Recorded at {preds.get('recorded_at', 'unknown')}.", "",
        *_stored_before_predictions(suite, runs, preds.get("recorded_at"), copied),
    ]
    for task, p in preds["tasks"].items():
        head.append(f"- **{task}**: {_profile_text(task, p)}.")
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
    bound_section = []
    for v in suite_verdicts:
        if v.expected:  # a suite-wide claim other than the bound (an ordering across tasks): a short section
            bound_section += [f"## {v.claim[0].upper()}{v.claim[1:]}", "", f"{v.statement} Source: {v.source}.", "",
                              f"**Verdict: {v.verdict.upper()}.** {v.statistic}.", ""]
            continue
        bound_section += [f"## {v.claim[0].upper()}{v.claim[1:]}", "",
                          f"Cells are (run, test length) pairs with consistency c(N) = {CONSISTENT:g}: every measured "
                          "restriction was answered as on its full instance. Where p < m a restriction keeps the whole "
                          "prefix, so those positions are consistent by construction.", "",
                          f"**Verdict: {v.verdict.upper()}.** {v.statistic}.", ""]
    import torch

    footer = ["---", "",
              f"Runs: {len(runs)} ({failed} failed), seeds {', '.join(map(str, suite.seeds))}. "
              f"Compute stored in these runs: {train_seconds:.0f} worker-seconds. "
              f"Last invocation that trained: {meta.get('invocation_seconds', 'unknown')} s wall "
              f"(finished {meta.get('finished_at', 'unknown')}).",
              *_computed_text(runs, meta, copied),
              f"Command: `{meta.get('command', 'lengthgen report --suite ' + suite.name)}`. "
              f"Python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}.",
              "Data: `results.csv` (every run × length, failed runs with their status), `runs.json` (every stored run; "
              "a snapshot of `runs.sqlite`), `verdicts.json`, `predictions.json`; chosen checkpoints in `weights/` "
              "(not in git).", ""]
    return "\n".join(head + sections + bound_section + footer)
