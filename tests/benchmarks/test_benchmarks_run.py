"""Smoke test: the training-throughput benchmark runs in-process and measures both models."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


def _load():
    spec = importlib.util.spec_from_file_location("train_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_train_throughput_runs_and_reports_positive_throughput(capsys):
    bench = _load()
    threads = torch.get_num_threads()
    results = bench.main(["--seconds", "0.3", "--repeats", "1", "--warmup", "1", "--threads", "1",
                          "--batch", "8", "--seq-len", "9"])
    assert torch.get_num_threads() == threads  # the benchmark restores the caller's setting
    assert set(results) == {"ours-rope", "ours-none", "baseline"}
    for r in results.values():
        assert r.params > 0
        assert len(r.runs) == 1 and r.runs[0].steps >= 1
        assert r.steps_per_s > 0 and r.tokens_per_s > 0
        assert r.tokens_per_s == r.steps_per_s * 8 * 9  # every input token of the padded batch
    out = capsys.readouterr().out
    assert "ours/baseline" in out and "baseline" in out
