"""Smoke test: the sampling benchmark runs in-process and reports a row per task and length."""

from __future__ import annotations

import torch

from benchload import load_benchmark


def test_sampling_benchmark_reports_positive_rates(capsys):
    bench = load_benchmark("sampling")
    threads = torch.get_num_threads()
    rows = bench.main(["--tasks", "copy,successor", "--quick", "--seconds", "0.05", "--repeats", "1",
                       "--warmup", "1", "--threads", "1"])
    assert torch.get_num_threads() == threads  # the benchmark restores the caller's setting
    # successor allows n <= 32, so n = 64 is skipped for it
    assert [(r["task"], r["n"]) for r in rows] == [("copy", 16), ("copy", 64), ("successor", 16)]
    for r in rows:
        assert r["instances_per_s"] > 0 and r["batch_ms"] > 0 and r["step_ms"] > 0 and r["ratio_pct"] > 0
        assert r["seq_len"] > r["n"]
        assert len(r["batch_ms_runs"]) == 1 and len(r["step_ms_runs"]) == 1
        assert isinstance(r["meets_target"], bool)
    out = capsys.readouterr().out
    assert "batch/step" in out and "successor@64" in out and "cells meet the 5% target" in out
