"""Execute a suite's runs in local worker processes (or as Ray tasks), reusing stored results.

Two 1-thread workers beat one 2-thread process for these small models on 2 cores (1.44×
aggregate throughput in FEASIBILITY §4).  Each finished run is committed to the store at once, in
its own transaction, so an interrupted suite (even by SIGKILL) resumes with only the unfinished
runs.  A run's result depends only on its spec and the thread count, which depends only on the
requested ``workers`` and the machine, never on how many runs are left, so a resumed suite
computes the same numbers as an uninterrupted one.  A run that fails (diverges) is
stored as failed and reported; it is retried only when asked (``retry_failed``).
``executor="ray"`` runs the same specs as Ray tasks with the same thread count and records them
by the same ``record`` path (``verify.executors``), so resuming works the same way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from .executors import check, run_ray
from .run import RunResult, RunSpec, execute_safely
from .store import RunStore


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _expected_cost(spec: RunSpec) -> float:
    # auxiliary runs carry more rows per step; start them first so workers finish together
    return spec.train.steps * (1.5 if spec.condition != "primary" else 1.0)


def run_all(specs: Iterable[RunSpec], directory: Path, workers: int = 2, retry_failed: bool = False,
            show_progress: bool = True, executor: str = "local", address: str | None = None) -> dict[str, dict]:
    """Run every spec not already in the store; return the store (key -> result) for these specs.

    ``executor`` is ``"local"`` (worker processes) or ``"ray"`` (Ray tasks; ``address`` is passed
    to ``ray.init``, and without it a local instance of ``workers`` CPUs is started)."""
    check(executor, address)
    specs = list(specs)
    store = RunStore(directory)
    stored = store.load()
    todo = [s for s in specs if s.key not in stored or (retry_failed and stored[s.key]["status"] != "ok")]
    todo.sort(key=_expected_cost, reverse=True)
    if todo:
        bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not show_progress, dynamic_ncols=True)
        # threads from the requested worker count, not from the runs left: CPU float reductions
        # depend on the thread count, and a resumed suite must compute what an uninterrupted one does
        threads = max(1, (os.cpu_count() or 2) // max(1, workers))
        workers = max(1, min(workers, len(todo)))

        def record(result: RunResult) -> None:
            stored[result.key] = store.put(result.to_dict())
            spec = result.spec
            bar.set_postfix_str(f"{spec['task']}/{spec['condition']}/seed {spec['seed']}: {result.status}")
            bar.update(1)

        if executor == "ray":
            run_ray(todo, workers, threads, record, address)
        elif workers == 1:
            _init_worker(threads)
            for spec in todo:
                record(execute_safely(spec))
        else:
            ctx = mp.get_context("spawn")  # no inherited OpenMP state from the parent
            with ctx.Pool(workers, initializer=_init_worker, initargs=(threads,)) as pool:
                for result in pool.imap_unordered(execute_safely, todo):
                    record(result)
        bar.close()
    keys = {s.key for s in specs}
    return {k: v for k, v in stored.items() if k in keys}
