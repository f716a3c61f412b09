"""Smoke tests: the run-split and time-to-fit benchmarks run in-process on tiny settings and
report what they claim to (timings themselves are never asserted)."""

from __future__ import annotations

import pytest
import torch

from benchload import load_benchmark


def test_run_split_accounts_for_the_whole_run(capsys):
    bench = load_benchmark("run_split")
    threads = torch.get_num_threads()
    splits = bench.main(["--suite", "smoke", "--conditions", "primary", "--steps", "16"])
    assert torch.get_num_threads() == threads
    [split] = splits
    assert split.name == "reverse/primary" and split.steps == 16
    assert split.validations == 2  # smoke validates every 15 steps: at 15 and at the last step
    assert set(split.seconds) == set(bench.COLUMNS)
    for column in ("sampling", "forward_backward", "optimizer", "validation", "evaluation"):
        assert split.seconds[column] > 0, column
    # the phases are disjoint parts of the run's wall time, "other" is the rest of it
    assert split.seconds["other"] >= 0
    assert sum(split.seconds.values()) == pytest.approx(split.wall)
    out = capsys.readouterr().out
    assert "projected to the suite's steps" in out  # smoke has 30 steps, 16 were run
    assert "evaluation: worst" in out and "sampling: worst" in out


def test_run_split_projection_scales_steps_and_validations_only():
    bench = load_benchmark("run_split")
    seconds = {"sampling": 1.0, "forward_backward": 4.0, "optimizer": 0.5, "validation": 2.0, "evaluation": 3.0,
               "other": 0.5}
    split = bench.Split("t/c", steps=100, validations=2, seconds=seconds, wall=sum(seconds.values()))
    full = split.projected(steps=1000, validations=5)
    assert full.seconds == {"sampling": 10.0, "forward_backward": 40.0, "optimizer": 5.0, "validation": 5.0,
                            "evaluation": 3.0, "other": 0.5}
    assert full.wall == pytest.approx(63.5)
    assert bench.validations(2000, 250) == 8 and bench.validations(30, 15) == 2 and bench.validations(16, 15) == 2


def test_run_split_rejects_an_unknown_task_in_one_line(capsys):
    bench = load_benchmark("run_split")
    with pytest.raises(SystemExit) as exit:
        bench.main(["--suite", "smoke", "--tasks", "sort", "--steps", "2"])
    assert "lengthgen: error: suite 'smoke' has no task sort; choose from reverse" in str(exit.value)


def test_time_to_fit_reports_a_fit_and_a_time_out(capsys):
    bench = load_benchmark("time_to_fit")
    # a threshold of 0.01 is reached at the first validation; a cap of 0.5 s with a threshold
    # of 1.0 at train length 6 is not (the model cannot fit in a fraction of a second)
    [fit] = bench.main(["--tasks", "copy", "--train-max", "3", "--check-every", "5", "--threshold", "0.01",
                        "--cap", "60"])
    assert fit.fitted and fit.steps == 5 and 0 < fit.seconds < 60 and fit.best_exact >= 0.01
    [slow] = bench.main(["--tasks", "reverse", "--train-max", "6", "--check-every", "1000", "--threshold", "1.0",
                         "--cap", "0.5"])
    assert not slow.fitted and slow.seconds == 0.5 and slow.steps >= 1
    out = capsys.readouterr().out
    assert "copy" in out and "did not fit in 0.5 s" in out


def test_time_to_fit_rejects_an_unknown_task(capsys):
    bench = load_benchmark("time_to_fit")
    with pytest.raises(SystemExit):
        bench.main(["--tasks", "no_such_task"])
    assert "unknown task(s) no_such_task" in capsys.readouterr().err


def test_time_to_fit_skips_a_task_that_cannot_take_the_lengths_and_says_why(capsys):
    bench = load_benchmark("time_to_fit")
    assert bench.main(["--tasks", "successor", "--train-max", "40", "--cap", "1"]) == []
    assert "successor                skipped: task 'successor': length 40 is beyond" in capsys.readouterr().out


@pytest.mark.parametrize("mixer,options,scheme", [
    ("hsa", ["--chunk-size", "2", "--top-k", "1"], None),  # None: the task's default scheme
    ("recurrent+hsa", ["--chunk-size", "3", "--top-k", "2", "--scheme", "alibi"], "alibi"),
    ("recurrent", [], "none"),  # no position scheme: none, whatever the task's default
])
def test_time_to_fit_trains_the_chosen_mixer(capsys, monkeypatch, mixer, options, scheme):
    bench = load_benchmark("time_to_fit")
    built = []
    build = bench.run_module.build
    monkeypatch.setattr(bench.run_module, "build", lambda spec: built.append(spec) or build(spec))
    [fit] = bench.main(["--tasks", "passkey", "--train-max", "4", "--check-every", "3", "--threshold", "0.01",
                        "--cap", "60", "--layers", "1", "--d-model", "16", "--heads", "2", "--mixer", mixer, *options])
    [spec] = built
    scheme = scheme or bench.default_position_scheme(bench.structure_profile(bench.ALL_TASKS["passkey"]))
    chunk_size, top_k = (int(options[1]), int(options[3])) if options else (8, 2)
    assert (spec.mixer, spec.chunk_size, spec.top_k, spec.position_scheme) == (mixer, chunk_size, top_k, scheme)
    assert fit.fitted and fit.mixer == mixer and fit.scheme == scheme
    assert f"mixer {mixer}" in capsys.readouterr().out


def test_time_to_fit_refuses_a_position_scheme_for_the_recurrent_mixer(capsys):
    bench = load_benchmark("time_to_fit")
    with pytest.raises(SystemExit):
        bench.main(["--tasks", "passkey", "--mixer", "recurrent", "--scheme", "rope"])
    assert "--mixer recurrent reads order from its recurrence" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--tasks", "passkey", "--mixer", "hsa", "--top-k", "0"])
