"""Smoke test: the HSA scaling benchmark runs in-process at tiny lengths and reports every mixer
against full attention (timings themselves are never asserted); ``--json`` writes that table."""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchload import load_benchmark


def test_hsa_scaling_reports_ratios_against_full_attention(capsys):
    bench = load_benchmark("hsa_scaling")
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    rows = bench.main(["--lengths", "16,32", "--seconds", "0.05", "--d-model", "16", "--heads", "2",
                       "--chunk-size", "4", "--top-k", "1"])
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)
    assert [(r.length, r.mixer) for r in rows] == [(n, m) for n in (16, 32)
                                                   for m in ("attention", "hsa", "recurrent", "recurrent+hsa")]
    for r in rows:
        assert r.us_per_token > 0 and r.peak_bytes > 0
        assert r.time_ratio == pytest.approx(r.us_per_token / next(
            a.us_per_token for a in rows if a.length == r.length and a.mixer == "attention"))
    assert all(r.time_ratio == 1 and r.memory_ratio == 1 for r in rows if r.mixer == "attention")
    out = capsys.readouterr().out
    assert "time×" in out and "mem×" in out


def test_peak_memory_counts_the_transient_tensors():
    bench = load_benchmark("hsa_scaling")

    def call():
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # 8 MB live
        del a
        return (b + 1).sum()  # 8 MB live again (b, b + 1)
    assert bench.peak_memory(call) == pytest.approx(8e6, rel=0.01)


def test_json_writes_the_measured_table_with_its_settings_and_command(tmp_path):
    bench = load_benchmark("hsa_scaling")
    path = tmp_path / "out" / "efficiency.json"  # its folder is made
    argv = ["--lengths", "8,16", "--seconds", "0.02", "--d-model", "16", "--heads", "2", "--chunk-size", "4",
            "--top-k", "1", "--mixers", "recurrent,hsa", "--threads", "1", "--json", str(path)]
    rows = bench.main(argv)
    data = json.loads(path.read_text())
    assert data["format"] == bench.JSON_FORMAT and data["baseline"] == "attention"
    assert data["torch"] == torch.__version__ and data["threads"] == 1 and data["date"].endswith("+00:00")
    assert data["command"].endswith("benchmarks/hsa_scaling.py " + " ".join(argv))
    assert data["settings"]["mixers"] == ["attention", "recurrent", "hsa"]  # the baseline first, always
    assert data["settings"]["schemes"] == {"attention": "rope", "recurrent": "none", "hsa": "rope"}
    assert (data["settings"]["chunk_size"], data["settings"]["top_k"], data["settings"]["lengths"]) == (4, 1, [8, 16])
    assert data["skipped_lengths"] == []
    assert [(r["length"], r["mixer"]) for r in data["rows"]] == [(r.length, r.mixer) for r in rows]
    for stored, row in zip(data["rows"], rows):
        assert stored["seconds_per_token"] == pytest.approx(row.us_per_token * 1e-6)
        assert stored["peak_bytes"] == row.peak_bytes and stored["peak_bytes_per_token"] == row.peak_bytes / row.length
        assert stored["time_ratio"] == pytest.approx(row.time_ratio)
        assert stored["memory_ratio"] is None if math.isnan(row.memory_ratio) else \
            stored["memory_ratio"] == pytest.approx(row.memory_ratio)
    assert not list(path.parent.glob("*.partial"))


def test_a_budget_spent_records_the_skipped_lengths(tmp_path):
    bench = load_benchmark("hsa_scaling")
    path = tmp_path / "e.json"
    bench.main(["--lengths", "8,16,32", "--seconds", "0.01", "--d-model", "16", "--heads", "2", "--chunk-size", "4",
                "--mixers", "attention", "--budget", "0", "--json", str(path)])
    data = json.loads(path.read_text())
    assert data["rows"] == [] and data["skipped_lengths"] == [8, 16, 32]  # no length starts past the budget


def test_an_unknown_mixer_is_refused():
    bench = load_benchmark("hsa_scaling")
    with pytest.raises(SystemExit):
        bench.parse_args(["--mixers", "hsa,mamba"])


@pytest.mark.parametrize("where", ["under a file", "a folder"])
def test_a_json_path_that_cannot_be_written_is_refused_before_measuring(tmp_path, monkeypatch, capsys, where):
    """--json into a path under a file, or onto a folder, was a traceback after every length had been
    measured (the measurement lost); now it is refused up front, exit 2, nothing measured."""
    bench = load_benchmark("hsa_scaling")
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "e.json" if where == "under a file" else tmp_path
    monkeypatch.setattr(bench, "measure", lambda *a: pytest.fail("measured before the --json path was checked"))
    with pytest.raises(SystemExit) as done:
        bench.main(["--lengths", "8", "--json", str(path)])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert ": error: --json " in err and str(path) in err and "give another path" in err, err
    assert (tmp_path / "file").read_text() == "x" and not list(tmp_path.rglob("*.partial"))


def test_a_json_write_that_fails_after_measuring_exits_1_without_a_traceback(tmp_path, monkeypatch, capsys):
    bench = load_benchmark("hsa_scaling")
    path = tmp_path / "e.json"

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(bench.Path, "replace", fail)
    with pytest.raises(SystemExit) as done:
        bench.main(["--lengths", "8", "--seconds", "0.01", "--d-model", "16", "--heads", "2", "--chunk-size", "4",
                    "--mixers", "attention", "--json", str(path)])
    assert done.value.code == 1
    captured = capsys.readouterr()
    assert "mem×" in captured.out  # the table was printed: the measurement is on screen
    assert "could not write" in captured.err and "No space left on device" in captured.err
    assert not path.exists() and not list(tmp_path.glob("*.partial"))
