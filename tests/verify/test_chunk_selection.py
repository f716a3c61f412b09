"""HSA's chunk-selection accuracy (issue 13): the probe, its per-run measurement and its storage."""

import json

import numpy as np
import pytest
import torch

from theory.catalogue import ALL_TASKS
from theory.serialize import SequenceBatch, Vocab, instance_to_sequence_index, output_start, serialize
from verify import api
from verify import run as vrun
from verify.model import ModelConfig, Transformer, patch_activations, record_activations
from verify.probes import chunk_selection
from verify.spec import StoredRun
from verify.store import RunStore, StoreError
from verify.suite import Condition

PASSKEY = ALL_TASKS["passkey"]
N, C = 22, 4  # sequence: [TASK] x_0..x_21 [SEP] y_0 -> model input of 24 slots = chunks 0..5
QUERY = N + 1  # the slot that predicts y_0 (at sequence position N + 2)
# where the marker is hidden, row by row: x[j] sits at sequence position j + 1, the answer after it
MARKERS = (
    4,   # marker and answer at positions 5, 6: both in chunk 1
    6,   # positions 7, 8: chunks 1 and 2 (straddling)
    19,  # positions 20, 21: chunk 5, the query's own chunk
    18,  # positions 19, 20: chunk 4 and the query's own chunk 5
)


def passkey_batch(markers=MARKERS):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 15, size=(len(markers), N))  # noise never holds the marker (15)
    x[np.arange(len(markers)), markers] = 15
    sol = PASSKEY.solve({"x": x})
    return serialize(PASSKEY, {"x": x}, sol.outputs, Vocab(PASSKEY.symbols, ("passkey",))), sol.support


def hsa_model(layers=2, heads=2, top_k=2, mixer="hsa"):
    torch.manual_seed(0)
    return Transformer(ModelConfig(PASSKEY.symbols + 3, layers=layers, d_model=16, heads=heads,
                                   position_scheme="rope" if mixer != "recurrent" else "none", mixer=mixer,
                                   chunk_size=C, top_k=top_k))


def forced(table):
    """A patch of ``selected_chunks`` (B, H, L, K): at the query slot, row b and head h select
    ``table[b][h]`` (-1: an empty slot); every other slot keeps the model's own selection."""
    def patch(selected):
        out = selected.clone()
        out[:, :, QUERY] = torch.tensor(table)
        return out
    return patch


EMPTY = [[[-1, -1]] * 2] * 4  # rows × heads × top_k


def per_head(*heads):
    return [list(heads)] * 4


def test_the_hand_built_instances_are_where_the_test_says():
    batch, support = passkey_batch()
    assert output_start(PASSKEY, N) - 1 == QUERY and batch.tokens.shape[1] == QUERY + 2
    positions = [instance_to_sequence_index(PASSKEY, N)[np.flatnonzero(s[0])].tolist() for s in support]
    assert positions == [[5, 6], [7, 8], [20, 21], [19, 20]]


@pytest.mark.parametrize("layer0,layer1,covered", [
    # nothing selected: only the row whose key lies in the query's own chunk (row 2) is covered
    (EMPTY, EMPTY, [False, False, True, False]),
    # chunk 1 by every head: row 0; row 1 also needs chunk 2
    (per_head([1, -1], [1, -1]), EMPTY, [True, False, True, False]),
    # chunks 1 and 2 by one head: rows 0 and 1
    (per_head([-1, -1], [2, 1]), EMPTY, [True, True, True, False]),
    # chunk 1 by head 0, chunk 2 by head 1: no single head covers row 1
    (per_head([1, -1], [2, -1]), EMPTY, [True, False, True, False]),
    # chunk 1 in layer 0, chunk 2 in layer 1: no single layer covers row 1 either
    (per_head([1, -1], [1, -1]), per_head([2, -1], [2, -1]), [True, False, True, False]),
    # chunk 4 (the rest is the own chunk): row 3, by the local-chunk rule
    (EMPTY, per_head([-1, -1], [4, 3]), [False, False, True, True]),
    # the query's own chunk "selected" (not complete before the query: weighs nothing) adds nothing
    (per_head([5, -1], [5, -1]), EMPTY, [False, False, True, False]),
    # row by row: row 0 selects chunk 2 (wrong), row 1 chunks 1 and 2, row 2 nothing, row 3 chunk 3 (wrong)
    ([[[2, -1], [0, 3]], [[1, 2], [-1, -1]], EMPTY[0][0:2], [[3, -1], [2, 1]]], EMPTY, [False, True, True, False]),
])
def test_forced_selections_are_counted_by_the_covered_rule(layer0, layer1, covered):
    batch, support = passkey_batch()
    model = hsa_model()
    patches = {"blocks.0.attn.selected_chunks": forced(layer0), "blocks.1.attn.selected_chunks": forced(layer1)}
    with patch_activations(model, patches):
        assert chunk_selection(model, PASSKEY, N, batch, support) == (sum(covered), 4)
        # row by row (and one row per pass): the same verdicts
        for row, expected in enumerate(covered):
            one = SequenceBatch(batch.tokens[row:row + 1], batch.positions[row:row + 1], batch.mask[row:row + 1])
            with patch_activations(model, {name: forced([[layer0, layer1][i][row]]) for i, name in
                                           enumerate(patches)}):
                assert chunk_selection(model, PASSKEY, N, one, support[row:row + 1], chunk=1) == (int(expected), 1)


def brute_force(model, task, length, batch, support):
    """The covered rule, output by output with Python loops, from the recorded selections."""
    names = [f"blocks.{i}.attn.selected_chunks" for i in range(len(model.blocks))]
    model.eval()
    with torch.no_grad(), record_activations(model, names) as cache:
        model(torch.from_numpy(batch.tokens[:, :-1]), torch.from_numpy(batch.positions[:, :-1]))
    index = instance_to_sequence_index(task, length)
    start = output_start(task, length)
    covered = 0
    for b in range(len(batch)):
        for t in range(task.r(length)):
            q = start + t - 1  # the slot that predicts y[t]
            chunks = {int(p) // C for p in index[support[b, t]]}
            ok = False
            for name in names:
                for h in range(model.cfg.heads):
                    seen = {int(j) for j in cache[name][0][b, h, q] if 0 <= j < q // C} | {q // C}
                    ok |= chunks <= seen
            covered += ok
    return covered, len(batch) * task.r(length)


@pytest.mark.parametrize("task_name,length,scheme", [("reverse", 17, "rope"), ("passkey", 30, "rope"),
                                                     ("reverse", 13, "coupled")])
def test_the_rule_on_a_models_own_selection_equals_a_brute_force_count(task_name, length, scheme):
    task = ALL_TASKS[task_name]
    torch.manual_seed(1)
    model = Transformer(ModelConfig(task.symbols + 3, layers=2, d_model=16, heads=2, position_scheme=scheme,
                                    max_positions=128, mixer="recurrent+hsa", chunk_size=C, top_k=1))
    inputs, sol = task.generate(np.random.default_rng(3), 12, length)
    batch = serialize(task, inputs, sol.outputs, Vocab(task.symbols, (task.name,)), coupled=scheme == "coupled")
    expected = brute_force(model, task, length, batch, sol.support)
    assert chunk_selection(model, task, length, batch, sol.support, chunk=5) == expected
    assert 0 < expected[0] < expected[1]  # some covered (own chunk), some not (top-1 of several chunks)


def test_bad_inputs_are_refused():
    batch, support = passkey_batch()
    with pytest.raises(ValueError, match="needs a model with HSA blocks"):
        chunk_selection(Transformer(ModelConfig(PASSKEY.symbols + 3, layers=1, d_model=16, heads=2)), PASSKEY, N,
                        batch, support)
    with pytest.raises(ValueError, match="support has shape"):
        chunk_selection(hsa_model(), PASSKEY, N, batch, support[:, :, :0])
    with pytest.raises(ValueError, match="at length 21"):
        chunk_selection(hsa_model(), PASSKEY, N - 1, batch, support)


# ----------------------------------------------------------------------------------- in runs

TINY = dict(seed=0, train_max=8, test_factor=3, steps=12, layers=1, d_model=16, heads=2, eval_every=6,
            eval_instances=40)


def hsa_spec(mixer="hsa"):
    return api.make_spec("passkey", Condition(mixer, mixer=mixer, chunk_size=C, top_k=1), **TINY)


def as_stored(result) -> dict:
    return json.loads(json.dumps(result.to_dict()))


@pytest.fixture(scope="module")
def hsa_run():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vrun, "CHUNK_SELECTION_INSTANCES", 24)  # fewer than the 40 evaluation instances
        return vrun.execute(hsa_spec())


def test_an_hsa_run_stores_its_chunk_selection_at_every_test_length(hsa_run):
    spec = hsa_spec()
    assert hsa_run.status == "ok"
    rows = as_stored(hsa_run)["chunk_selection"]
    assert [row[0] for row in rows] == list(spec.test_lengths)
    assert all(total == 24 * PASSKEY.r(n) == 24 and 0 <= covered <= total for n, covered, total in rows)
    # the same count from the stored checkpoint on the first 24 instances of the evaluation set
    task, _, vocab, model, _ = vrun.build(spec)
    model.load_state_dict(hsa_run.state)
    for n, covered, total in rows:
        inputs, sol = task.generate(np.random.default_rng(vrun.EVALUATION_SEED + n), spec.eval_instances, n)
        full = serialize(task, inputs, sol.outputs, vocab)
        first = SequenceBatch(full.tokens[:24], full.positions[:24], full.mask[:24])
        assert chunk_selection(model, task, n, first, sol.support[:24]) == (covered, total)
    # lengths whose sequence fits in the query's own chunk and one earlier one are covered whole
    assert all(covered == total for n, covered, total in rows if n + 3 - 1 <= 2 * C)


def test_the_measurement_changes_nothing_else(hsa_run, monkeypatch):
    monkeypatch.setattr(vrun, "HSA_MIXERS", ())  # switched off
    plain = as_stored(vrun.execute(hsa_spec()))
    first = as_stored(hsa_run)
    assert "chunk_selection" not in plain and plain["key"] == first["key"]
    for name in ("measurements", "validation_curve", "loss_curve", "best_step", "validation_exact"):
        assert plain[name] == first[name], name


def test_a_recurrent_hsa_run_stores_it_too():
    spec = hsa_spec("recurrent+hsa")
    rows = as_stored(vrun.execute(spec))["chunk_selection"]
    assert [row[0] for row in rows] == list(spec.test_lengths) and all(row[2] == 40 for row in rows)


@pytest.mark.parametrize("mixer", ["attention", "recurrent"])
def test_other_mixers_measure_and_store_none(mixer, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("chunk_selection measured for a run without HSA")
    monkeypatch.setattr(vrun, "chunk_selection", refuse)
    condition = Condition(mixer, mixer=mixer, position_scheme="none" if mixer == "recurrent" else None)
    spec = api.make_spec("passkey", condition, **{**TINY, "position_scheme": "none" if mixer == "recurrent" else "rope"})
    result = vrun.execute(spec)
    assert result.status == "ok" and result.chunk_selection == []
    d = as_stored(result)
    assert "chunk_selection" not in d
    assert StoredRun.from_dict(d).chunk_selection == () and "chunk_selection" not in StoredRun.from_dict(d).to_dict()


# ------------------------------------------------------------------------------------ the store


def test_store_round_trips_chunk_selection_and_loads_old_runs(hsa_run, tmp_path):
    store = RunStore(tmp_path)
    store.put(hsa_run.to_dict())
    stored = store.runs()[hsa_run.key]
    rows = as_stored(hsa_run)["chunk_selection"]
    assert stored.chunk_selection == tuple(tuple(row) for row in rows)
    assert all(isinstance(v, int) for row in stored.chunk_selection for v in row)
    assert StoredRun.from_dict(stored.to_dict()) == stored
    store.export_json()  # and through the runs.json snapshot of a fresh clone
    (tmp_path / "runs.sqlite").unlink()
    assert RunStore(tmp_path).runs()[hsa_run.key].chunk_selection == stored.chunk_selection

    old = {k: v for k, v in hsa_run.to_dict().items() if k != "chunk_selection"}  # stored before it was measured
    old_store = RunStore(tmp_path / "old")
    old_store.put(old)
    assert old_store.runs()[hsa_run.key].chunk_selection == ()


@pytest.mark.parametrize("value", [
    "oops",
    {"2": [1, 1]},
    [[2, 1]],
    [[2, 1, 1, 0]],
    [[2, -1, 4]],
    [[2, 1.5, 4]],
    [[2, True, 4]],
    [[2, 5, 4]],
    [[2, 0, 0]],
    [[2, 1, 4], [2, 1, 4]],
    [[999, 1, 4]],
])
def test_store_refuses_a_malformed_chunk_selection(hsa_run, tmp_path, value):
    store = RunStore(tmp_path)
    store.put({**hsa_run.to_dict(), "chunk_selection": value})
    with pytest.raises(StoreError, match="its chunk_selection.*re-run to recompute") as err:
        store.load()
    assert "\n" not in str(err.value)


def test_store_refuses_chunk_selection_on_a_run_without_hsa(hsa_run, tmp_path):
    spec = api.make_spec("passkey", Condition("full"), **TINY)
    fake = {**hsa_run.to_dict(), "spec": spec.to_dict(), "key": spec.key}
    store = RunStore(tmp_path)
    store.put(fake)
    with pytest.raises(StoreError, match="its chunk_selection is measured for mixers hsa and recurrent\\+hsa only; "
                                         "its spec's mixer is 'attention'"):
        store.load()
    store.put({**fake, "chunk_selection": []})  # empty is what other mixers (never) store: fine
    assert store.runs()[spec.key].chunk_selection == ()
