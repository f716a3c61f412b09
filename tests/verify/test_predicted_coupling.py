"""Predictive position coupling in runs: trained with the next-id loss, measured with the model's own ids."""

import numpy as np
import pytest
import torch

from auxtasks.derive import resolve_task
from theory.serialize import Vocab, serialize
from verify.measure import decode_with_predicted_ids, exact_match, measure_length, predictions
from verify.model import POSITION_SCHEMES
from verify.run import RunSpec, build, execute
from verify.store import RunStore
from verify.suite import RUNNABLE_SCHEMES, SuiteError
from verify.train import TrainConfig, train

from handset import handset_model  # tests/verify is on sys.path (rootdir-relative test modules)


def predicted_spec(task: str = "copy", steps: int = 80) -> RunSpec:
    return RunSpec(task=task, condition="primary", seed=0, train_lengths=(1, 4), test_lengths=(2, 4, 6),
                   restriction_m=8, restriction_lengths=(1, 6), layers=1, d_model=32, heads=2,
                   position_scheme="predicted",
                   train=TrainConfig(steps=steps, batch=16, eval_every=40, data_seed=1000, model_seed=0,
                                     max_position_offset=8),
                   eval_instances=32, validation_instances=32)


def test_every_model_scheme_is_runnable():
    assert set(RUNNABLE_SCHEMES) == set(POSITION_SCHEMES)


def test_predicted_run_end_to_end_and_stored(tmp_path):
    result = execute(predicted_spec())
    assert result.status == "ok", result.reason
    assert [m["length"] for m in result.measurements] == [2, 4, 6]
    for m in result.measurements:
        assert 0 <= m["ids_right"] <= m["instances"] * m["outputs"]
        assert m["restrictions"] > 0  # copy is bounded: ε(N), c(N) measured (with the true ids)
    # the next id is easy to learn (it is the current id + 1 on copy): 80 steps learn it at the
    # training lengths, which only happens if the id targets are the next token's offset ids
    trained = [m for m in result.measurements if m["length"] <= 4]
    assert all(m["ids_right"] >= 0.9 * m["instances"] * m["outputs"] for m in trained)
    store = RunStore(tmp_path)
    store.put(result.to_dict())
    stored = store.runs()[result.key]
    assert [m.ids_right for m in stored.measurements] == [m["ids_right"] for m in result.measurements]


def test_training_trains_the_position_head():
    spec = predicted_spec(steps=5)
    task, restriction, vocab, model, sources = build(spec)
    before = model.position_head.weight.detach().clone()
    train(model, sources, spec.train, vocab.pad, validate=lambda m: (0.0,))
    # the token loss does not reach the position head: only the added next-id loss moves it
    assert not torch.equal(before, model.position_head.weight)


def test_other_schemes_store_no_id_count():
    task = resolve_task("copy")
    vocab = Vocab(task.symbols, ("copy",))
    model = handset_model(vocab.size, "coupled", shift=1)
    m = measure_length(model, task, None, vocab, 4, 16, seed=3, coupled=True)
    assert "ids_right" not in m.to_dict()


def test_decoding_reads_the_models_own_ids():
    """A hand-set copy model answers exactly when each output's id is the input's; making its
    position head predict id + 2 instead of id + 1 breaks the predicted decoding, not the
    teacher-forced answers with true ids, nor the same weights run as `coupled` with given ids."""
    task = resolve_task("copy")
    vocab = Vocab(task.symbols, ("copy",))
    model = handset_model(vocab.size, "predicted", shift=1)
    right = measure_length(model, task, None, vocab, 6, 64, seed=5, predicted=True)
    assert right.exact == 64 and right.ids_right == 64 * 6

    with torch.no_grad():  # rotate the position head one more step: it now predicts id + 2
        shifted = handset_model(vocab.size, "predicted", shift=1)
        model.position_head.weight.copy_(torch.roll(shifted.position_head.weight, shifts=1, dims=0))
    rng = np.random.default_rng(5)
    inputs, sol = task.generate(rng, 64, 6)
    batch = serialize(task, inputs, sol.outputs, vocab, coupled=True)
    _, ids = decode_with_predicted_ids(model, batch)
    first = int(np.argmax(batch.mask[0]))
    true_ids = batch.positions[:, first:]  # t + 1 for output t
    # each step adds 2 to the id it is *fed*: fed the true ids it would emit t + 2 for output t;
    # fed its own, the error compounds: 2, 4, 6, ...
    assert (ids == 2 * true_ids).all()

    wrong = measure_length(model, task, None, vocab, 6, 64, seed=5, predicted=True)
    assert wrong.ids_right == 0
    assert wrong.exact < 16  # reads x[t+1] for y[t]: right only when neighbouring inputs agree
    assert exact_match(predictions(model, batch), batch)[0].all()  # with the true ids it still copies

    coupled = handset_model(vocab.size, "coupled", shift=1)
    given = measure_length(coupled, task, None, vocab, 6, 64, seed=5, coupled=True)
    assert given.exact == 64


def test_predicted_needs_a_positional_coupling():
    spec = predicted_spec(task="sort", steps=5)
    with pytest.raises(SuiteError, match="'predicted' needs a rule with a positional coupling"):
        build(spec)
