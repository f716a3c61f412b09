"""``lengthgen propose``: what to train beside a new primary task, why, and (optionally) a quick screen.

The proposal is computed from the definition alone (``auxtasks.derive``): the structure
profile, the ranked auxiliary tasks with their provenance, supporting theory, an example and the
suggested mixture, and what theory predicts for the primary alone.  ``screen`` trains small models
(primary alone, primary + each candidate, several seeds) inside a time budget and ranks the
candidates by exact match beyond the training range — a screen, not a verdict.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from auxtasks.derive import Auxiliary, Derivation, NoAuxiliaries, derive
from theory.opaque import NOT_ANALYSED
from theory.serialize import Vocab, serialize
from theory.task import Task, TaskDefinitionError

from .stats import bootstrap_mean_interval

MIN_STEPS = 100  # fewer steps than this train nothing worth ranking


class ScreenError(TaskDefinitionError):
    """The screen cannot run as asked (e.g. the budget is too small)."""


def _example(aux: Auxiliary, primary: Task, train_max: int) -> dict:
    rng = np.random.default_rng(0)
    if aux.restriction is not None:
        N = min(2 * train_max, aux.lengths[1])
        vocab = Vocab(primary.symbols, (primary.name,))
        _, restricted = aux.restriction.sample_at(rng, 1, N, vocab)
        batch, note = restricted.batch, f"a restriction of a length-{N} instance"
    else:
        n_value = max(aux.task.min_length, min(train_max, 6, aux.task.max_length or 6))
        vocab = Vocab(aux.task.symbols, (aux.token_name,))
        inputs, sol = aux.task.generate(rng, 1, n_value)
        batch, note = serialize(aux.task, inputs, sol.outputs, vocab), f"n = {n_value}"
    return {"note": note, "tokens": batch.tokens[0].tolist(), "positions": batch.positions[0].tolist(),
            "loss_mask": batch.mask[0].astype(int).tolist()}


def predictions_for_primary(derivation: Derivation) -> list[str]:
    p = derivation.profile
    out = []
    if p.opaque:
        out.append("opaque task: no symbolic analysis, so no C-RASP prediction (Huang et al. 2025)")
    elif p.crasp.member:
        out.append("C-RASP at definition level: expect extrapolation with learned absolute positions trained with "
                   "random offsets, without auxiliaries (Huang et al. 2025)")
    else:
        out.append(f"not C-RASP at definition level ({'; '.join(p.crasp.reasons)}): do not expect extrapolation "
                   "without auxiliaries (Huang et al. 2025)")
    if p.bounded:
        out.append(f"k-sparse with k = {p.k}: the AGK bound applies; restriction error and consistency certify "
                   "longer lengths (Awasthi, Gupta & Kumar 2025)")
    else:
        out.append(f"support grows with n ({p.sparsity()}): the AGK bound does not apply to the primary as defined")
    return out


def proposal(primary: Task, train_max: int, reindex: bool = False) -> dict:
    """The whole proposal as plain data (what ``--format json`` prints)."""
    derivation = derive(primary, train_max, reindex)
    if not derivation.auxiliaries:
        raise NoAuxiliaries(f"task {primary.name!r} has no derivable auxiliary task: " + "; ".join(derivation.skipped))
    p = derivation.profile
    return {
        "task": primary.name,
        "rule": f"opaque: {primary.solver_note}" if p.opaque else f"y[t] = {primary.rule}",
        "profile": {
            "sparsity": p.sparsity(), "k": p.k, "bounded": p.bounded,
            "provenance_sparsity": p.provenance_sparsity(),
            "witnesses": [{"intermediate": w.intermediate, "reads": [str(r) for r in w.reads], "evidence": w.evidence}
                          for w in p.witnesses],
            "dependencies": sorted({d.kind for d in p.dependencies}),
            "crasp": p.crasp.member, "crasp_reasons": list(p.crasp.reasons),
            "coupling": p.coupling.summary(), "opaque": p.opaque,
        },
        "primary_alone": predictions_for_primary(derivation),
        "train_lengths": [1, train_max],
        "auxiliaries": [{
            "rank": rank, "name": aux.name, "family": aux.family, "derived_from": aux.provenance,
            "theory": aux.theory, "note": aux.note, "weight": aux.weight, "lengths": list(aux.lengths),
            "example": _example(aux, primary, train_max),
        } for rank, aux in enumerate(derivation.auxiliaries, 1)],
        "not_derived": derivation.skipped,
    }


def render_text(prop: dict) -> str:
    p = prop["profile"]
    opaque = p.get("opaque", False)
    lines = [f"{prop['task']}: {prop['rule']}",
             f"  profile: sparsity {p['sparsity']}; dependencies: {NOT_ANALYSED if opaque else ', '.join(p['dependencies'])}",
             f"           C-RASP: {NOT_ANALYSED if opaque else 'yes' if p['crasp'] else 'no'}; coupling: {p['coupling']}",
             *([f"           sparsity is of the minimal visible support (by provenance: {p['provenance_sparsity']}); "
                + "; ".join(f"{w['intermediate']}[t] ← {', '.join(w['reads'])}" for w in p["witnesses"])
                + ": earlier outputs stand for the hidden intermediates"] if p.get("witnesses") else []),
             "", "Theory for the primary alone:"]
    lines += [f"  - {line}" for line in prop["primary_alone"]]
    lines += ["", f"Auxiliary tasks, ranked (primary trained at lengths {prop['train_lengths'][0]}.."
                  f"{prop['train_lengths'][1]}; weight = rows per primary row and loss weight):"]
    for aux in prop["auxiliaries"]:
        ex = aux["example"]
        lines += [f"  {aux['rank']}. {aux['name']}  [{aux['family']}]  weight {aux['weight']}, lengths "
                  f"{aux['lengths'][0]}..{aux['lengths'][1]}",
                  f"     derived from: {aux['derived_from']}",
                  f"     theory:       {aux['theory']}"]
        if aux["note"]:
            lines.append(f"     note:         {aux['note']}")
        lines += [f"     example ({ex['note']}): tokens {ex['tokens']}",
                  f"     {'':{len(ex['note']) + 10}s} positions {ex['positions']}",
                  f"     {'':{len(ex['note']) + 10}s} loss mask {ex['loss_mask']}"]
    if prop["not_derived"]:
        lines += ["", "Not derived:"] + [f"  - {why}" for why in prop["not_derived"]]
    return "\n".join(lines)


def screen(primary_name: str, train_max: int, budget: float, seeds: int = 2, workers: int = 2,
           top: int | None = None, out: Path | None = None, show_progress: bool = True,
           model: tuple[int, int, int] = (2, 64, 4), min_steps: int = MIN_STEPS, eval_instances: int = 128) -> list[dict]:
    """Train primary alone and primary + each candidate within ``budget`` seconds; rank by OOD exact match.

    The step count is calibrated here: 30 steps of the heaviest mixture are timed single-threaded
    (as in a worker), and the budget is split over all runs with 20% kept for start-up and evaluation.
    """
    import torch

    from auxtasks.derive import resolve_task

    from .claims import ood_exact_match
    from .run import RunSpec, build
    from .runner import run_all
    from .suite import RESTRICTION, Condition, build_spec, default_position_scheme, run_lengths
    from .train import train as train_fn

    primary = resolve_task(primary_name)
    derivation = derive(primary, train_max)
    candidates = derivation.auxiliaries[:top] if top else derivation.auxiliaries
    if not candidates:
        raise NoAuxiliaries(f"task {primary.name!r} has no derivable auxiliary task: " + "; ".join(derivation.skipped))
    scheme = default_position_scheme(derivation.profile)
    lengths = run_lengths(primary, train_max, 2 * train_max)
    test_hi = lengths["test_lengths"][-1]

    def spec(condition: str, auxiliaries: tuple[str, ...], seed: int, steps: int) -> RunSpec:
        return build_spec(primary, primary_name, Condition(condition, auxiliaries), seed, train_max, 2 * train_max,
                          steps, scheme, layers=model[0], d_model=model[1], heads=model[2],
                          eval_every=max(50, steps // 4), eval_instances=eval_instances, validation_instances=64,
                          data_seed=2000 + seed)

    # each candidate at its derived lengths and weight (build_spec resolves a derived name to them)
    conditions = [("primary", ())] + [(f"+{aux.name}", (RESTRICTION if aux.restriction is not None else aux.name,))
                                      for aux in candidates]
    # calibrate: time training steps of the heaviest mixture here, single-threaded as in a worker
    torch.set_num_threads(1)
    probe = spec(conditions[-1][0], conditions[-1][1], 0, 30)
    _, _, vocab, probe_model, sources = build(probe)
    started = time.perf_counter()
    train_fn(probe_model, sources, probe.train, vocab.pad, validate=lambda _: (0.0,))
    step_seconds = (time.perf_counter() - started) / probe.train.steps
    runs = len(conditions) * seeds
    per_run = budget * workers / runs * 0.8  # 20% for start-up and evaluation
    steps = int(per_run / step_seconds)
    if steps < min_steps:
        need = min_steps * step_seconds * runs / workers / 0.8
        raise ScreenError(f"a budget of {budget:.0f} s gives {steps} training steps per run ({runs} runs, "
                          f"{step_seconds * 1000:.0f} ms/step); at least {min_steps} are needed: use --budget "
                          f"{need:.0f} or more, or fewer candidates (--top)")
    specs = [spec(label, auxes, seed, steps) for label, auxes in conditions for seed in range(seeds)]
    directory = out or Path(tempfile.mkdtemp(prefix="lengthgen-screen-"))
    stored = run_all(specs, directory, workers, show_progress=show_progress)
    rows = []
    for label, _ in conditions:
        group = [stored[s.key] for s in specs if s.condition == label]
        ood, tok = [], []
        for run in group:
            ood.append(ood_exact_match(run, train_max))
            tested = [m.token_accuracy for m in run.measurements if m.length > train_max] if run.ok else []
            tok.append(float(np.mean(tested)) if tested else 0.0)
        lo, hi = bootstrap_mean_interval(ood)
        rows.append({"condition": label, "seeds": len(group), "failed": sum(not r.ok for r in group),
                     "ood_exact_match": float(np.mean(ood)), "ci": [lo, hi], "ood_token_accuracy": float(np.mean(tok)),
                     "steps": steps, "test_lengths": [train_max + 1, test_hi]})
    baseline, rest = rows[0], rows[1:]
    rest.sort(key=lambda r: (r["ood_exact_match"], r["ood_token_accuracy"]), reverse=True)
    return [baseline] + rest


def render_screen(rows: list[dict]) -> str:
    first = rows[0]
    lines = ["", f"SCREEN (quick models, {first['steps']} steps, {first['seeds']} seeds each; exact match at lengths "
                 f"{first['test_lengths'][0]}..{first['test_lengths'][1]}; a screen, not a verdict):",
             f"  {'condition':40s} {'OOD exact match':>16s}  {'95% CI (seeds)':>16s}  {'OOD token acc':>13s}  failed"]
    for r in rows:
        lines.append(f"  {r['condition']:40s} {r['ood_exact_match']:16.3f}  [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]  "
                     f"{r['ood_token_accuracy']:13.3f}  {r['failed']}/{r['seeds']}")
    return "\n".join(lines)


def related_companions(primary: Task, train_max: int) -> dict:
    """Catalogue and derived tasks ranked as longer-trained companions of ``primary`` by their
    definition-level relatedness (``auxtasks.relatedness``), as plain data (``--related``).

    Each companion is suggested at lengths up to 2x the primary's (aux/main ratio 2, the edge of
    Cai et al.'s window [0.5, 2]), clipped to what it admits; lengths are each task's own length.
    """
    from auxtasks.relatedness import TRANSFER_THRESHOLD, WEIGHTS, companion_candidates, rank_companions

    candidates = {c.name: c for c in companion_candidates(primary, train_max)}
    rows = []
    for rank, rel in enumerate(rank_companions(primary, list(candidates.values())), 1):
        task = candidates[rel.aux]
        hi = min(2 * train_max, task.max_length or 2 * train_max)
        row = rel.to_dict() | {"rank": rank, "suggested_lengths": [task.min_length, hi],
                               "ratio": round(hi / train_max, 3)}
        rows.append(row)
    return {"threshold": TRANSFER_THRESHOLD, "weights": WEIGHTS,
            "score": "weighted mean of the applicable components (auxtasks.relatedness)", "companions": rows}


def render_related(related: dict, train_max: int) -> str:
    weights = ", ".join(f"{k} {w}" for k, w in related["weights"].items())
    lines = ["", f"Related companions, ranked (to train longer beside the primary at 1..{train_max}; score = weighted "
                 f"mean of the components ({weights}); transfer predicted at score >= {related['threshold']}):"]
    opaque = []
    for row in related["companions"]:
        if not row["analysed"]:
            opaque.append(f"  - {row['aux']}: {row['declared'] or NOT_ANALYSED}"
                          + ("; transfer predicted by declaration" if row["predicts_transfer"] else ""))
            continue
        verdict = "transfer predicted" if row["predicts_transfer"] else "no transfer predicted"
        lo, hi = row["suggested_lengths"]
        window = "" if 0.5 <= row["ratio"] <= 2 else f", outside Cai et al.'s window [0.5, 2]"
        lines.append(f"  {row['rank']:2d}. {row['aux']}  score {row['score']:.2f}  {verdict}  "
                     f"(train at {lo}..{hi}, ratio {row['ratio']:g}{window})")
        for c in row["components"]:
            value = "n/a " if c["value"] is None else f"{c['value']:.2f}"
            lines.append(f"      {c['name']:16s} {value}  {c['reason']}")
    if opaque:
        lines += ["  Not analysed (an opaque task on either side has no rule to compare):"] + opaque
    return "\n".join(lines)
