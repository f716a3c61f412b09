"""Execute a suite's runs in local worker processes (or as Ray tasks), reusing stored results.

Two 1-thread workers beat one 2-thread process for these small models on 2 cores (1.44×
aggregate throughput in docs/feasibility.md §4).  Each finished run is committed to the store at once, in
its own transaction, so an interrupted suite (even by SIGKILL) resumes with only the unfinished
runs.  A run's result depends only on its spec and the thread count, which depends only on the
requested ``workers`` and the machine, never on how many runs are left, so a resumed suite
computes the same numbers as an uninterrupted one.  A run that fails (diverges) is
stored as failed and reported; it is retried only when asked (``retry_failed``).
``executor="ray"`` runs the same specs as Ray tasks with the same thread count and records them
by the same ``record`` path (``verify.executors``), so resuming works the same way.

Weights: every finished run's chosen checkpoint is saved (atomically, before its result is
committed) to ``<directory>/weights/<key>.pt``, loadable with ``torch.load(path,
weights_only=True)``.  Stages (``RunSpec.init_from``) run in waves after their parents; a stage
whose parent is stored but whose weights are missing (a fresh clone: ``*.pt`` is git-ignored)
gets its parent recomputed first, and a stage whose parent failed is stored as failed with that
reason.  ``fresh=True`` moves the existing store and weights aside (``previous-<time>/``, never
deleted) and computes everything again.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import io
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from .executors import check, prepare_worker, run_ray
from .run import RunResult, RunSpec, execute_safely, weights_path
from .spec import StoredRun
from .store import COPIED, RunStore, StoreError, _atomic_write, read_copied, write_copied


def _init_worker(threads: int) -> None:
    prepare_worker(threads)


def _expected_cost(spec: RunSpec) -> float:
    # mixtures carry more rows per step; start them first so workers finish together
    return spec.train.steps * (1.0 + 0.5 * len(spec.mixture))


def _depth(spec: RunSpec) -> int:
    return 0 if spec.init_from is None else 1 + _depth(spec.init_from)


def save_weights(path: Path, state: dict) -> None:
    """``torch.save`` the state, written like every stored file (``store._atomic_write``: never half-written)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    _atomic_write(path, buffer.getvalue())


def move_aside(directory: Path) -> Path | None:
    """Move a store (runs.sqlite, runs.json, weights/) into ``previous-<UTC time>/`` inside the
    directory, for ``--fresh``; return where it went (None if there was nothing)."""
    directory = Path(directory)
    names = [n for n in ("runs.sqlite", "runs.json", "weights", COPIED) if (directory / n).exists()]
    if not names:
        return None
    target = directory / f"previous-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"
    target.mkdir(parents=True)
    for name in names:
        os.replace(directory / name, target / name)
    return target


def copy_from_stores(specs: Iterable[RunSpec], directory: Path, sources: Iterable[Path]) -> dict[str, dict]:
    """Copy into ``directory``'s store every run of ``specs`` it lacks that another suite's store
    (``sources``, report folders) holds under the same key, with its weights and its original
    ``finished_at``; record where each came from in ``copied.json``; return that record.

    The key hashes the whole spec (task definitions, data format, model, budget, seeds), and a run's
    numbers depend only on it and the thread count, so a copied run is the run this suite would
    train (suites that share runs, e.g. the claims suite and the arithmetic study, train them once).
    Failed runs, and runs whose training time the source does not record, are not copied; a source
    store that cannot be read is skipped with a warning (copying only saves time)."""
    directory = Path(directory)
    copied = read_copied(directory)
    store = RunStore(directory)
    stored = store.runs() if store.exists() else {}
    wanted = {s.key for s in specs if s.key not in stored}
    for source in sources:
        source = Path(source)
        if not wanted or not RunStore(source).exists() or source.resolve() == directory.resolve():
            continue
        try:
            source_runs = RunStore(source).load()
        except StoreError as err:
            print(f"warning: not copying runs from {source}: {err}", file=sys.stderr)
            continue
        for key, run in source_runs.items():
            if key not in wanted or run["status"] != "ok" or not run.get("finished_at"):
                continue
            weights = weights_path(source, key)
            if weights.exists():
                _atomic_write(weights_path(directory, key), weights.read_bytes())
            store.put(run, finished_at=run.get("finished_at"))
            copied[key] = {"from": str(source), "finished_at": run.get("finished_at")}
            wanted.discard(key)
    if copied:
        write_copied(directory, copied)
    return copied


def forget_copied(directory: Path, key: str) -> None:
    """Drop ``key`` from ``copied.json``: the run was trained in this folder after all."""
    copied = read_copied(directory)
    if key in copied:
        del copied[key]
        write_copied(directory, copied)


def run_all(specs: Iterable[RunSpec], directory: Path, workers: int = 2, retry_failed: bool = False,
            show_progress: bool = True, executor: str = "local", address: str | None = None,
            fresh: bool = False) -> dict[str, StoredRun]:
    """Run every spec not already in the store; return the stored runs (key -> run) for these specs.

    ``executor`` is ``"local"`` (worker processes) or ``"ray"`` (Ray tasks; ``address`` is passed
    to ``ray.init``, and without it a local instance of ``workers`` CPUs is started; stages need
    the store directory on a file system the Ray workers share).  ``fresh`` moves the old store
    aside first (see the module docstring)."""
    check(executor, address)
    specs = list(specs)
    if fresh:
        move_aside(directory)
    store = RunStore(directory)
    stored = store.runs()

    def needed(spec: RunSpec) -> bool:
        return spec.key not in stored or (retry_failed and not stored[spec.key].ok)

    todo = {s.key: s for s in specs if needed(s)}
    for spec in list(todo.values()):  # parents a stage needs: not stored, or stored without weights
        parent = spec.init_from
        while parent is not None and parent.key not in todo:
            if needed(parent) or (stored[parent.key].ok and not weights_path(directory, parent.key).exists()):
                todo[parent.key] = parent
            parent = parent.init_from
    if todo:
        bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not show_progress, dynamic_ncols=True)
        # threads from the requested worker count, not from the runs left: CPU float reductions
        # depend on the thread count, and a resumed suite must compute what an uninterrupted one does
        threads = max(1, (os.cpu_count() or 2) // max(1, workers))

        def record(result: RunResult) -> None:
            if result.state is not None:  # weights first: a committed run always has its checkpoint
                save_weights(weights_path(directory, result.key), result.state)
            stored[result.key] = StoredRun.from_dict(store.put(result.to_dict()))
            forget_copied(directory, result.key)  # trained here now (e.g. a copied parent without weights)
            spec = result.spec
            bar.set_postfix_str(f"{spec['task']}/{spec['condition']}/seed {spec['seed']}: {result.status}")
            bar.update(1)

        for depth in sorted({_depth(s) for s in todo.values()}):
            wave = []
            for spec in sorted((s for s in todo.values() if _depth(s) == depth), key=_expected_cost, reverse=True):
                parent = stored.get(spec.init_from.key) if spec.init_from is not None else None
                if parent is not None and not parent.ok:
                    record(RunResult(spec.to_dict(), spec.key, "failed",
                                     reason=f"its parent run {parent.key} ({parent.spec.condition}) failed: "
                                            f"{parent.reason.split(' | ')[0]}"))
                else:
                    wave.append(spec)
            if wave:
                _execute(wave, directory, workers, threads, record, executor, address)
        bar.close()
    keys = {s.key for s in specs}
    return {k: v for k, v in stored.items() if k in keys}


def _execute(todo: list[RunSpec], directory: Path, workers: int, threads: int, record, executor: str,
             address: str | None) -> None:
    workers = max(1, min(workers, len(todo)))
    weights = str(directory)
    if executor == "ray":
        run_ray(todo, workers, threads, record, address, weights=weights)
    elif workers == 1:
        _init_worker(threads)
        for spec in todo:
            record(execute_safely(spec, weights=weights))
    else:
        ctx = mp.get_context("spawn")  # no inherited OpenMP state from the parent
        with ctx.Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
            for result in pool.imap_unordered(functools.partial(execute_safely, weights=weights), todo):
                record(result)
