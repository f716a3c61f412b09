"""The Ray executor stores the same numbers as local worker processes, by the same record path
(so resume works the same way); a missing Ray is a one-line error naming the fix."""

from __future__ import annotations

import socket
import sys

import pytest

from verify.cli import main
from verify.executors import ExecutorError, check, init_kwargs, probe
from verify.runner import run_all
from verify.spec import MixtureItem, RunSpec, TrainConfig
from verify.store import RunStore
from verify.suite import get_suite


def tiny_spec(seed: int) -> RunSpec:
    return RunSpec(task="reverse", condition="primary+restriction", seed=seed, train_lengths=(1, 3),
                   test_lengths=(1, 2, 3, 4, 5, 6), restriction_m=8, restriction_lengths=(1, 6),
                   layers=1, d_model=16, heads=2, position_scheme="rope", mixture=(MixtureItem("restriction", "restriction", (1, 6), 1.0, "reverse"),),
                   train=TrainConfig(steps=10, batch=16, eval_every=5, data_seed=1000 + seed, model_seed=seed),
                   eval_instances=32, validation_instances=32)


def numbers(runs: dict) -> dict:
    """Comparable numbers of stored run dicts (``RunStore.load``) or typed runs (``run_all``)."""
    from verify.spec import StoredRun

    typed = {k: r if isinstance(r, StoredRun) else StoredRun.from_dict(r) for k, r in runs.items()}
    return {k: (r.status, r.best_step, r.validation_exact, r.measurements, r.loss_curve) for k, r in typed.items()}


def test_ray_missing_is_one_line_error_naming_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["report", "--suite", "smoke", "--out", str(tmp_path), "--quiet", "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lengthgen: error:") and "pip install -e '.[ray]'" in err
    assert not (tmp_path / "smoke").exists()  # nothing written, nothing trained
    with pytest.raises(ExecutorError, match=r"pip install -e '\.\[ray\]'"):
        run_all(get_suite("smoke").runs(), tmp_path / "smoke", executor="ray", show_progress=False)


def test_address_needs_the_ray_executor_and_goes_to_ray_init(tmp_path, capsys):
    assert main(["report", "--suite", "smoke", "--out", str(tmp_path), "--address", "auto"]) == 2
    assert "--address is only used with --executor ray" in capsys.readouterr().err
    with pytest.raises(ExecutorError, match="unknown executor"):
        check("dask")
    assert init_kwargs(2, "ray://head:10001")["address"] == "ray://head:10001"
    local = init_kwargs(3, None)  # a new local instance, even where RAY_ADDRESS is set
    assert local["address"] == "local" and local["num_cpus"] == 3 and local["include_dashboard"] is False


def test_unreachable_address_fails_at_once_not_after_rays_retries():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ExecutorError, match="cannot reach the Ray cluster"):
            probe(address, timeout=2)
    probe("auto")  # forms without HOST:PORT are left to ray.init


@pytest.mark.slow
def test_ray_executor_starts_and_stops_its_own_local_instance(tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]' (it is in the test extra)")
    assert not ray.is_initialized()
    spec = tiny_spec(seed=5)
    ran = run_all([spec], tmp_path / "ray", workers=2, show_progress=False, executor="ray")
    assert not ray.is_initialized()  # the instance it started is shut down again
    assert ran[spec.key].status == "ok" and RunStore(tmp_path / "ray").load()[spec.key]["measurements"]


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]' (it is in the test extra)")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_executor_stores_what_local_workers_store_and_resumes(tmp_path, ray_local):
    specs = get_suite("smoke").runs()
    # reference: local worker processes, 2 workers of 1 thread
    local = run_all(specs, tmp_path / "local" / "smoke", workers=2, show_progress=False)

    # the Ray store already holds one finished run (an interrupted suite): only the others run
    store = RunStore(tmp_path / "ray" / "smoke")
    first = store.put({k: v for k, v in local[specs[0].key].to_dict().items() if k != "finished_at"})
    ran = run_all(specs, store.directory, workers=2, show_progress=False, executor="ray")  # 2 workers -> 1 thread
    stored = store.load()
    assert set(stored) == {s.key for s in specs} and all(r["status"] == "ok" for r in stored.values())
    assert stored[specs[0].key]["finished_at"] == first["finished_at"]  # reused, not recomputed
    assert all(stored[s.key]["finished_at"] > first["finished_at"] for s in specs[1:])  # recorded as they ran
    assert numbers(ran) == numbers(stored) == numbers(local)  # determinism across executors

    # a second invocation finds everything stored and submits nothing
    again = run_all(specs, store.directory, workers=2, show_progress=False, executor="ray")
    assert {k: r.finished_at for k, r in again.items()} == {k: r["finished_at"] for k, r in stored.items()}
    assert ray_local.is_initialized()  # an existing connection is used and left open


def test_ray_task_sets_the_local_workers_thread_count(ray_local):
    # the tiny runs above give the same numbers at 1 and 2 threads, so check the count itself
    from verify.executors import execute_with_threads

    spec = tiny_spec(seed=6)

    def run_and_count(threads):
        import torch

        return execute_with_threads(spec, threads).status, torch.get_num_threads()

    task = ray_local.remote(num_cpus=1)(run_and_count)
    assert ray_local.get([task.remote(2), task.remote(1)]) == [("ok", 2), ("ok", 1)]
