"""The Python API: run a suite or a single run and get typed results; read a report folder back.

    from verify import api

    result = api.run_suite("smoke", out="reports", workers=1)   # what `lengthgen report --suite smoke` does
    for run in result.runs:                                     # verify.spec.StoredRun records
        print(run.spec.condition, run.spec.seed, run.validation_exact)
    print(result.verdicts)                                      # claim -> supported | refuted | inconclusive
    rows = api.table(result.runs)                               # one row per (run, length): a pandas
                                                                # DataFrame if pandas is installed, else dicts
    again = api.load_results("reports/smoke")                   # an existing report folder, no training

    spec = api.make_spec("reverse", api.Condition("mine", ("restriction",)), seed=0, train_max=4, steps=100)
    run = api.run_one(spec)                                     # one run in this process -> StoredRun

``run_suite`` and the command line share ``produce_report``, so they store and report the same
numbers for the same settings (and thread count).  Importing this module prints nothing, imports
neither torch nor pyplot, and leaves matplotlib's backend alone; the heavy imports happen in the
functions that train or draw.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .spec import RunSpec, StoredRun
from .suite import (Beats, BoundHolds, Condition, Extrapolates, Item, Ordering, Suite, TaskOrdering,  # noqa: F401 (API)
                    TaskPlan, Transfers, build_spec, load_suite)


@dataclass
class SuiteResult:
    """A rendered suite: where it is, its runs (suite order), and each claim's verdict."""

    suite: str
    directory: Path
    runs: list[StoredRun]
    verdicts: dict[str, str]

    def table(self):
        return table(self.runs)


def produce_report(suite: Suite, directory: Path, *, workers: int = 2, retry_failed: bool = False,
                   show_progress: bool = False, executor: str = "local", address: str | None = None,
                   fresh: bool = False, no_train: bool = False, command: str = "") -> dict[str, str]:
    """Record predictions, train what is missing, render; return claim -> verdict.  The caller
    holds the folder lock (``verify.lock.folder_lock``)."""
    from .report import record_predictions, render
    from .runner import copy_from_stores, move_aside, run_all
    from .store import read_copied

    started = time.perf_counter()
    if no_train:
        return render(suite, directory, command, None)
    started_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    if fresh:
        move_aside(directory)
    read_copied(directory)  # a damaged copied.json stops the command before anything is trained or written
    record_predictions(suite, directory)  # before any training
    if not fresh and suite.reuse_from:
        copy_from_stores(suite.runs(), directory, [directory.parent / name for name in suite.reuse_from])
    run_all(suite.runs(), directory, workers, retry_failed, show_progress=show_progress, executor=executor,
            address=address)
    return render(suite, directory, command, time.perf_counter() - started, started_at)


def run_suite(suite: str | Suite, out: str | Path = "reports", *, workers: int = 2, seeds: tuple[int, ...] | None = None,
              steps: int | None = None, fresh: bool = False, retry_failed: bool = False, executor: str = "local",
              address: str | None = None, show_progress: bool = False) -> SuiteResult:
    """Run a suite (a committed name, a suite file, or a ``Suite``) like ``lengthgen report``:
    reuse stored runs, train the rest, write the report to ``out/<name>`` (``out/<name>-quick``
    with ``seeds``/``steps`` overrides); return its typed runs and verdicts."""
    from .cli import report_folder
    from .executors import check
    from .lock import folder_lock

    chosen = suite if isinstance(suite, Suite) else load_suite(str(suite))
    chosen = chosen.with_overrides(seeds=seeds, steps=steps)
    check(executor, address)
    directory = report_folder(Path(out), chosen)
    command = f"verify.api.run_suite({chosen.name!r})"
    with folder_lock(directory, wait=True, command=command):
        verdicts = produce_report(chosen, directory, workers=workers, retry_failed=retry_failed,
                                  show_progress=show_progress, executor=executor, address=address, fresh=fresh,
                                  command=command)
    return SuiteResult(chosen.name, directory, _suite_runs(chosen, directory), verdicts)


def _suite_runs(suite: Suite, directory: Path) -> list[StoredRun]:
    from .store import RunStore

    stored = RunStore(directory).runs()
    return [stored[s.key] for s in suite.runs() if s.key in stored]


def load_results(directory: str | Path) -> SuiteResult:
    """An existing report folder: every stored run (``runs.sqlite``, or ``runs.json`` in a fresh
    clone) and the verdicts of its last rendering (``verdicts.json``).  Nothing is trained."""
    from .store import RunStore, StoreError

    directory = Path(directory)
    store = RunStore(directory)
    if not store.exists():
        raise StoreError(f"no stored runs in {directory}; run `lengthgen report` (or api.run_suite) first")
    runs = sorted(store.runs().values(), key=lambda r: (r.spec.task, r.spec.condition, r.spec.seed, r.key))
    verdicts_path = directory / "verdicts.json"
    verdicts = {v["claim"]: v["verdict"] for v in json.loads(verdicts_path.read_text())} if verdicts_path.exists() else {}
    predictions_path = directory / "predictions.json"
    name = json.loads(predictions_path.read_text()).get("suite", directory.name) if predictions_path.exists() else directory.name
    return SuiteResult(name, directory, runs, verdicts)


def make_spec(task: str, condition: Condition = Condition("primary"), seed: int = 0, *, train_max: int = 8,
              test_factor: int = 3, steps: int = 2000, position_scheme: str = "rope", layers: int = 2,
              d_model: int = 64, heads: int = 4, eval_every: int = 250, eval_instances: int = 512,
              parent: RunSpec | None = None, precision: str = "fp32", skip_padding: bool = False) -> RunSpec:
    """A single run's spec (through ``verify.suite.build_spec``, as every spec is made);
    ``precision`` and ``skip_padding`` as a suite's (``TrainConfig``)."""
    from auxtasks.derive import resolve_task

    return build_spec(resolve_task(task), task, condition, seed, train_max, test_factor * train_max, steps,
                      position_scheme, layers=layers, d_model=d_model, heads=heads, eval_every=eval_every,
                      eval_instances=eval_instances, parent=parent, precision=precision,
                      skip_padding=skip_padding)


def run_one(spec: RunSpec, directory: str | Path | None = None) -> StoredRun:
    """Train and measure one run.  With ``directory`` it goes through that store (reused if stored,
    weights saved); without, it runs in this process and nothing is written (a stage then needs
    ``directory``, where its parent's weights are)."""
    if directory is not None:
        from .runner import run_all

        return run_all([spec], Path(directory), workers=1, show_progress=False)[spec.key]
    from .run import execute

    return StoredRun.from_dict(json.loads(json.dumps(execute(spec).to_dict())))


def table(runs: list[StoredRun]):
    """One row per (run, length) — spec columns, status and every per-length count and rate
    (``results.csv``'s columns); a failed run is one row with empty metrics.  A pandas DataFrame
    if pandas is importable, else a list of dicts."""
    from .report import results_rows

    rows = []
    for run in runs:
        rows += [{k: v for k, v in row.items() if k != "suite"}
                 for row in results_rows("", run.spec.train_lengths[1], [run])]
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)
