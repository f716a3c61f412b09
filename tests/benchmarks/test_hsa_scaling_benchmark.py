"""Smoke test: the HSA scaling benchmark runs in-process at tiny lengths and reports every mixer
against full attention (timings themselves are never asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "hsa_scaling.py"


def _load():
    spec = importlib.util.spec_from_file_location("hsa_scaling_benchmark", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_hsa_scaling_reports_ratios_against_full_attention(capsys):
    bench = _load()
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    rows = bench.main(["--lengths", "16,32", "--seconds", "0.05", "--d-model", "16", "--heads", "2",
                       "--chunk-size", "4", "--top-k", "1"])
    assert torch.get_num_threads() == threads and torch.equal(torch.random.get_rng_state(), state)
    assert [(r.length, r.mixer) for r in rows] == [(n, m) for n in (16, 32) for m in ("attention", "hsa", "recurrent")]
    for r in rows:
        assert r.us_per_token > 0 and r.peak_bytes > 0
        assert r.time_ratio == pytest.approx(r.us_per_token / next(
            a.us_per_token for a in rows if a.length == r.length and a.mixer == "attention"))
    assert all(r.time_ratio == 1 and r.memory_ratio == 1 for r in rows if r.mixer == "attention")
    out = capsys.readouterr().out
    assert "time×" in out and "mem×" in out


def test_peak_memory_counts_the_transient_tensors():
    bench = _load()

    def call():
        a = torch.ones(1000, 1000)  # 4 MB
        b = a * 2  # 8 MB live
        del a
        return (b + 1).sum()  # 8 MB live again (b, b + 1)
    assert bench.peak_memory(call) == pytest.approx(8e6, rel=0.01)
