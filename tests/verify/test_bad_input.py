"""Bad input of every class is refused before any work, in one line, with nothing stored lost.

Classes (docs/robustness.md has the full table): option limits, task files that are code,
stored results that were edited or damaged, writes that cannot happen, and two writers on one
folder.  No test here trains a model.
"""

import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from verify.cli import main
from verify.lock import LOCK_NAME, LockError, folder_lock
from verify.store import RunStore, StoreError, spec_key, write_json


def run_main(args, capsys) -> tuple[int, list[str]]:
    """``main(args)`` -> (exit code, stderr lines); argparse's exits count as exit codes."""
    try:
        code = main(list(args))
    except SystemExit as done:
        code = done.code
    return code, capsys.readouterr().err.strip().splitlines()


def assert_one_line(code, err, phrase):
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("lengthgen: error:") and phrase in err[0], err


# ------------------------------------------------------------------ 1. limits, before any work
@pytest.mark.parametrize("args, phrase", [
    (("propose", "sort", "--screen", "--budget", "nan"), "--budget must be a finite number of seconds > 0"),
    (("propose", "sort", "--screen", "--budget", "inf"), "--budget must be a finite number of seconds > 0"),
    (("propose", "sort", "--screen", "--budget", "0"), "--budget must be a finite number of seconds > 0"),
    (("propose", "sort", "--screen", "--budget", "-5"), "--budget must be a finite number of seconds > 0"),
    (("propose", "sort", "--train-max", "100000"), "--train-max must be an integer in 1..512, got 100000"),
    (("propose", "sort", "--train-max", "0"), "--train-max must be an integer in 1..512"),
    (("propose", "sort", "--train-max", "40"), "--train-max 40 is outside what task 'sort' admits; use 1..32"),
    (("propose", "sort", "--screen", "--top", "0"), "--top must be an integer >= 1, got 0"),
    (("propose", "sort", "--screen", "--top", "-2"), "--top must be an integer >= 1, got -2"),
    (("propose", "sort", "--screen", "--seeds", "0"), "--seeds must be an integer >= 2, got 0"),
    (("propose", "sort", "--screen", "--workers", "0"), "--workers must be an integer >= 1"),
    (("theorem", "agk-bound", "--task", "reverse", "--workers", "-5"), "--workers must be an integer >= 1, got -5"),
    (("report", "--suite", "smoke", "--workers", "0"), "--workers must be an integer >= 1, got 0"),
    (("report", "--workers", "two"), "--workers must be an integer, got 'two'"),
    (("theorem", "sparsity-trend", "--task", "sparse_parity", "--ks", "1"), "--ks needs at least 2 distinct k"),
    (("theorem", "sparsity-trend", "--task", "sparse_parity", "--ks", "2,2"), "--ks needs at least 2 distinct k"),
    (("theorem", "sparsity-trend", "--task", "sparse_parity", "--ks", "1,,x"), "--ks must be comma-separated"),
    (("theorem", "sparsity-trend", "--task", "sparse_parity", "--ks", "0,1"), "--ks needs at least 2 distinct k >= 1"),
    (("theorem", "no-such", "--task", "reverse"), "unknown theorem 'no-such'"),
    (("theorem", "agk-bound", "--task", "reverse", "--scale", "huge"), "unknown scale 'huge'"),
])
def test_option_limits_are_refused_before_any_work(tmp_path, capsys, args, phrase):
    started = time.perf_counter()
    code, err = run_main([*args, *(["--out", str(tmp_path / "out")] if args[0] in ("report", "theorem") else [])],
                         capsys)
    assert_one_line(code, err, phrase)
    assert time.perf_counter() - started < 30  # nothing trained (a screen or theorem takes minutes)
    assert not (tmp_path / "out").exists()  # nothing written


def test_propose_screen_removes_its_temporary_folder(monkeypatch, capsys):
    import verify.propose as propose

    seen = []

    def fake_screen(task, train_max, budget, seeds, workers, top, out=None, show_progress=True):
        (out / "runs.sqlite").write_bytes(b"written by a screen")
        seen.append(out)
        return [{"condition": "primary", "seeds": seeds, "failed": 0, "ood_exact_match": 0.0, "ci": [0.0, 0.0],
                 "ood_token_accuracy": 0.0, "steps": 1, "test_lengths": [9, 16]}]

    monkeypatch.setattr(propose, "screen", fake_screen)
    code, err = run_main(["propose", "sort", "--screen", "--budget", "5"], capsys)
    assert code == 0, err
    assert len(seen) == 1 and not seen[0].exists()


# ------------------------------------------------------------------ 3. stored results are checked
def stored_run(seed: int = 0, status: str = "ok") -> dict:
    spec = {"task": "reverse", "condition": "primary", "seed": seed, "train_lengths": [1, 2],
            "train": {"steps": 30, "lr": 0.001}}
    measurements = [{"length": n, "outputs": n, "instances": 64, "exact": 0, "token_accuracy": 0.5,
                     "restrictions": 128, "restriction_errors": n, "consistent": 120} for n in (1, 2, 3)]
    return {"key": spec_key(spec), "status": status, "reason": "", "spec": spec, "best_step": 30,
            "validation_exact": 0.25 if status == "ok" else float("nan"), "train_seconds": 1.0, "wall_seconds": 2.0,
            "measurements": measurements if status == "ok" else [], "loss_curve": [[10, 1.0]]}


def _tamper_spec(run):  # the attack from the issue: another seed and step count, every exact = instances
    run["spec"]["seed"], run["spec"]["train"]["steps"] = 7, 5000
    for m in run["measurements"]:
        m["exact"] = m["instances"]


TAMPERINGS = {
    "spec edited, key kept": (_tamper_spec, "its key does not match its spec"),
    "null spec": (lambda run: run.update(spec=None), "its spec is NoneType"),
    "exact above instances": (lambda run: run["measurements"][1].update(exact=65), "at length 2, exact = 65 of instances = 64"),
    "missing measurement field": (lambda run: run["measurements"][0].pop("consistent"), "a measurement lacks consistent"),
    "negative count": (lambda run: run["measurements"][0].update(restriction_errors=-1), "restriction_errors = -1 is not a count"),
    "NaN accuracy": (lambda run: run["measurements"][2].update(token_accuracy=float("nan")), "token_accuracy = nan"),
    "ok without a score": (lambda run: run.update(validation_exact=None), "stored as ok but has no validation score"),
    "unknown status": (lambda run: run.update(status="great"), "its status is 'great'"),
    "first errors that do not add up": (lambda run: run["measurements"][1].update(first_errors=[1, 99]),
                                        "first_errors has 2 entries summing to 100"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_tampered_snapshot_is_refused_and_left_untouched(tmp_path, name):
    change, phrase = TAMPERINGS[name]
    good, bad = stored_run(0), stored_run(1)
    key = bad["key"]
    change(bad)
    snapshot = tmp_path / "runs.json"
    snapshot.write_text(json.dumps({"format": "lengthgen-runs/2", "runs": {good["key"]: good, key: bad}}))
    before = snapshot.read_bytes()
    with pytest.raises(StoreError) as info:
        RunStore(tmp_path).load()
    message = str(info.value)
    assert str(snapshot) in message and f"run {key}" in message and phrase in message and "\n" not in message
    assert snapshot.read_bytes() == before and not (tmp_path / "runs.sqlite").exists()


def test_a_tampered_sqlite_row_is_refused_and_the_file_left_untouched(tmp_path, capsys):
    store = RunStore(tmp_path / "smoke")
    run = store.put(stored_run(0))
    spec = dict(run["spec"], seed=7)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET spec_json = ? WHERE key = ?", (json.dumps(spec), run["key"]))
    conn.close()
    before = store.path.read_bytes()
    code, err = run_main(["runs", "--suite", "smoke", "--out", str(tmp_path)], capsys)
    assert_one_line(code, err, f"run {run['key']}: its key does not match its spec")
    assert str(store.path) in err[0] and store.path.read_bytes() == before


def test_a_truncated_result_blob_is_one_line(tmp_path):
    store = RunStore(tmp_path)
    run = store.put(stored_run(0))
    with sqlite3.connect(store.path) as conn:
        blob = conn.execute("SELECT result_json FROM runs").fetchone()[0]
        conn.execute("UPDATE runs SET result_json = ?", (blob[: len(blob) // 2],))
    conn.close()
    with pytest.raises(StoreError, match=f"run {run['key']}: its stored result is not a JSON record"):
        store.load()


def test_nan_is_never_written_as_json(tmp_path):
    store = RunStore(tmp_path)
    failed = stored_run(1, status="failed")
    store.put(failed)
    store.export_json()

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant} written")

    data = json.loads(store.snapshot.read_text(), parse_constant=refuse)
    assert data["runs"][failed["key"]]["validation_exact"] is None  # undefined, deliberately null
    assert math.isnan(RunStore(tmp_path).load()[failed["key"]]["validation_exact"])  # NaN again in memory
    write_json(tmp_path / "x.json", {"score": float("nan"), "bound": [1.0, float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=refuse) == {"score": None, "bound": [1.0, None]}


def test_corrupt_predictions_are_refused_and_corrupt_meta_is_ignored_with_a_note(tmp_path, capsys):
    from verify.report import _read_meta, _read_predictions

    preds = tmp_path / "predictions.json"
    preds.write_text('{"claims": {"a": ')
    with pytest.raises(StoreError, match="predictions.json is corrupt .*restore it from git"):
        _read_predictions(preds)
    preds.write_text("[1, 2]")
    with pytest.raises(StoreError, match="lacks claims/tasks"):
        _read_predictions(preds)
    assert preds.read_text() == "[1, 2]"  # never re-recorded behind the user's back
    meta = tmp_path / "meta.json"
    meta.write_text("\x00garbage")
    assert _read_meta(meta) == {}
    assert "meta.json is unreadable; ignored" in capsys.readouterr().err


def test_files_are_written_with_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"a": 1})
        RunStore(tmp_path).put(stored_run(0))
    finally:
        os.umask(mask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "runs.sqlite").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------------ 4. writes that cannot happen
@pytest.mark.parametrize("command", [("report", "--suite", "smoke"), ("theorem", "agk-bound", "--task", "reverse",
                                                                       "--scale", "smallest")])
def test_out_pointing_at_a_file_is_refused_before_training(tmp_path, capsys, command):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    started = time.perf_counter()
    code, err = run_main([*command, "--out", str(target), "--quiet"], capsys)
    assert_one_line(code, err, "give a folder")
    assert time.perf_counter() - started < 20 and target.read_text() == "keep me"


def test_a_read_only_store_is_refused_before_training(tmp_path, capsys, monkeypatch):
    store = RunStore(tmp_path / "smoke")
    store.put(stored_run(0))
    real_access = os.access
    # root ignores permission bits, so the read-only file is simulated where the check asks
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(store.path) else real_access(p, mode))
    code, err = run_main(["report", "--suite", "smoke", "--out", str(tmp_path), "--quiet"], capsys)
    assert_one_line(code, err, f"{store.path} is read-only")


def test_a_failing_write_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    import verify.runner

    def full_disk(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(verify.runner, "run_all", full_disk)
    code, err = run_main(["report", "--suite", "smoke", "--out", str(tmp_path), "--quiet"], capsys)
    assert_one_line(code, err, "a file operation failed: database or disk is full; check that the folder exists, is writable")


# ------------------------------------------------------------------ 5. two writers on one folder
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from verify.lock import folder_lock
    with folder_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold_lock(folder, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_report_on_the_same_folder_refuses_naming_the_first(tmp_path):
    folder = tmp_path / "smoke"
    holder = hold_lock(folder, 30)
    try:
        second = subprocess.run([sys.executable, "-m", "verify.cli", "report", "--suite", "smoke", "--out",
                                 str(tmp_path), "--quiet"], capture_output=True, text=True, timeout=120)
        err = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(err) == 1, second.stderr
        assert f"in use by pid {holder.pid}" in err[0] and "--wait" in err[0]
        assert not (folder / "runs.sqlite").exists()  # it trained nothing
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(folder):  # the kernel released the killed holder's lock: nothing stale
        pass


def test_wait_queues_behind_the_holder(tmp_path, capsys):
    holder = hold_lock(tmp_path, 2)
    try:
        with pytest.raises(LockError):
            with folder_lock(tmp_path):
                pass
        started = time.perf_counter()
        with folder_lock(tmp_path, wait=True) as path:
            waited = time.perf_counter() - started
            assert path.name == LOCK_NAME and path.read_text().strip() == str(os.getpid())
        assert waited > 1.0  # the holder keeps the lock for 2 s after saying "locked"
        assert f"in use by pid {holder.pid}; waiting" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
