"""The SQLite run store: round trip, refusal of corrupt or foreign files, runs.json snapshot and
import, and the `lengthgen runs` listing.  No training here: runs are hand-made dicts."""

import json
import sqlite3

import pytest

from verify.cli import main
from verify.spec import RunSpec, TrainConfig
from verify.store import FORMAT, RunStore, StoreError, spec_key


def make_run(label: str, seed: int = 0, status: str = "ok", condition: str = "primary") -> dict:
    """A hand-made run; ``label`` goes into its spec, and its key is the spec's hash (as the store checks)."""
    measurements = [{"length": n, "outputs": n, "instances": 64, "exact": 64 - 10 * n, "token_accuracy": 1 - 0.05 * n,
                     "restrictions": 128, "restriction_errors": n, "consistent": 128 - n,
                     # the 10n wrong instances: first wrong at the last output, except one at y[0]
                     "first_errors": [1] + [0] * (n - 2) + [10 * n - 1] if n > 1 else [10]} for n in range(1, 5)]
    # a complete spec (the listing reads typed runs); the label rides in task_digest to give distinct keys
    spec = RunSpec(task="reverse", condition=condition, seed=seed, train_lengths=(1, 2), test_lengths=(1, 2, 3, 4),
                   restriction_m=6, restriction_lengths=(1, 6), layers=1, d_model=16, heads=2, position_scheme="rope",
                   train=TrainConfig(steps=30, lr=0.001), task_digest=label).to_dict()
    spec = json.loads(json.dumps(spec))  # as stored: JSON types
    return {"key": spec_key(spec), "status": status, "reason": "" if status == "ok" else "loss blew up to 9 at step 21 | tb",
            "spec": spec,
            "best_step": 30 if status == "ok" else 0, "validation_exact": 0.875 if status == "ok" else float("nan"),
            "train_seconds": 1.5, "wall_seconds": 2.25, "measurements": measurements if status == "ok" else [],
            "loss_curve": [[10, 1.25]]}


def without_time(run: dict) -> dict:
    return {k: v for k, v in run.items() if k != "finished_at"}


def same(a: dict, b: dict) -> bool:  # NaN-aware dict equality
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_round_trip_each_put_is_committed(tmp_path):
    store = RunStore(tmp_path)
    assert store.load() == {} and not store.path.exists()  # reading creates nothing
    a, b = make_run("a" * 16), make_run("b" * 16, seed=1, status="failed")
    stored_a = store.put(a)
    assert stored_a["finished_at"] and same(without_time(stored_a), a)
    store.put(b)
    loaded = RunStore(tmp_path).load()  # a fresh instance: everything is on disk
    assert set(loaded) == {a["key"], b["key"]}
    assert same(without_time(loaded[a["key"]]), a) and same(without_time(loaded[b["key"]]), b)
    assert loaded[a["key"]]["finished_at"] == stored_a["finished_at"]
    # a put replaces the run with the same key (retrying a failed run)
    retried = store.put(make_run("b" * 16, seed=1))
    assert store.load()[b["key"]]["status"] == "ok" and retried["finished_at"] > loaded[b["key"]]["finished_at"]
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name='format'").fetchone() == (FORMAT,)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)
    assert not list(tmp_path.glob(".runs.sqlite.*"))  # no temporary files left behind


@pytest.mark.parametrize("content", [b"garbage bytes, not a database" * 40, b"", b"SQLite format 3\x00" + b"\x07" * 500])
def test_corrupt_file_is_refused_and_untouched(tmp_path, content):
    path = tmp_path / "runs.sqlite"
    path.write_bytes(content)
    store = RunStore(tmp_path)
    for attempt in (store.load, lambda: store.put(make_run("c" * 16))):
        with pytest.raises(StoreError) as err:
            attempt()
        message = str(err.value)
        assert str(path) in message and "move it aside" in message and "\n" not in message
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.sqlite"]


@pytest.mark.parametrize("setup", [
    "CREATE TABLE photos (id INTEGER, name TEXT); INSERT INTO photos VALUES (1, 'cat');",
    "CREATE TABLE meta (name TEXT, value TEXT); INSERT INTO meta VALUES ('format', 'lengthgen-runs/99');",
])
def test_foreign_sqlite_is_refused_and_untouched(tmp_path, setup):
    path = tmp_path / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(setup)
    conn.close()
    before = path.read_bytes()
    store = RunStore(tmp_path)
    for attempt in (store.load, lambda: store.put(make_run("c" * 16))):
        with pytest.raises(StoreError, match="not a lengthgen result store") as err:
            attempt()
        assert str(path) in str(err.value) and "move it aside" in str(err.value)
    assert path.read_bytes() == before


def test_snapshot_export_and_import_when_sqlite_is_missing(tmp_path):
    store = RunStore(tmp_path)
    runs = [store.put(make_run(k * 16, seed=i)) for i, k in enumerate("abc")]
    store.put(make_run("d" * 16, seed=3, status="failed"))
    store.export_json()
    snapshot = store.snapshot.read_text()
    data = json.loads(snapshot)
    assert data["format"] == FORMAT and len(data["runs"]) == 4
    assert snapshot == json.dumps(data, indent=1, sort_keys=True) + "\n"  # sorted keys, human-readable
    # a fresh clone has runs.json only: the first access imports it, timestamps included
    store.path.unlink()
    imported = RunStore(tmp_path).load()
    assert store.path.exists() and store.snapshot.read_text() == snapshot
    assert all(same(imported[r["key"]], r) for r in runs)
    RunStore(tmp_path).export_json()
    assert store.snapshot.read_text() == snapshot  # re-rendering a clone gives no git diff


def test_import_of_a_format_1_json_store(tmp_path):
    runs = {run["key"]: run for run in (make_run(k * 16, seed=i) for i, k in enumerate("ab"))}
    (tmp_path / "runs.json").write_text(json.dumps({"format": "lengthgen-runs/1", "runs": runs}))
    loaded = RunStore(tmp_path).load()
    assert {k: without_time(v) for k, v in loaded.items()} == runs
    assert all(v["finished_at"] is None for v in loaded.values())


def test_corrupt_snapshot_is_refused_and_nothing_is_created(tmp_path):
    snapshot = tmp_path / "runs.json"
    snapshot.write_text("{ this is not json")
    with pytest.raises(StoreError, match="corrupt.*move it aside"):
        RunStore(tmp_path).load()
    assert snapshot.read_text() == "{ this is not json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.json"]


def test_runs_command_lists_and_shows(tmp_path, capsys):
    store = RunStore(tmp_path / "smoke")
    ok_key = store.put(make_run("0123456789abcdef"))["key"]
    failed_key = store.put(make_run("fedcba9876543210", seed=1, status="failed", condition="primary+restriction"))["key"]
    assert main(["runs", "--suite", "smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["key", "task", "condition", "seed", "status", "step", "val.", "EM", "wall", "s", "weights"]
    ok_line = next(line for line in lines if line.startswith(ok_key))
    assert ok_line.split() == [ok_key, "reverse", "primary", "0", "ok", "30", "0.875", "2.2", "—"]  # no weights saved
    failed_line = next(line for line in lines if line.startswith(failed_key))
    assert failed_line.split()[4:] == ["failed", "—", "—", "2.2", "—"]
    weights = tmp_path / "smoke" / "weights" / f"{ok_key}.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"\0" * 3 * 1024)
    assert main(["runs", "--suite", "smoke", "--out", str(tmp_path)]) == 0
    again = capsys.readouterr().out
    assert next(line for line in again.splitlines() if line.startswith(ok_key)).split()[-2:] == ["3", "KiB"]
    assert f"failed {failed_key}: loss blew up to 9 at step 21" in out
    assert "2 stored runs" in lines[-1] and "0 of the 4 runs of suite 'smoke' are stored (1 failed)" in lines[-1]

    assert main(["runs", "show", ok_key[:8], "--suite", "smoke", "--out", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert f"run {ok_key}: reverse / primary / seed 0 — ok" in shown
    assert "train.steps" in shown and "chosen step 30" in shown
    table = [line.split() for line in shown.splitlines() if line.strip()[:1].isdigit()]
    assert table[0] == ["1*", "1", "64", "54", "0.844", "0.950", "0.008", "0.992", "0"]
    assert table[3][-1] == "3"  # median first error among the 40 wrong instances of length 4: the last output
    assert [row[0] for row in table] == ["1*", "2*", "3", "4"]


@pytest.mark.parametrize("args, phrase", [
    (("runs", "show", "no_such_key"), "no stored run with key 'no_such_key'"),
    (("runs", "show"), "needs a run key"),
    (("runs", "--suite", "no_such_suite"), "unknown suite 'no_such_suite'"),
])
def test_runs_command_errors_are_one_line(tmp_path, capsys, args, phrase):
    RunStore(tmp_path / "smoke").put(make_run("0123456789abcdef"))
    assert main([*args, "--out", str(tmp_path)] + ([] if "--suite" in args else ["--suite", "smoke"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lengthgen: error:") and phrase in err[0]


def test_runs_command_without_a_store_says_what_to_do(tmp_path, capsys):
    assert main(["runs", "--suite", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no stored runs" in err and "lengthgen report --suite smoke" in err
    assert not (tmp_path / "smoke").exists()


def test_corrupt_store_is_one_line_from_the_command(tmp_path, capsys):
    path = tmp_path / "smoke" / "runs.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"\x00\x01garbage" * 100)
    assert main(["runs", "--suite", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt" in err[0] and "move it aside" in err[0]
    assert path.read_bytes() == b"\x00\x01garbage" * 100
