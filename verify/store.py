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
``finished_at`` (ISO 8601, UTC; ``None`` for runs imported from a snapshot that had none).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

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


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: object) -> None:
    _atomic_write(path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _row(run: dict, finished_at: str | None) -> tuple:
    rest = {k: v for k, v in run.items() if k not in _OWN_COLUMNS}
    return (run["key"], run["status"], json.dumps(run["spec"], sort_keys=True, default=list),
            json.dumps(rest, sort_keys=True, default=list), finished_at)


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
        return {row[0]: _run(*row) for row in rows}

    def put(self, run: dict) -> dict:
        """Store one finished run (a ``RunResult.to_dict()``), replacing any earlier run with its key,
        in its own transaction; return it as ``load`` will (with ``finished_at``)."""
        row = _row(run, _now())
        with self._connect(create=True) as conn:
            with conn:  # one transaction: committed (durably) when the block ends, rolled back on error
                conn.execute("INSERT OR REPLACE INTO runs (key, status, spec_json, result_json, finished_at) "
                             "VALUES (?, ?, ?, ?, ?)", row)
        return _run(*row)

    def export_json(self) -> None:
        """Write ``runs.json``: every stored run, sorted keys, atomically (the file committed to git)."""
        runs = self.load()
        _atomic_write(self.snapshot, json.dumps({"format": FORMAT, "runs": runs}, indent=1, sort_keys=True) + "\n")

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
        try:
            return [_row(run, run.get("finished_at")) for run in data["runs"].values()]
        except (KeyError, TypeError, AttributeError) as err:
            raise StoreError(f"{self.snapshot} has a malformed run ({err.__class__.__name__}: {err}); move it aside "
                             "and re-run to recompute, or restore it from git") from None

    def _create(self, rows: list[tuple]) -> None:
        """Build a complete store under a temporary name, then move it into place (never half-made)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".runs.sqlite.", suffix=".tmp")
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
    if not rows:
        _atomic_write(path, "")
        return
    fields = list(rows[0])
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        tmp = f.name
    os.replace(tmp, path)
