"""Every run records the torch thread count it computed with (its last bits depend on it; its key
does not), the store checks the field, and the report says how many runs used which count."""

import dataclasses

import pytest
import torch

from verify.report import threads_text
from verify.run import execute
from verify.spec import StoredRun
from verify.store import RunStore, StoreError

from test_store import make_run
from test_resume import tiny_spec


def test_a_run_records_its_thread_count(monkeypatch):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        result = execute(tiny_spec(seed=5, steps=4, eval_every=2))
    finally:
        torch.set_num_threads(threads)
    assert result.threads == 1 and result.to_dict()["threads"] == 1
    assert StoredRun.from_dict(result.to_dict()).threads == 1


def test_runs_stored_before_the_field_read_as_not_recorded_and_stay_unchanged(tmp_path):
    old = make_run("a")
    assert "threads" not in old
    typed = StoredRun.from_dict(old)
    assert typed.threads == 0 and "threads" not in typed.to_dict()
    store = RunStore(tmp_path)
    store.put({**make_run("b"), "threads": 2})
    assert store.runs()[make_run("b")["key"]].threads == 2


@pytest.mark.parametrize("bad", [0, -1, "2", True, 1.5])
def test_a_bad_thread_count_is_refused_on_load(tmp_path, bad):
    store = RunStore(tmp_path)
    store.put({**make_run("c"), "threads": bad})
    with pytest.raises(StoreError, match="threads"):
        store.load()


def test_the_report_counts_runs_per_thread_count():
    runs = [dataclasses.replace(StoredRun.from_dict(make_run(str(i))), threads=t) for i, t in enumerate((1, 1, 2, 0))]
    text = threads_text(runs)
    assert "2 runs with 1 thread" in text and "1 run with 2 threads" in text and "1 not recorded" in text
