"""The result store of a suite: ``runs.sqlite`` (every run, keyed by its config hash) and exports.

The store is an SQLite file (stdlib ``sqlite3``) with two tables::

    meta(name TEXT PRIMARY KEY, value TEXT)       -- ('format', 'lengthgen-runs/2')
    runs(key TEXT PRIMARY KEY, status TEXT, spec_json TEXT, result_json TEXT, finished_at TEXT)

* **Atomic, per run.**  ``put`` inserts one finished run in its own transaction, so a suite killed
  at any moment (even SIGKILL) loses at most the runs in flight; a re-run reuses every stored run
  whose key matches.  A new store file is built under a temporary name and moved into place, so
  ``runs.sqlite`` either does not exist or carries the format marker.
* **Refusal, not repair.**  A file that is not SQLite (garbage bytes) or an SQLite file without
  this format marker raises ``StoreError`` naming the file and the fix; it is only read, never
  written.
* **Snapshot for git.**  ``runs.sqlite`` is binary and kept out of git (``.gitignore``); at render
  time ``export_json`` writes ``runs.json`` beside it (sorted keys, atomic).  When ``runs.sqlite``
  is missing but ``runs.json`` exists (a fresh clone), the first access imports ``runs.json``
  into a new ``runs.sqlite`` (finished_at timestamps included), so the committed report
  re-renders with ``lengthgen report --no-train``.  When both exist, ``runs.sqlite`` is the truth
  and ``runs.json`` is ignored (move the .sqlite aside to re-import a newer snapshot).

``load()`` returns ``key -> run dict``: a ``RunResult.to_dict()`` as stored (JSON types) plus
``finished_at`` (ISO 8601, UTC; ``None`` for runs imported from a snapshot that had none);
``runs()`` the same as typed ``verify.spec.StoredRun`` records, which is what everything past the
store reads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from .spec import HSA_MIXERS, StoredRun, spec_key

FORMAT = "lengthgen-runs/2"
#: runs.json snapshots that can be imported: the JSON store of format 1 had the same layout
JSON_FORMATS = ("lengthgen-runs/1", FORMAT)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (key TEXT PRIMARY KEY, status TEXT NOT NULL, spec_json TEXT NOT NULL,
                   result_json TEXT NOT NULL, finished_at TEXT);
"""
# columns of a run dict that live in their own table columns, not in result_json
_OWN_COLUMNS = ("key", "status", "spec", "finished_at")


class StoreError(ValueError):
    """The result store is unreadable or belongs to something else."""


def _atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (usual permissions, fsynced), then move it
    into place: ``path`` is either its old self or complete, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, usual_mode())  # mkstemp makes 0600; the result is an ordinary file
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: object) -> None:
    _atomic_write(path, json.dumps(json_safe(data), indent=1, sort_keys=True, default=str, allow_nan=False) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _row(run: dict, finished_at: str | None) -> tuple:
    rest = {k: v for k, v in run.items() if k not in _OWN_COLUMNS}
    return (run["key"], run["status"], json.dumps(run["spec"], sort_keys=True, default=list, allow_nan=False),
            json.dumps(json_safe(rest), sort_keys=True, default=list, allow_nan=False), finished_at)


def _run(key: str, status: str, spec_json: str, result_json: str, finished_at: str | None) -> dict:
    return {**json.loads(result_json), "key": key, "status": status, "spec": json.loads(spec_json),
            "finished_at": finished_at}


class RunStore:
    """The runs of one suite directory; see the module docstring for the file layout and guarantees."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / "runs.sqlite"
        self.snapshot = self.directory / "runs.json"

    # -- public interface ---------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether there is anything stored (the SQLite file or a snapshot to import)."""
        return self.path.exists() or self.snapshot.exists()

    def load(self) -> dict[str, dict]:
        """key -> run dict; empty if neither the store nor a snapshot exists yet."""
        if not self.exists():
            return {}
        with self._connect() as conn:
            try:
                rows = conn.execute("SELECT key, status, spec_json, result_json, finished_at FROM runs").fetchall()
            except sqlite3.DatabaseError as err:
                raise self._corrupt(err) from None
        return {row[0]: validate_run(_decoded(row, self.path), self.path) for row in rows}

    def runs(self) -> dict[str, StoredRun]:
        """key -> typed run (``StoredRun``); empty if nothing is stored."""
        stored = self.load()  # a StoreError from the checks on load passes through unchanged
        try:
            return {key: StoredRun.from_dict(run) for key, run in stored.items()}
        except (KeyError, TypeError, ValueError) as err:
            raise StoreError(f"{self.path} holds a run of another format ({type(err).__name__}: {err}); move it aside "
                             "and re-run to recompute") from None

    def put(self, run: dict, finished_at: str | None = None) -> dict:
        """Store one finished run (a ``RunResult.to_dict()``), replacing any earlier run with its key,
        in its own transaction; return it as ``load`` will (with ``finished_at``: now, or the given
        time of a run copied from another store)."""
        row = _row(run, finished_at or _now())
        with self._connect(create=True) as conn:
            with conn:  # one transaction: committed (durably) when the block ends, rolled back on error
                conn.execute("INSERT OR REPLACE INTO runs (key, status, spec_json, result_json, finished_at) "
                             "VALUES (?, ?, ?, ?, ?)", row)
        return _run(*row)

    def export_json(self) -> None:
        """Write ``runs.json``: every stored run, sorted keys, atomically (the file committed to git)."""
        runs = self.load()
        _atomic_write(self.snapshot, json.dumps(json_safe({"format": FORMAT, "runs": runs}), indent=1, sort_keys=True,
                                                allow_nan=False) + "\n")

    # -- opening, validating, creating --------------------------------------------------------------

    def _corrupt(self, err: Exception) -> StoreError:
        return StoreError(f"{self.path} is corrupt or not a lengthgen result store ({err}); move it aside and "
                          "re-run to recompute (or, if runs.json is beside it, to re-import from runs.json)")

    @contextlib.contextmanager
    def _connect(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        """An open, validated connection; the store is created (or imported) first if missing."""
        if not self.path.exists():
            if self.snapshot.exists():
                self._create(self._read_snapshot())
            elif create:
                self._create([])
            else:
                raise StoreError(f"no result store at {self.path}")
        with open(self.path, "rb") as f:
            magic = f.read(len(_SQLITE_MAGIC))
        if magic != _SQLITE_MAGIC:
            raise self._corrupt(ValueError("not an SQLite database"))
        # Journal mode: SQLite's default rollback journal (DELETE), synchronous=FULL.  Each commit is
        # durable and the store stays one self-contained file between commits.  WAL would let a
        # reader run beside the writer without waiting, but we write one row every few seconds
        # from a single process, and in WAL mode committed runs can sit in runs.sqlite-wal until a
        # checkpoint: a user who copies or moves runs.sqlite alone after a kill would lose them.
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            try:
                (found,) = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() or (None,)
            except sqlite3.OperationalError as err:
                if "no such table" not in str(err):
                    raise self._corrupt(err) from None
                found = None
            except sqlite3.DatabaseError as err:
                raise self._corrupt(err) from None
            if found != FORMAT:
                what = "has no lengthgen format marker" if found is None else f"has format {found!r}"
                raise StoreError(f"{self.path} is an SQLite file that is not a lengthgen result store of format "
                                 f"{FORMAT!r} (it {what}); move it aside and re-run")
            conn.execute("PRAGMA synchronous = FULL")
            yield conn
        finally:
            conn.close()

    def _read_snapshot(self) -> list[tuple]:
        try:
            data = json.loads(self.snapshot.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreError(f"{self.snapshot} is corrupt ({err.__class__.__name__}: {err}); move it aside and "
                             "re-run to recompute, or restore it from git") from None
        if not isinstance(data, dict) or data.get("format") not in JSON_FORMATS or not isinstance(data.get("runs"), dict):
            raise StoreError(f"{self.snapshot} is not a lengthgen result snapshot (expected format {FORMAT!r}); "
                             "move it aside and re-run")
        for key, run in data["runs"].items():  # checked before anything is created from it
            if not isinstance(run, dict) or run.get("key") != key:
                raise StoreError(f"{self.snapshot}: run {key}: the entry is not a run stored under its own key; "
                                 "restore the file from git, or move it aside and re-run to recompute")
            validate_run(run, self.snapshot)
        try:
            return [_row(run, run.get("finished_at")) for run in data["runs"].values()]
        except (KeyError, TypeError, AttributeError) as err:
            raise StoreError(f"{self.snapshot} has a malformed run ({err.__class__.__name__}: {err}); move it aside "
                             "and re-run to recompute, or restore it from git") from None

    def _create(self, rows: list[tuple]) -> None:
        """Build a complete store under a temporary name, then move it into place (never half-made)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".runs.sqlite.", suffix=".tmp")
        os.fchmod(fd, usual_mode())  # mkstemp makes 0600; the store is an ordinary file
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp)
            try:
                conn.executescript(_SCHEMA)
                with conn:
                    conn.execute("INSERT INTO meta (name, value) VALUES ('format', ?)", (FORMAT,))
                    conn.executemany("INSERT OR REPLACE INTO runs (key, status, spec_json, result_json, finished_at) "
                                     "VALUES (?, ?, ?, ?, ?)", rows)
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)  # never replaces a store another process created meanwhile
            except FileExistsError:
                pass
            except OSError:  # no hard links on this file system
                os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def export_csv(path: Path, rows: list[dict]) -> None:
    """Rows as CSV (atomically); the columns are every key of any row, in first-seen order, and a
    row without a column leaves it empty (a failed run has no metrics)."""
    text = io.StringIO(newline="")
    if rows:
        writer = csv.DictWriter(text, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), restval="")
        writer.writeheader()
        writer.writerows(rows)
    _atomic_write(path, text.getvalue())


# ---------------------------------------------------------------------------- checking what is loaded
# A stored result is data someone could have edited, truncated or produced with a bug: every run
# is checked when loaded (from runs.sqlite or imported from runs.json) and a bad one is refused
# with its file and key; the file is only read.  NaN is never written: json_safe maps it to null,
# and validate_run maps a null score back to NaN in memory.

#: fields of one per-length measurement (``verify.measure.LengthMeasurement``) and their counts
_MEASUREMENT_COUNTS = ("length", "outputs", "instances", "exact", "restrictions", "restriction_errors", "consistent")


def json_safe(value):
    """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN; null = undefined)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _run_problem(run: dict) -> str | None:
    """What is wrong with a loaded run dict, or None."""
    from .spec import RunSpec

    if not isinstance(run, dict):
        return f"it is {type(run).__name__}, not a run record"
    spec = run.get("spec")
    if not isinstance(spec, dict):
        return f"its spec is {type(spec).__name__}, not a run specification"
    if spec_key(spec) != run.get("key"):
        return f"its key does not match its spec (the spec hashes to {spec_key(spec)}): the spec was edited"
    if spec.get("data_format") == RunSpec.__dataclass_fields__["data_format"].default:
        try:
            rebuilt = RunSpec.from_dict(spec)
        except Exception as err:  # any way the dict fails to make a RunSpec is a malformed spec
            return f"its spec is malformed ({type(err).__name__}: {err})"
        if rebuilt.key != run["key"]:
            return f"its spec does not rebuild to its key (it rebuilds to {rebuilt.key})"
    if run.get("status") not in ("ok", "failed"):
        return f"its status is {run.get('status')!r}, not 'ok' or 'failed'"
    score = run.get("validation_exact")
    if score is None or (isinstance(score, float) and math.isnan(score)):
        if run["status"] == "ok":
            return "it is stored as ok but has no validation score"
    elif not (isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 1):
        return f"its validation score {score!r} is not a number in [0, 1]"
    measurements = run.get("measurements", [])
    if not isinstance(measurements, list) or (run["status"] == "ok" and not measurements):
        return "it is stored as ok but has no measurements"
    for m in measurements:
        if not isinstance(m, dict):
            return f"a measurement is {type(m).__name__}, not a record"
        missing = [f for f in (*_MEASUREMENT_COUNTS, "token_accuracy") if f not in m]
        if missing:
            return f"a measurement lacks {', '.join(missing)}"
        at = f"at length {m['length']}"
        bad = [f for f in _MEASUREMENT_COUNTS if not _is_count(m[f])]
        if bad:
            return f"{at}, {bad[0]} = {m[bad[0]]!r} is not a count (an integer >= 0)"
        acc = m["token_accuracy"]
        if not (isinstance(acc, (int, float)) and not isinstance(acc, bool) and math.isfinite(acc) and 0 <= acc <= 1):
            return f"{at}, token_accuracy = {acc!r} is not a finite number in [0, 1]"
        if m["instances"] < 1 or m["exact"] > m["instances"]:
            return f"{at}, exact = {m['exact']} of instances = {m['instances']} (needs 0 <= exact <= instances >= 1)"
        if m["restriction_errors"] > m["restrictions"] or m["consistent"] > m["restrictions"]:
            return (f"{at}, restriction_errors = {m['restriction_errors']} and consistent = {m['consistent']} must "
                    f"not exceed restrictions = {m['restrictions']}")
        first = m.get("first_errors", [])  # absent in runs stored before it was measured
        if not isinstance(first, (list, tuple)) or not all(_is_count(c) for c in first):
            return f"{at}, first_errors = {first!r} is not a list of counts"
        if first and (len(first) != m["outputs"] or sum(first) != m["instances"] - m["exact"]):
            return (f"{at}, first_errors has {len(first)} entries summing to {sum(first)}; it needs one per output "
                    f"({m['outputs']}) summing to the wrong instances ({m['instances'] - m['exact']})")
    threads = run.get("threads")  # absent in runs stored before it was recorded
    if threads is not None and not (_is_count(threads) and threads >= 1):
        return f"threads = {threads!r} is not a thread count (an integer >= 1)"
    return _transfer_problem(run) or _chunk_selection_problem(run)


def _is_number(v, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite number in [low, high] (a stored null is a NaN: not accepted here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high


def _is_fraction_list(values) -> bool:
    return isinstance(values, list) and all(_is_number(v, 0.0, 1.0) for v in values)


def _transfer_problem(run: dict) -> str | None:
    """What is wrong with a run's transfer measurements (``verify.run``), or None; runs stored before
    they were measured (or without task items) have none, which is fine."""
    items = run.get("item_measurements", {})
    if not isinstance(items, dict):
        return f"its item_measurements is {type(items).__name__}, not a map of item source -> [[length, exact, instances], ...]"
    for source, rows in items.items():
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 3 and all(_is_count(v) for v in r)
                                                 for r in rows):
            return f"its item_measurements[{source!r}] is not a list of [length, exact, instances] counts"
        bad = [r for r in rows if r[2] < 1 or r[1] > r[2]]
        if bad:
            return (f"its item_measurements[{source!r}] at length {bad[0][0]} has exact = {bad[0][1]} of instances = "
                    f"{bad[0][2]} (needs 0 <= exact <= instances >= 1)")
    maps = run.get("head_maps", {})
    if not isinstance(maps, dict):
        return f"its head_maps is {type(maps).__name__}, not a map of task -> layers × heads rows"
    shapes = set()
    for label, rows in maps.items():
        if not (isinstance(rows, list) and rows and all(isinstance(r, list) and r and len(r) == len(rows[0])
                                                        and all(_is_number(v, -1.0, 1.0) for v in r) for r in rows)):
            return (f"its head_maps[{label!r}] is not a layers × heads table of accuracy drops (equal rows of finite "
                    "numbers in [-1, 1])")
        shapes.add((len(rows), len(rows[0])))
    if len(shapes) > 1:
        return f"its head_maps have different shapes {sorted(shapes)}; every map of a run is layers × heads of one model"
    length = run.get("head_map_length", 0)
    if not _is_count(length) or (maps and length < 1):
        return f"its head_map_length = {length!r} is not a length >= 1 (0 only for a run without head_maps)"
    checkpoints = run.get("transfer_checkpoints", [])
    if not isinstance(checkpoints, list):
        return f"its transfer_checkpoints is {type(checkpoints).__name__}, not a list of checkpoint records"
    for c in checkpoints:
        if not isinstance(c, dict) or not {"step", "lengths", "main", "items"} <= set(c):
            return "a transfer_checkpoints entry is not a record of step, lengths, main and items"
        at = f"transfer_checkpoints at step {c['step']!r}"
        if not _is_count(c["step"]):
            return f"a transfer_checkpoints entry has step = {c['step']!r}, not a count"
        if not isinstance(c["lengths"], list) or not all(_is_count(n) for n in c["lengths"]):
            return f"its {at} has lengths {c['lengths']!r}, not a list of lengths"
        size = len(c["lengths"])
        if not _is_fraction_list(c["main"]) or len(c["main"]) != size:
            return f"its {at} has main = {c['main']!r}; it needs one exact match in [0, 1] per length ({size})"
        if not isinstance(c["items"], dict):
            return f"its {at} has items of type {type(c['items']).__name__}, not a map of item source -> record"
        for source, item in c["items"].items():
            if not isinstance(item, dict) or not _is_fraction_list(item.get("exact")) or len(item["exact"]) != size:
                return (f"its {at}, item {source!r}, needs exact: one exact match in [0, 1] per length ({size})")
            if not _is_number(item.get("map_difference"), 0.0):
                return (f"its {at}, item {source!r}, has map_difference = {item.get('map_difference')!r}, not a "
                        "finite number >= 0")
    return None


def _chunk_selection_problem(run: dict) -> str | None:
    """What is wrong with a run's ``chunk_selection`` (HSA mixers only, ``verify.run``), or None; absent
    or empty (other mixers, runs stored before it was measured) is fine."""
    rows = run.get("chunk_selection", [])
    shape = "a list of [length, covered, total] counts, one per test length"
    if not isinstance(rows, list):
        return f"its chunk_selection is {type(rows).__name__}, not {shape}"
    bad = [r for r in rows if not (isinstance(r, list) and len(r) == 3 and all(_is_count(v) for v in r))]
    if bad:
        return f"its chunk_selection has the entry {bad[0]!r}, not [length, covered, total] counts; it needs {shape}"
    if not rows:
        return None
    mixer = run["spec"].get("mixer", "attention")
    if mixer not in HSA_MIXERS:
        return f"its chunk_selection is measured for mixers {' and '.join(HSA_MIXERS)} only; its spec's mixer is {mixer!r}"
    for length, covered, total in rows:
        if total < 1 or covered > total:
            return (f"its chunk_selection at length {length} has covered = {covered} of total = {total} "
                    "(needs 0 <= covered <= total >= 1)")
    lengths = [r[0] for r in rows]
    if len(set(lengths)) != len(lengths):
        return f"its chunk_selection lists a length twice (lengths {lengths}); it needs {shape}"
    measured = {m.get("length") for m in run.get("measurements", []) if isinstance(m, dict)}
    unmeasured = [n for n in lengths if n not in measured]
    if unmeasured:
        return f"its chunk_selection has length {unmeasured[0]}, which is not among its measured test lengths"
    return None


def _decoded(row: tuple, source: Path) -> dict:
    """A stored row as a run dict; a truncated or non-JSON blob is refused with the run's key."""
    try:
        return _run(*row)
    except (json.JSONDecodeError, TypeError) as err:
        raise StoreError(f"{source}: run {row[0]}: its stored result is not a JSON record ({err}); move the store "
                         "aside and re-run (runs.json beside it is re-imported, or the run recomputed)") from None


def validate_run(run: dict, source: Path) -> dict:
    """``run`` checked (see ``_run_problem``), with an undefined (null) validation score as NaN;
    a bad run raises ``StoreError`` naming ``source`` and the run's key."""
    problem = _run_problem(run)
    if problem:
        raise StoreError(f"{source}: run {run.get('key')}: {problem}; restore the file (runs.json: from git), or "
                         "move it aside and re-run to recompute")
    if run.get("validation_exact") is None:
        run["validation_exact"] = float("nan")
    return run


def usual_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


COPIED = "copied.json"  # key -> where a run was copied from (``verify.runner.copy_from_stores``)


def write_copied(directory: Path, copied: dict[str, dict]) -> None:
    """Write ``copied.json`` (key -> {"from", "finished_at"}), atomically."""
    _atomic_write(Path(directory) / COPIED, json.dumps(copied, indent=1, sort_keys=True) + "\n")


def read_copied(directory: Path) -> dict[str, dict]:
    """``copied.json`` of a report folder (key -> {"from", "finished_at"}); empty if none."""
    path = Path(directory) / COPIED
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise StoreError(f"{path} is not readable JSON ({err}); delete it (the runs it names stay in the store, "
                         "only the note of where they came from is lost)") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise StoreError(f"{path} is not a key -> {{from, finished_at}} map; delete it")
    for key, entry in data.items():  # the report reads entry["from"] as a path and prints finished_at
        if not isinstance(entry.get("from"), str) or not isinstance(entry.get("finished_at"), (str, type(None))):
            raise StoreError(f"{path}: run {key}: the entry needs a folder name under 'from' and a time or null under "
                             f"'finished_at', got {entry!r}; delete the file (the runs stay in the store, only the note "
                             "of where they came from is lost)")
    return data
