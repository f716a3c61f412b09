"""The command line end to end: help, clear one-line errors, and the smoke suite's report."""

import json
import subprocess
import sys

import pytest

from verify.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "verify.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_commands_and_examples():
    out = run_cli("--help")
    assert out.returncode == 0
    for word in ("report", "tasks", "examples:"):
        assert word in out.stdout
    sub = run_cli("report", "--help")
    assert sub.returncode == 0 and "--no-train" in sub.stdout and "default" in sub.stdout


@pytest.mark.parametrize("args, phrase", [
    (("tasks", "show", "no_such_task"), "unknown task 'no_such_task'"),
    (("tasks", "show", "missing_file.py"), "no task file"),
    (("report", "--suite", "no_such_suite"), "unknown suite 'no_such_suite'"),
])
def test_bad_input_is_one_clear_line(args, phrase):
    out = run_cli(*args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lengthgen: error:") and phrase in lines[0]


def test_tasks_lists_catalogue_and_shows_a_task(capsys):
    assert main(["tasks"]) == 0
    listing = capsys.readouterr().out
    assert "reverse" in listing and "sort" in listing and "k = 1" in listing
    assert main(["tasks", "show", "sort"]) == 0
    shown = capsys.readouterr().out
    assert "MinOver" in shown and "positions:" in shown and "chosen by content" in shown


def test_corrupt_store_is_refused_without_loss(tmp_path):
    store = tmp_path / "smoke" / "runs.json"
    store.parent.mkdir()
    store.write_text("{ this is not json")
    out = run_cli("report", "--suite", "smoke", "--out", str(tmp_path), "--quiet")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "corrupt" in out.stderr and "move it aside" in out.stderr
    assert store.read_text() == "{ this is not json"  # untouched


@pytest.mark.slow
def test_smoke_report_end_to_end_and_rerender(tmp_path):
    out = run_cli("report", "--suite", "smoke", "--out", str(tmp_path), "--quiet")
    assert out.returncode == 0, out.stderr
    d = tmp_path / "smoke"
    for name in ("report.md", "results.csv", "runs.json", "verdicts.json", "predictions.json",
                 "reverse_accuracy.png", "reverse_bound.png"):
        assert (d / name).stat().st_size > 0, name
    runs = json.loads((d / "runs.json").read_text())["runs"]
    assert len(runs) == 4 and all(r["measurements"] for r in runs.values())
    verdicts = (d / "verdicts.json").read_text()
    predictions = (d / "predictions.json").read_text()
    # re-rendering from the store alone reproduces the verdicts and keeps the prediction timestamp
    again = run_cli("report", "--suite", "smoke", "--out", str(tmp_path), "--no-train", "--quiet")
    assert again.returncode == 0, again.stderr
    assert (d / "verdicts.json").read_text() == verdicts
    assert (d / "predictions.json").read_text() == predictions
    # a re-run reuses every stored run instead of training again
    rerun = run_cli("report", "--suite", "smoke", "--out", str(tmp_path), "--quiet")
    assert rerun.returncode == 0
    assert json.loads((d / "runs.json").read_text())["runs"] == runs


def test_no_train_without_results_says_what_to_do(tmp_path):
    out = run_cli("report", "--suite", "smoke", "--out", str(tmp_path), "--no-train")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "no stored result" in out.stderr and "without --no-train" in out.stderr
