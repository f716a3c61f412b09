"""Runs are deterministic, failed runs are stored and not retried unless asked, and a suite killed
with SIGKILL resumes without recomputing its finished runs and ends with the same numbers."""

import os
import signal
import subprocess
import sys
import time

import pytest

import verify.runner
from verify.cli import main
from verify.run import RunSpec, execute, execute_safely
from verify.runner import run_all
from verify.store import RunStore
from verify.train import TrainConfig


def tiny_spec(seed: int = 0, **train) -> RunSpec:
    return RunSpec(task="reverse", condition="primary+restriction", seed=seed, train_lengths=(1, 3),
                   test_lengths=(1, 2, 3, 4, 5, 6), restriction_m=8, restriction_lengths=(1, 6),
                   layers=1, d_model=16, heads=2, position_scheme="rope",
                   train=TrainConfig(**{"steps": 10, "batch": 16, "eval_every": 5, "data_seed": 1000 + seed,
                                        "model_seed": seed, **train}),
                   eval_instances=32, validation_instances=32)


def test_execute_is_deterministic():
    spec = tiny_spec(seed=3)
    first, second = execute(spec), execute(spec)
    assert first.status == second.status == "ok"
    assert first.measurements and first.measurements == second.measurements
    assert (first.best_step, first.validation_exact, first.loss_curve) == \
           (second.best_step, second.validation_exact, second.loss_curve)


def test_failed_run_is_stored_listed_and_retried_only_when_asked(tmp_path, monkeypatch, capsys):
    spec = tiny_spec(steps=25, divergence_factor=0.0)  # any loss "blows up" at step 21
    directory = tmp_path / "smoke"
    result = run_all([spec], directory, workers=1, show_progress=False)[spec.key]
    assert result.status == "failed" and "blew up" in result.reason and result.measurements == ()
    stored = RunStore(directory).load()[spec.key]
    assert stored["status"] == "failed" and stored["reason"] == result.reason

    assert main(["runs", "--suite", "smoke", "--out", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert any(line.startswith(spec.key) and " failed " in line for line in listing.splitlines())
    assert f"failed {spec.key}: loss blew up" in listing

    calls = []

    def counting(s, **kwargs):
        calls.append(s.key)
        return execute_safely(s, **kwargs)

    monkeypatch.setattr(verify.runner, "execute_safely", counting)
    run_all([spec], directory, workers=1, show_progress=False)
    assert calls == [] and RunStore(directory).load()[spec.key]["finished_at"] == stored["finished_at"]
    again = run_all([spec], directory, workers=1, show_progress=False, retry_failed=True)[spec.key]
    assert calls == [spec.key] and again.status == "failed"
    assert RunStore(directory).load()[spec.key]["finished_at"] > stored["finished_at"]


def report(out, *extra):
    return [sys.executable, "-m", "verify.cli", "report", "--suite", "smoke", "--out", str(out), "--quiet",
            "--workers", "1", *extra]


def _canonical(measurement: dict) -> dict:
    """A measurement as comparable data: sequences as lists (JSON stores tuples as lists), unset fields dropped."""
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in measurement.items() if v is not None}


def numbers(runs: dict) -> dict:
    return {k: (r["status"], r["best_step"], r["validation_exact"], [_canonical(m) for m in r["measurements"]])
            if isinstance(r, dict) else
            (r.status, r.best_step, r.validation_exact, [_canonical(vars(m)) for m in r.measurements])
            for k, r in runs.items()}


@pytest.mark.slow
def test_sigkilled_suite_resumes_without_recomputing(tmp_path):
    from verify.suite import get_suite

    total = len(get_suite("smoke").runs())
    store = RunStore(tmp_path / "killed" / "smoke")
    proc = subprocess.Popen(report(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if store.path.exists() and len(store.load()) >= 1:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the suite ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = store.load()
    assert 1 <= len(before) < total

    resumed = subprocess.run(report(tmp_path / "killed"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    after = store.load()
    assert len(after) == total and all(r["status"] == "ok" for r in after.values())
    # (a) the runs finished before the kill were reused, not recomputed
    assert {k: after[k]["finished_at"] for k in before} == {k: r["finished_at"] for k, r in before.items()}

    # (b) the numbers equal those of an uninterrupted run (here in this process: same thread count
    # as `--workers 1`, and no second start-up and render)
    clean = run_all(get_suite("smoke").runs(), tmp_path / "clean" / "smoke", workers=1, show_progress=False)
    assert numbers(after) == numbers(clean)
