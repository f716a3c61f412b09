"""Smoke test: the HSA scaling benchmark runs in-process at tiny lengths and reports every mixer
against full attention (timings themselves are never asserted)."""

from __future__ import annotations

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
    assert [(r.length, r.mixer) for r in rows] == [(n, m) for n in (16, 32) for m in ("attention", "hsa", "recurrent")]
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
