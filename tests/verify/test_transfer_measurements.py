"""Transfer measurements of runs with task items (verify.run): item curves, head maps, checkpoints."""

import dataclasses
import json

import numpy as np
import pytest

from verify import api
from verify import run as vrun
from verify.spec import ItemCheckpoint, StoredRun, TransferCheckpoint
from verify.store import RunStore, StoreError
from verify.suite import Condition, Item

TINY = dict(seed=0, train_max=3, steps=40, layers=1, d_model=16, heads=2, eval_every=15, eval_instances=32)
NEW_FIELDS = ("item_measurements", "head_maps", "head_map_length", "transfer_checkpoints")


def mixture_spec(**overrides):
    return api.make_spec("capitalize_reverse", Condition("with-reverse", (Item("reverse", lengths=(1, 6)),)),
                         **{**TINY, **overrides})


def as_stored(result) -> dict:
    return json.loads(json.dumps(result.to_dict()))


@pytest.fixture(scope="module")
def mixture_run():
    return vrun.execute(mixture_spec())


def test_a_run_with_a_task_item_stores_its_transfer_measurements(mixture_run):
    spec = mixture_spec()
    assert mixture_run.status == "ok"
    d = as_stored(mixture_run)
    # every test length reverse admits (all of 1..9), on min(eval_instances, 256) = 32 instances
    assert [row[0] for row in d["item_measurements"]["reverse"]] == list(spec.test_lengths)
    assert all(row[2] == 32 and 0 <= row[1] <= 32 for row in d["item_measurements"]["reverse"])
    assert set(d["head_maps"]) == {"capitalize_reverse", "reverse"}
    assert all(np.asarray(m).shape == (1, 2) for m in d["head_maps"].values())
    assert d["head_map_length"] == (3 + 1 + 6) // 2 == vrun.transfer_probe_length(spec)
    checkpoints = d["transfer_checkpoints"]
    assert [c["step"] for c in checkpoints] == [15, 30, 40] == [s for s, _ in mixture_run.validation_curve]
    for c in checkpoints:
        assert c["lengths"] == [4, 5, 6]  # (n, A] = (3, 6]
        assert len(c["main"]) == 3 and all(0 <= v <= 1 for v in c["main"])
        assert set(c["items"]) == {"reverse"}
        assert len(c["items"]["reverse"]["exact"]) == 3 and c["items"]["reverse"]["map_difference"] >= 0


def test_probe_length_is_the_band_midpoint_or_the_training_maximum():
    assert vrun.transfer_probe_length(mixture_spec(train_max=4)) == (4 + 1 + 6) // 2
    short = api.make_spec("capitalize_reverse", Condition("short", (Item("reverse", lengths=(1, 2)),)), **TINY)
    assert vrun.transfer_probe_length(short) == 3  # A <= n: probe at n


def test_runs_without_task_items_store_no_transfer_fields():
    restriction_only = api.make_spec("capitalize_reverse", Condition("r", (Item("restriction"),)), **TINY)
    assert vrun.transfer_items(restriction_only) == []
    run = vrun.execute(api.make_spec("capitalize_reverse", Condition("alone"), **TINY))
    d = as_stored(run)
    assert d["item_measurements"] == {} and d["head_maps"] == {} and d["head_map_length"] == 0
    assert d["transfer_checkpoints"] == []
    stored = StoredRun.from_dict(d)
    assert (stored.item_measurements, stored.head_maps, stored.head_map_length, stored.transfer_checkpoints) == \
        ({}, {}, 0, ())


def test_transfer_fields_are_deterministic_and_change_nothing_else(mixture_run, monkeypatch):
    again = as_stored(vrun.execute(mixture_spec()))
    first = as_stored(mixture_run)
    assert {k: first[k] for k in NEW_FIELDS} == {k: again[k] for k in NEW_FIELDS}
    monkeypatch.setattr(vrun, "TRANSFER_MEASUREMENTS", False)
    plain = as_stored(vrun.execute(mixture_spec()))
    assert plain["key"] == first["key"]
    for name in ("measurements", "validation_curve", "loss_curve", "best_step", "validation_exact"):
        assert plain[name] == first[name], name
    assert plain["item_measurements"] == {} and plain["transfer_checkpoints"] == []


def test_store_round_trips_the_transfer_fields_and_loads_old_runs(mixture_run, tmp_path):
    store = RunStore(tmp_path)
    store.put(mixture_run.to_dict())
    stored = store.runs()[mixture_run.key]
    assert dataclasses.replace(stored, finished_at=None) == StoredRun.from_dict(as_stored(mixture_run))
    assert stored.head_map_length == 5
    assert stored.item_measurements["reverse"][0] == (1, as_stored(mixture_run)["item_measurements"]["reverse"][0][1], 32)
    assert np.asarray(stored.head_maps["reverse"]).shape == (1, 2)
    checkpoint = stored.transfer_checkpoints[-1]
    assert isinstance(checkpoint, TransferCheckpoint) and isinstance(checkpoint.items["reverse"], ItemCheckpoint)
    assert checkpoint.step == 40 and checkpoint.lengths == (4, 5, 6) and len(checkpoint.items["reverse"].exact) == 3
    assert StoredRun.from_dict(stored.to_dict()) == stored  # the typed record's dict reads back the same

    old = {k: v for k, v in mixture_run.to_dict().items() if k not in NEW_FIELDS}  # stored before the feature
    old_store = RunStore(tmp_path / "old")
    old_store.put(old)
    loaded = old_store.runs()[mixture_run.key]
    assert (loaded.item_measurements, loaded.head_maps, loaded.head_map_length, loaded.transfer_checkpoints) == \
        ({}, {}, 0, ())


GOOD_CHECKPOINT = {"step": 15, "lengths": [4, 5], "main": [0.5, 0.25],
                   "items": {"reverse": {"exact": [1.0, 0.5], "map_difference": 0.1}}}


@pytest.mark.parametrize("change,field", [
    ({"head_maps": "oops"}, "head_maps"),
    ({"head_maps": {"reverse": [[0.1, 0.2], [0.3]]}, "head_map_length": 5}, "head_maps"),
    ({"head_maps": {"reverse": [[0.1, 0.2]]}, "head_map_length": 0}, "head_map_length"),
    ({"item_measurements": {"reverse": [[4, 40, 32]]}}, "item_measurements"),
    ({"item_measurements": [[4, 1, 32]]}, "item_measurements"),
    ({"transfer_checkpoints": [{**GOOD_CHECKPOINT, "main": [0.5]}]}, "transfer_checkpoints"),
    ({"transfer_checkpoints": [{**GOOD_CHECKPOINT, "items": {"reverse": {"exact": [1.0, 0.5],
                                                                         "map_difference": -1}}}]},
     "transfer_checkpoints"),
])
def test_store_refuses_malformed_transfer_fields(mixture_run, tmp_path, change, field):
    store = RunStore(tmp_path)
    store.put({**mixture_run.to_dict(), **change})
    with pytest.raises(StoreError, match=f"its {field}.*re-run to recompute"):
        store.load()


def test_store_accepts_a_well_formed_checkpoint(mixture_run, tmp_path):
    store = RunStore(tmp_path)
    store.put({**mixture_run.to_dict(), "transfer_checkpoints": [GOOD_CHECKPOINT]})
    assert store.runs()[mixture_run.key].transfer_checkpoints[0].items["reverse"].map_difference == 0.1
