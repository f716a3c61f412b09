"""The long-context report sections (issue 13) on hand-made stored runs: the chunk-selection table's
pooled and per-seed counts, its plot, that only suites with stored chunk selections get the
sections, and efficiency.json (written by the benchmark's own writer) read back, absent and damaged.
Nothing is trained or timed."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from verify.long_context_report import (
    EFFICIENCY_FILE,
    EfficiencyFileError,
    efficiency_section,
    has_chunk_selection,
    long_context_sections,
    pooled_selection,
    read_efficiency,
)
from verify.spec import HSA_MIXERS, Measurement, StoredRun
from verify.store import RunStore
from verify.suite import Condition, Suite, TaskPlan

N = 8  # training maximum
LENGTHS = (4, 8, 16, 32, 64)
INSTANCES = 40  # evaluation instances per length
PROBED = 24  # instances the chunk-selection probe reads (passkey: one output each)
CONDITIONS = (Condition("full", why="full attention"),
              Condition("hsa", mixer="hsa", chunk_size=4, top_k=1, why="HSA"),
              Condition("recurrent+hsa", mixer="recurrent+hsa", chunk_size=4, top_k=1, why="RAMba-like"))


def make_suite(conditions=CONDITIONS, name="lc-test") -> Suite:
    return Suite(name=name, description="d", plans=(TaskPlan("passkey", "rope", "r", test_lengths=LENGTHS),),
                 seeds=(0, 1), train_max=N, test_factor=8, steps=10, eval_instances=INSTANCES, conditions=conditions,
                 claims=())


def covered_of(condition: str, seed: int, length: int) -> int:
    """A selection that holds inside the training range and decays beyond it, seeds apart."""
    if length <= N:
        return PROBED
    return max(0, PROBED - length // 4 - 3 * seed - (2 if condition == "hsa" else 0))


def exact_of(condition: str, seed: int, length: int) -> int:
    return INSTANCES if length <= N else max(0, INSTANCES // 2 - length // 8 - seed)


def fake(spec, status="ok", measured=True) -> StoredRun:
    s = spec
    if status != "ok":
        return StoredRun(s, s.key, status, reason="TrainingDiverged: loss blew up")
    measurements = tuple(Measurement(L, 1, INSTANCES, exact_of(s.condition, s.seed, L),
                                     exact_of(s.condition, s.seed, L) / INSTANCES, 0, 0, 0) for L in s.test_lengths)
    selection = tuple((L, covered_of(s.condition, s.seed, L), PROBED) for L in s.test_lengths) \
        if s.mixer in HSA_MIXERS and measured else ()
    return StoredRun(s, s.key, "ok", best_step=10, validation_exact=1.0, measurements=measurements,
                     loss_curve=((1, 1.0), (10, 0.1)), validation_curve=((10, 1.0, 1.0),),
                     finished_at="2030-01-01T00:00:00+00:00", chunk_selection=selection)


def stored(run: StoredRun) -> dict:
    return json.loads(json.dumps(run.to_dict()))


def table_row(text: str, condition: str, length_cell: str) -> str:
    """The row of ``condition``'s table whose first cell is ``length_cell``."""
    section = text[text.index(f"**{condition}**"):]
    return next(line for line in section.splitlines() if line.startswith(f"| {length_cell} |"))


# ---------------------------------------------------------------------------- chunk selection


def test_the_table_pools_counts_over_seeds_and_shows_every_seed(tmp_path):
    suite = make_suite()
    runs = [fake(spec) for spec in suite.runs()]
    assert has_chunk_selection(runs)
    text = "\n".join(long_context_sections(suite, runs, tmp_path))
    assert "## Long context: chunk selection" in text and "**full**" not in text  # HSA conditions only
    for condition in ("hsa", "recurrent+hsa"):
        for L in LENGTHS:
            seeds = [covered_of(condition, s, L) for s in (0, 1)]
            exact = sum(exact_of(condition, s, L) for s in (0, 1))
            cell = "%d *(trained)*" % L if L <= N else str(L)
            pooled = f"{sum(seeds) / (2 * PROBED):.3f} ({sum(seeds)}/{2 * PROBED})"
            per_seed = " | ".join(f"{c / PROBED:.3f} ({c}/{PROBED})" for c in seeds)
            em = f"{exact / (2 * INSTANCES):.3f} ({exact}/{2 * INSTANCES})"
            assert table_row(text, condition, cell) == f"| {cell} | {pooled} | {per_seed} | {em} |"
    # by hand: hsa at 64 is 24 - 16 - 2 = 6 (seed 0) and 3 (seed 1) of 24 each
    assert table_row(text, "hsa", "64").startswith("| 64 | 0.188 (9/48) | 0.250 (6/24) | 0.125 (3/24) |")
    beyond = [L for L in LENGTHS if L > N]
    covered = sum(covered_of("hsa", s, L) for s in (0, 1) for L in beyond)
    total = 2 * PROBED * len(beyond)
    assert (f"beyond the training range (N > {N}), pooled over lengths and seeds: chunk selection "
            f"{covered / total:.3f} ({covered}/{total})") in text
    assert f"first {PROBED} of the evaluation instances at each length, exact match on all {INSTANCES} of them" in text
    assert (tmp_path / "passkey_chunk_selection.png").stat().st_size > 0
    assert "](passkey_chunk_selection.png)" in text


def test_pooled_selection_sums_counts_not_shares():
    suite = make_suite()
    runs = [fake(spec) for spec in suite.runs() if spec.condition == "hsa"]
    pooled = pooled_selection(runs)
    assert list(pooled) == list(LENGTHS)
    assert pooled[32] == (covered_of("hsa", 0, 32) + covered_of("hsa", 1, 32), 2 * PROBED)


def test_failed_and_unmeasured_runs_are_said_not_hidden(tmp_path):
    suite = make_suite()
    specs = suite.runs()
    hsa = [s for s in specs if s.condition == "hsa"]
    runs = [fake(s) for s in specs if s.condition != "hsa"] + [fake(hsa[0], status="failed"),
                                                                 fake(hsa[1], measured=False)]
    text = "\n".join(long_context_sections(suite, runs, tmp_path))
    assert table_row(text, "hsa", "16") == "| 16 | — | failed | not measured | " + \
        f"{exact_of('hsa', 1, 16) / INSTANCES:.3f} ({exact_of('hsa', 1, 16)}/{INSTANCES}) |"
    assert "1 of 2 runs failed" in text and "1 of 2 runs were stored before chunk selection was measured" in text


def test_render_adds_the_sections_only_for_suites_with_chunk_selections(tmp_path):
    from verify.report import render

    suite = make_suite()
    directory = tmp_path / suite.name
    for spec in suite.runs():
        RunStore(directory).put(stored(fake(spec)))
    render(suite, directory, "test", None)
    report = (directory / "report.md").read_text()
    assert report.index("## Long context: chunk selection") > report.index("## passkey")
    assert "## Long context: time and memory per token" in report
    assert (directory / "passkey_chunk_selection.png").stat().st_size > 0

    plain = make_suite(conditions=(CONDITIONS[0], Condition("full-nope", position_scheme="none")), name="no-hsa")
    other = tmp_path / plain.name
    for spec in plain.runs():
        RunStore(other).put(stored(fake(spec)))
    assert not has_chunk_selection([fake(s) for s in plain.runs()])
    render(plain, other, "test", None)
    text = (other / "report.md").read_text()
    assert "Long context" not in text and not (other / "passkey_chunk_selection.png").exists()


# ---------------------------------------------------------------------------- efficiency.json


def load_benchmark():
    """benchmarks/hsa_scaling.py as a module (as tests/benchmarks/benchload.py loads it)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "hsa_scaling.py"
    spec = importlib.util.spec_from_file_location("hsa_scaling_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


#: (length, mixer, µs/token, peak bytes, time ratio, memory ratio): made up, so every cell is known
ROWS = ((64, "attention", 10.0, 2**20, 1.0, 1.0), (64, "hsa", 25.0, 2**19, 2.5, 0.5),
        (128, "attention", 20.0, 4 * 2**20, 1.0, 1.0), (128, "hsa", 30.0, 2**20, 1.5, 0.25))


@pytest.fixture
def efficiency_json(tmp_path):
    """efficiency.json as the benchmark's own ``write_json`` writes it, from the rows above."""
    bench = load_benchmark()
    argv = ["--lengths", "64,128,256", "--mixers", "hsa", "--json", str(tmp_path / EFFICIENCY_FILE)]
    args = bench.parse_args(argv)
    rows = [bench.Row(L, m, us, peak, t, mem) for L, m, us, peak, t, mem in ROWS]
    started = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    bench.write_json(args.json, args, argv, rows, [256], 0.5, started)
    return tmp_path / EFFICIENCY_FILE


def test_the_benchmark_json_round_trips_into_the_section(efficiency_json):
    data = read_efficiency(efficiency_json)
    assert data["date"] == "2030-01-02T03:04:05+00:00" and data["skipped_lengths"] == [256]
    assert data["command"].endswith(f"benchmarks/hsa_scaling.py --lengths 64,128,256 --mixers hsa --json {efficiency_json}")
    assert data["settings"]["mixers"] == ["attention", "hsa"] and data["baseline"] == "attention"
    assert [(r["length"], r["mixer"], r["seconds_per_token"], r["peak_bytes"], r["peak_bytes_per_token"],
             r["time_ratio"], r["memory_ratio"]) for r in data["rows"]] == \
        [(L, m, pytest.approx(us * 1e-6), peak, peak / L, t, mem) for L, m, us, peak, t, mem in ROWS]
    suite = make_suite()
    runs = [fake(spec) for spec in suite.runs()]
    text = "\n".join(efficiency_section(suite, runs, efficiency_json.parent))
    assert "These numbers come from the benchmark `benchmarks/hsa_scaling.py`, not from this suite's runs" in text
    assert f"Measured 2030-01-02T03:04:05+00:00 with `{data['command']}` — torch {data['torch']}" in text
    assert "| 64 | attention | 10.00 | 1.00 | 16.00 | 1.00 | 1.00 |" in text
    assert "| 128 | hsa | 30.00 | 1.00 | 8.00 | 1.50 | 0.25 |" in text
    assert "Lengths 256 were skipped" in text
    # the suite's HSA runs use chunks of 4, top-1, and train recurrent+hsa, which this file did not measure
    assert "hsa: chunks of 4, top-1" in text and "mixers of the suite not in this benchmark run: recurrent+hsa" in text


def test_an_absent_efficiency_json_says_how_to_make_it(tmp_path):
    text = "\n".join(efficiency_section(make_suite(), [], tmp_path))
    assert f"benchmarks/hsa_scaling.py --json {tmp_path / EFFICIENCY_FILE}" in text
    assert "lengthgen report --suite lc-test --no-train" in text and "|" not in text


@pytest.mark.parametrize("content, reason", [
    ("{not json", "JSONDecodeError"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"format": 99}', "format 99"),
    (None, "row 0 has seconds_per_token 'fast'"),
    (b"\xff\xfe", "UnicodeDecodeError"),
])
def test_a_damaged_efficiency_json_gives_one_clear_line(efficiency_json, content, reason):
    path, tmp_path = efficiency_json, efficiency_json.parent
    if content is None:  # valid JSON, a wrong value inside
        data = json.loads(path.read_text())
        data["rows"][0]["seconds_per_token"] = "fast"
        content = json.dumps(data)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(EfficiencyFileError, match=reason):
        read_efficiency(path)
    text = "\n".join(efficiency_section(make_suite(), [], tmp_path))
    message = [line for line in text.splitlines() if "unreadable" in line]
    assert len(message) == 1 and str(path) in message[0] and reason in message[0]
    assert f"Re-create it with `.venv/bin/python benchmarks/hsa_scaling.py --json {path}`, or delete it" in message[0]
    assert "| context length L |" not in text


def _edited(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("edit, reason", [
    # skipped_lengths = 5 was a TypeError traceback out of `lengthgen report` (', '.join(map(str, 5)));
    # "abc" was shown as "Lengths a, b, c were skipped"
    (lambda d: d.__setitem__("skipped_lengths", 5), "its 'skipped_lengths' is 5, not a list of lengths"),
    (lambda d: d.__setitem__("skipped_lengths", "abc"), "its 'skipped_lengths' is 'abc', not a list of lengths"),
    (lambda d: d.__setitem__("skipped_lengths", [0]), r"its 'skipped_lengths' is \[0\], not a list of lengths"),
    # True == 1 passed the format check
    (lambda d: d.__setitem__("format", True), "it has format True"),
    # the ratios' columns are headed "time × <baseline>": a baseline no row measured mislabels them
    (lambda d: d.__setitem__("baseline", "mamba"), "its baseline 'mamba' is not the mixer of any row"),
])
def test_a_hand_edited_efficiency_json_gives_one_clear_line(efficiency_json, edit, reason):
    _edited(efficiency_json, edit)
    before = efficiency_json.read_bytes()
    with pytest.raises(EfficiencyFileError, match=reason):
        read_efficiency(efficiency_json)
    text = "\n".join(efficiency_section(make_suite(), [], efficiency_json.parent))
    message = [line for line in text.splitlines() if "unreadable" in line]
    assert len(message) == 1 and "| context length L |" not in text and "were skipped" not in text
    assert efficiency_json.read_bytes() == before  # read, never repaired


def test_a_deeply_nested_efficiency_json_is_one_line_not_a_recursion_error(tmp_path):
    path = tmp_path / EFFICIENCY_FILE
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(EfficiencyFileError, match="nested too deeply"):
        read_efficiency(path)


def test_no_skipped_lengths_field_is_none_skipped(efficiency_json):
    _edited(efficiency_json, lambda d: d.pop("skipped_lengths"))
    assert read_efficiency(efficiency_json)["rows"]
    assert "were skipped" not in "\n".join(efficiency_section(make_suite(), [], efficiency_json.parent))
