"""The long-context sections of a report (hierarchical sparse attention, issue 13): chunk selection and efficiency.

``long_context_sections`` writes two sections for a suite whose runs stored ``chunk_selection``
(``has_chunk_selection``; ``verify.report.render`` calls it only then):

* **Chunk selection**: per HSA condition and test length, the share of outputs whose support chunks
  the query's top-k selection held (``verify.probes.chunk_selection``), pooled over seeds and per
  seed, beside the condition's exact match, and one plot of both against length.  Every number is
  read from the stored runs (``runs.json`` in a fresh clone), never recomputed from weights.
* **Efficiency**: time and peak memory per token against context length, read from
  ``efficiency.json`` in the report folder, which ``benchmarks/hsa_scaling.py --json`` writes.  The
  suite's runs time no forward pass per length, so these numbers are the benchmark's, and the
  section says so, with the command and date that produced them; without the file it says how to
  make it, and a damaged file gives one line naming it and the fix, never a traceback.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from . import plots
from .spec import HSA_MIXERS, StoredRun

EFFICIENCY_FILE = "efficiency.json"
BENCHMARK = "benchmarks/hsa_scaling.py"
EFFICIENCY_FORMAT = 1  # the layout benchmarks/hsa_scaling.py writes (its JSON_FORMAT)
_ROOT = Path(__file__).resolve().parent.parent  # the checkout: paths in the report are relative to it


def has_chunk_selection(runs: list[StoredRun]) -> bool:
    """Whether any run stored a chunk selection (a run of an HSA mixer measured after it existed)."""
    return any(r.chunk_selection for r in runs)


def _ordered_hsa_conditions(suite, runs: list[StoredRun]) -> list[str]:
    hsa = {r.spec.condition for r in runs if r.spec.mixer in HSA_MIXERS}
    return [c for c in suite.condition_names if c in hsa]


def run_selection(run: StoredRun) -> dict[int, tuple[int, int]]:
    """length -> (covered, total) of one run (empty if it failed or was stored before the probe)."""
    return {length: (covered, total) for length, covered, total in run.chunk_selection}


def _pooled(counts) -> dict[int, tuple[int, int]]:
    """length -> (hits, total) summed over ``counts``, an iterable of (length, hits, total), by length."""
    pooled: dict[int, tuple[int, int]] = {}
    for length, hits, total in counts:
        h, t = pooled.get(length, (0, 0))
        pooled[length] = (h + hits, t + total)
    return dict(sorted(pooled.items()))


def pooled_selection(runs: list[StoredRun]) -> dict[int, tuple[int, int]]:
    """length -> (covered, total) summed over ``runs``: every output counts once, whichever seed it is from."""
    return _pooled((length, *pair) for run in runs for length, pair in run_selection(run).items())


def pooled_exact_match(runs: list[StoredRun]) -> dict[int, tuple[int, int]]:
    """length -> (exactly answered instances, instances) summed over the finished ``runs``."""
    return _pooled((m.length, m.exact, m.instances) for run in runs if run.ok for m in run.measurements)


def _share(pair: tuple[int, int] | None) -> float:
    return pair[0] / pair[1] if pair and pair[1] else math.nan


def _cell(pair: tuple[int, int] | None) -> str:
    return "—" if not pair or not pair[1] else f"{pair[0] / pair[1]:.3f} ({pair[0]}/{pair[1]})"


def _probed_instances(runs: list[StoredRun]) -> tuple[list[int], list[int]]:
    """How many instances per length the probe read (total / r(N)) and how many exact match counts."""
    probed, measured = set(), set()
    for run in runs:
        outputs = {m.length: m.outputs for m in run.measurements}
        measured |= {m.instances for m in run.measurements}
        probed |= {total // outputs[length] for length, _, total in run.chunk_selection if outputs.get(length)}
    return sorted(probed), sorted(measured)


def _span(values: list[int]) -> str:
    return "?" if not values else str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def _beyond(pooled: dict[int, tuple[int, int]], top: int) -> tuple[int, int]:
    """(covered, total) summed over the lengths above the training maximum ``top``."""
    pairs = [pair for length, pair in pooled.items() if length > top]
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def chunk_selection_section(suite, runs: list[StoredRun], directory: Path) -> list[str]:
    """Per task with HSA runs: one plot and, per HSA condition, the table of selection and exact match."""
    from .report import file_stem

    conditions = _ordered_hsa_conditions(suite, runs)
    probed, measured = _probed_instances([r for r in runs if r.spec.condition in conditions])
    lines = ["## Long context: chunk selection", "",
             "Chunk-selection accuracy is the share of outputs for which the query's top-k chunk selection (in some "
             "HSA layer and head, at the slot that predicts the output) held every chunk containing the tokens the "
             "output depends on (for a retrieval task: did it pick the chunk holding the key); an output whose "
             "support lies in the query's own chunk counts as selected, since that chunk is always attended. "
             "Selection is necessary for attention to read the key, not sufficient: where exact match falls while "
             "selection holds, the model picked the right chunk and misread it; where both fall together, retrieval "
             "fails at selection; exact match above selection means the answer reached the query another way (a "
             f"recurrence beneath HSA). Selection is measured on the first {_span(probed)} of the evaluation "
             f"instances at each length, exact match on all {_span(measured)} of them; both are counts pooled over "
             "seeds. Lengths inside a condition's training range are marked *(trained)*.", ""]
    for plan in suite.plans:
        task_runs = [r for r in runs if r.spec.task == plan.task and r.spec.condition in conditions]
        if not any(r.chunk_selection for r in task_runs):
            continue
        series = []
        tables: list[str] = []
        for condition in conditions:
            group = sorted((r for r in task_runs if r.spec.condition == condition), key=lambda r: r.spec.seed)
            if not group:
                continue
            lo, top = group[0].spec.train_lengths
            selection, exact = pooled_selection(group), pooled_exact_match(group)
            if selection:
                seeds = [{L: _share(p) for L, p in run_selection(r).items()} for r in group if r.chunk_selection]
                series.append((condition, {L: _share(p) for L, p in selection.items()}, seeds,
                               {L: _share(p) for L, p in exact.items()}, (lo, top)))
            tables += _condition_table(condition, group, selection, exact, lo, top)
        name = f"{file_stem(plan.task)}_chunk_selection.png"
        plots.chunk_selection_vs_length(plan.task, series, directory / name, list(suite.condition_names))
        lines += [f"### {plan.task}", "", f"![chunk selection and exact match vs length]({name})", ""] + tables
    return lines


def _condition_table(condition: str, group: list[StoredRun], selection: dict, exact: dict, lo: int,
                     top: int) -> list[str]:
    """One HSA condition: per test length, selection pooled and per seed, and exact match pooled."""
    lengths = sorted({L for r in group for L in r.spec.test_lengths})
    per_run = [(r, run_selection(r)) for r in group]
    mixer = group[0].spec
    lines = [f"**{condition}** (mixer `{mixer.mixer}`, chunks of {mixer.chunk_size}, top-{mixer.top_k}; trained at "
             f"{lo}..{top}):", "",
             "| N | chunk selection, pooled | " + " | ".join(f"seed {r.spec.seed}" for r, _ in per_run)
             + " | exact match, pooled |", "|---|---|" + "---|" * len(per_run) + "---|"]
    for L in lengths:
        cells = []
        for run, mine in per_run:
            cells.append("failed" if not run.ok else "not measured" if not run.chunk_selection else _cell(mine.get(L)))
        mark = " *(trained)*" if lo <= L <= top else ""
        lines.append(f"| {L}{mark} | {_cell(selection.get(L))} | " + " | ".join(cells) + f" | {_cell(exact.get(L))} |")
    lines.append("")
    failed = sum(1 for r in group if not r.ok)
    unmeasured = sum(1 for r in group if r.ok and not r.chunk_selection)
    notes = ([f"{failed} of {len(group)} runs failed (no measurement)"] if failed else []) + (
        [f"{unmeasured} of {len(group)} runs were stored before chunk selection was measured; re-run them to include "
         "them"] if unmeasured else [])
    if selection:
        beyond_sel, beyond_em = _beyond(selection, top), _beyond(exact, top)
        notes.insert(0, f"beyond the training range (N > {top}), pooled over lengths and seeds: chunk selection "
                        f"{_cell(beyond_sel)}, exact match {_cell(beyond_em)}")
    return lines + [f"- {note}." for note in notes] + [""]


# ---------------------------------------------------------------------------- efficiency (benchmark)


class EfficiencyFileError(ValueError):
    """efficiency.json cannot be read or lacks what the section shows (the message says what)."""


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_efficiency(path: Path) -> dict:
    """The benchmark's table as ``benchmarks/hsa_scaling.py --json`` wrote it, checked field by field;
    ``EfficiencyFileError`` (one line) for anything else."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EfficiencyFileError(f"{type(err).__name__}: {err}".replace("\n", " ")) from None  # one line
    except RecursionError:
        raise EfficiencyFileError("its JSON is nested too deeply to read") from None
    if not isinstance(data, dict):
        raise EfficiencyFileError(f"it holds a JSON {type(data).__name__}, not an object")
    if not _is_count(data.get("format")) or data["format"] != EFFICIENCY_FORMAT:  # (True == 1)
        raise EfficiencyFileError(f"it has format {data.get('format')!r}; this report reads format {EFFICIENCY_FORMAT}")
    for name in ("command", "date", "torch", "baseline"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise EfficiencyFileError(f"its {name!r} is {data.get(name)!r}, not a non-empty string")
    if not _is_count(data.get("threads")):
        raise EfficiencyFileError(f"its 'threads' is {data.get('threads')!r}, not an integer")
    if not isinstance(data.get("settings"), dict):
        raise EfficiencyFileError("it has no 'settings' object")
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        raise EfficiencyFileError("its 'rows' is empty or not a list (no length was measured)")
    for i, row in enumerate(rows):
        problem = None
        if not isinstance(row, dict):
            problem = f"is a {type(row).__name__}, not an object"
        elif not (_is_count(row.get("length")) and row["length"] > 0):
            problem = f"has length {row.get('length')!r}"
        elif not isinstance(row.get("mixer"), str):
            problem = f"has mixer {row.get('mixer')!r}"
        else:
            for name, nullable in (("seconds_per_token", False), ("peak_bytes", False), ("peak_bytes_per_token", False),
                                   ("time_ratio", True), ("memory_ratio", True)):
                if not _is_number(row.get(name), nullable) or (row.get(name) is not None and row[name] < 0):
                    problem = f"has {name} {row.get(name)!r}"
                    break
        if problem:
            raise EfficiencyFileError(f"row {i} {problem}")
    if data["baseline"] not in {row["mixer"] for row in rows}:  # the ratio columns are headed "time × <baseline>"
        raise EfficiencyFileError(f"its baseline {data['baseline']!r} is not the mixer of any row")
    skipped = data.get("skipped_lengths")
    if skipped is not None and not (isinstance(skipped, list) and all(_is_count(L) and L > 0 for L in skipped)):
        raise EfficiencyFileError(f"its 'skipped_lengths' is {skipped!r}, not a list of lengths")
    return data


def _shown(path: Path) -> str:
    """``path`` as the report shows it: relative to the checkout where it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(_ROOT))
    except ValueError:
        return str(path)


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def efficiency_section(suite, runs: list[StoredRun], directory: Path) -> list[str]:
    """Time and memory per token vs length, from the benchmark's efficiency.json in ``directory``."""
    path = Path(directory) / EFFICIENCY_FILE
    make = f"`.venv/bin/python {BENCHMARK} --json {_shown(path)}`"
    lines = ["## Long context: time and memory per token", ""]
    if not path.exists():
        return lines + [f"Not measured here: the suite's runs time no forward pass per length. {make} measures "
                        "forward time and peak memory per token against context length for each mixer (run it on an "
                        "otherwise idle machine: timings are wall time) and writes them to "
                        f"`{EFFICIENCY_FILE}` in this folder; re-render the report (`lengthgen report --suite "
                        f"{suite.name} --no-train`) to show them here.", ""]
    try:
        data = read_efficiency(path)
    except EfficiencyFileError as err:
        return lines + [f"**`{_shown(path)}` is unreadable ({err}); nothing from it is shown.** Re-create it with "
                        f"{make}, or delete it.", ""]
    settings, baseline = data["settings"], data["baseline"]
    load = data.get("load_average")
    lines += [f"These numbers come from the benchmark `{data.get('benchmark', BENCHMARK)}`, not from this suite's "
              f"runs: {settings.get('pass', 'forward passes')}, batch {settings.get('batch', '?')}, of a randomly "
              "initialized model on a random sequence of each length, timed and profiled for peak live tensor memory "
              f"(the transient tensors of the pass, not the weights). Ratios are to the baseline mixer `{baseline}` at "
              "the same length, measured in the same invocation; compare ratios, not absolute times.", "",
              f"Measured {data['date']} with `{data['command']}` — torch {data['torch']}, {data['threads']} thread(s)"
              + (f", load average {load:.1f}" if _is_number(load) else "")
              + f"; model {settings.get('layers', '?')} layers, d = {settings.get('d_model', '?')}, "
                f"{settings.get('heads', '?')} heads; HSA chunks of {settings.get('chunk_size', '?')}, "
                f"top-{settings.get('top_k', '?')}.", ""]
    lines += _settings_notes(data, runs)
    lines += ["| context length L | mixer | µs per token | peak memory (MiB) | peak memory per token (KiB) | "
              f"time × {baseline} | memory × {baseline} |", "|---|---|---|---|---|---|---|"]
    for row in sorted(data["rows"], key=lambda r: (r["length"], r["mixer"] != baseline)):
        lines.append(f"| {row['length']} | {row['mixer']} | {row['seconds_per_token'] * 1e6:.2f} | "
                     f"{row['peak_bytes'] / 2**20:.2f} | {row['peak_bytes_per_token'] / 2**10:.2f} | "
                     f"{_ratio(row['time_ratio'])} | {_ratio(row['memory_ratio'])} |")
    skipped = data.get("skipped_lengths") or []
    if skipped:
        lines += ["", f"Lengths {', '.join(map(str, skipped))} were skipped: the benchmark's time budget "
                      f"({settings.get('budget', '?')} s) was spent."]
    return lines + [""]


def _settings_notes(data: dict, runs: list[StoredRun]) -> list[str]:
    """Where the benchmark's settings differ from the suite's HSA runs (a reader compares like with like)."""
    import torch

    settings, notes = data["settings"], []
    hsa = {(r.spec.condition, r.spec.chunk_size, r.spec.top_k) for r in runs if r.spec.mixer in HSA_MIXERS}
    other = sorted({(c, k, t) for c, k, t in hsa
                    if (k, t) != (settings.get("chunk_size"), settings.get("top_k"))})
    if other:
        notes.append("the suite's HSA conditions use other chunk settings ("
                     + "; ".join(f"{c}: chunks of {k}, top-{t}" for c, k, t in other) + ")")
    missing = sorted({r.spec.mixer for r in runs} - {row["mixer"] for row in data["rows"]})
    if missing:
        notes.append(f"mixers of the suite not in this benchmark run: {', '.join(missing)} (see `--mixers`)")
    if data["torch"] != torch.__version__:
        notes.append(f"measured with torch {data['torch']}; this report was rendered with torch {torch.__version__}")
    return ["Differences from the suite's runs:", "", *(f"- {note}." for note in notes), ""] if notes else []


def long_context_sections(suite, runs: list[StoredRun], directory: Path) -> list[str]:
    """The long-context sections (markdown lines) of ``suite``'s report; the plot is written to ``directory``."""
    directory = Path(directory)
    return chunk_selection_section(suite, runs, directory) + efficiency_section(suite, runs, directory)
