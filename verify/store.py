"""The result store of a suite: ``runs.json`` (every run, keyed by its config hash) and exports.

Writes are atomic (write a temporary file, then ``os.replace``), and the store is rewritten after
every finished run, so an interrupted suite loses at most the runs in flight and a re-run reuses
every stored run whose key matches.  A file that is not a lengthgen store is refused with a
message saying how to recover, never overwritten.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

FORMAT = "lengthgen-runs/1"


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


class RunStore:
    def __init__(self, directory: Path):
        self.path = Path(directory) / "runs.json"

    def load(self) -> dict[str, dict]:
        """key -> run result dict; empty if the store does not exist yet."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreError(f"{self.path} is corrupt ({err.__class__.__name__}: {err}); move it aside and re-run "
                             "to recompute, or restore it from git") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("runs"), dict):
            raise StoreError(f"{self.path} is not a lengthgen result store (expected format {FORMAT!r}); "
                             "move it aside and re-run")
        return data["runs"]

    def save(self, runs: dict[str, dict]) -> None:
        write_json(self.path, {"format": FORMAT, "runs": runs})


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
