"""Smoke test: the training-throughput benchmark runs in-process and measures both models."""

from __future__ import annotations

import torch

from benchload import load_benchmark


def test_train_throughput_runs_and_reports_positive_throughput(capsys):
    bench = load_benchmark("train_throughput")
    threads = torch.get_num_threads()
    result = bench.main(["--seconds", "0.3", "--repeats", "1", "--warmup", "1", "--threads", "1",
                         "--batch", "8", "--seq-len", "9", "--sizes", "1x32,2x64", "--peak-seconds", "0.2"])
    assert torch.get_num_threads() == threads  # the benchmark restores the caller's setting
    assert set(result.sizes) == {"1x32", "2x64"}
    assert len(result.peaks) == 1 and result.peak > 0
    for label, results in result.sizes.items():
        assert set(results) == set(bench.MODELS)
        for r in results.values():
            assert r.params > 0
            assert len(r.runs) == 1 and r.runs[0].steps >= 1
            assert r.steps_per_s > 0 and r.tokens_per_s > 0
            assert r.tokens_per_s == r.steps_per_s * 8 * 9  # every input token of the padded batch
            assert r.gflops == r.flops_per_step * r.steps_per_s / 1e9 > 0
    # the larger model does more work per step
    assert result.sizes["2x64"]["ours-rope"].flops_per_step > result.sizes["1x32"]["ours-rope"].flops_per_step
    out = capsys.readouterr().out
    assert "x/baseline" in out and "% fp32 peak" in out and "GFLOP/s" in out


def test_train_step_flops_counts_the_matmuls_of_forward_and_backward():
    bench = load_benchmark("train_throughput")
    # 1 layer, d 2, vocab 3, 1 row of 1 token: projections 2*12*4 = 96, attention 2*2*2*(1+1)/2 = 8,
    # head 2*2*3 = 12 -> forward 116, training step 3x
    assert bench.train_step_flops(1, 2, 3, 1, 1) == 3 * 116
    assert bench.train_step_flops(2, 2, 3, 4, 1) == 3 * 4 * (2 * 104 + 12)


def test_bad_sizes_are_one_clear_error(capsys):
    bench = load_benchmark("train_throughput")
    try:
        bench.main(["--sizes", "2by64"])
    except SystemExit as exit:
        assert exit.code != 0
    else:
        raise AssertionError("a malformed size must stop the benchmark")
    assert "is not LAYERSxWIDTH" in capsys.readouterr().err
