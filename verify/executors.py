"""Where a suite's runs execute: local worker processes (the default) or Ray tasks.

Both executors take the same list of ``RunSpec`` and hand every ``RunResult`` to the runner's
``record`` callback as soon as it arrives, so results land in the same store by the same path and
an interrupted suite resumes the same way whichever executor ran it.  Each run is
``verify.run.execute_safely`` with ``torch.set_num_threads(threads)`` first, where ``threads``
comes from the requested worker count exactly as for local workers: a run's numbers depend only
on its spec and that thread count, so the Ray executor stores the same numbers as the local one.

Ray (``pip install -e '.[ray]'``) is optional and imported only when asked for.  Without
``address`` a local Ray instance is started with ``num_cpus = workers`` and shut down afterwards;
with ``address`` the driver connects to that cluster (whose nodes need lengthgen installed in the
same Python environment) and only disconnects.  If Ray is already initialised in this process
(a test, a notebook), that connection is used and left open.  Every task asks for one CPU, so at
most ``workers`` runs execute at once on a local instance, each with ``threads`` torch threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Callable, Sequence

from .suite import SuiteError

#: glibc ``mallopt`` parameters and the values a worker sets (``prepare_worker``)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_WORKER_MALLOC = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 512 << 20), (_M_TOP_PAD, 64 << 20))


def prepare_worker(threads: int) -> None:
    """What every worker process does before its first run: ``threads`` torch threads, and keep
    freed memory in the process.

    By default glibc gives blocks of more than ~128 kB back to the kernel when they are freed, so a
    training step's activations (re-allocated every step) are fresh pages each time: the default
    suite took 7.3 million page faults and 16 s of kernel time.  Allocations up to 32 MB then come
    from the heap and are reused (``mallopt``; benchmarks/THROUGHPUT.md).  Where ``mallopt`` is not
    glibc's (macOS, musl) nothing is changed.  No computed number depends on it."""
    import ctypes

    import torch

    torch.set_num_threads(threads)
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.gnu_get_libc_version  # noqa: B018  (present in glibc only)
    except (OSError, AttributeError, TypeError):  # TypeError: CDLL(None) where it cannot open the program (Windows)
        return
    for parameter, value in _WORKER_MALLOC:
        libc.mallopt(parameter, value)


#: the values of ``lengthgen report --executor``
EXECUTORS = ("local", "ray")
RAY_FIX = "pip install -e '.[ray]'"


class ExecutorError(SuiteError):
    """The requested executor cannot be used (not installed, unreachable, lost runs)."""


def check(executor: str, address: str | None = None) -> None:
    """Raise ``ExecutorError`` (one line, naming the fix) if ``executor`` cannot be used here
    (``run_all`` and the CLI call this before anything is written or trained)."""
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise ExecutorError("--address is only used with --executor ray")
    if executor == "ray":
        _import_ray()
        if address is not None:
            probe(address)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"--executor ray needs Ray, which is not installed; install it with `{RAY_FIX}`") from None
    return ray


def init_kwargs(workers: int, address: str | None) -> dict:
    """The arguments of ``ray.init``: connect to ``address``, or start a local instance of ``workers`` CPUs
    (``address="local"``: a new instance even where ``RAY_ADDRESS`` is set)."""
    kwargs = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address is not None:
        kwargs["address"] = address
    else:
        kwargs.update(address="local", num_cpus=workers, include_dashboard=False)
    return kwargs


def probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast if a ``HOST:PORT`` (or ``ray://HOST:PORT``) address does not accept connections:
    ``ray.init`` itself retries an unreachable address for about ten minutes before giving up."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" and other forms: left to ray.init
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise ExecutorError(f"cannot reach the Ray cluster at {address!r} ({type(err).__name__}: {err}); start "
                            "one there (`ray start --head`), fix --address, or leave it out to start a local "
                            "instance") from None


def execute_with_threads(spec, threads: int, weights: str | None = None):
    """One run in a Ray worker: the thread count of a local worker, then ``execute_safely``
    (``weights``: the store directory a stage's parent weights are read from)."""
    from .run import execute_safely

    prepare_worker(threads)
    return execute_safely(spec, weights=weights)


def run_ray(todo: Sequence, workers: int, threads: int, record: Callable, address: str | None = None,
            weights: str | None = None) -> None:
    """Execute ``todo`` as Ray tasks, calling ``record(result)`` for each as it completes.

    Runs whose task was lost by Ray itself (a worker or node died after Ray's retries) are not
    recorded: they stay missing from the store, so the next invocation computes them; an
    ``ExecutorError`` saying so is raised after every other run has been recorded.
    """
    ray = _import_ray()
    owned = not ray.is_initialized()
    if owned:
        try:
            ray.init(**init_kwargs(workers, address))
        except (ConnectionError, RuntimeError, ValueError) as err:
            what = (f"reach the Ray cluster at {address!r}", "check --address, or leave it out to start a local "
                    "instance") if address else ("start a local Ray instance", "see the Ray log under /tmp/ray")
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ExecutorError(f"could not {what[0]} ({type(err).__name__}: {first}); {what[1]}") from None
    lost: list[str] = []
    pending: list = []
    try:
        task = ray.remote(num_cpus=1)(execute_with_threads)
        # submitted in the runner's order (most expensive first); Ray starts them roughly in that order
        pending = [task.remote(spec, threads, weights) for spec in todo]
        keys = {ref: spec.key for ref, spec in zip(pending, todo)}
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:  # the task itself never raises: execute_safely
                    lost.append(f"{keys[ref]} ({type(err).__name__})")
                    continue
                record(result)
    except BaseException:
        for ref in pending:  # interrupted: do not leave runs computing on a cluster for nobody
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if owned:
            ray.shutdown()
    if lost:
        raise ExecutorError(f"Ray lost {len(lost)} run(s): {', '.join(lost)}; the other runs are stored, and "
                            "re-running the same command computes only the missing ones")
