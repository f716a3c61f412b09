"""bf16 mixed-precision training (``TrainConfig.precision``): opt-in, keyed, deterministic, and
leaving fp32 runs and every evaluation exactly as they were."""

import numpy as np
import pytest
import torch

from theory.catalogue import CATALOGUE
from theory.serialize import Vocab, sample_sequences
from verify.model import ModelConfig, Transformer, fp32_mixing, record_activations
from verify.run import RunSpec, execute
from verify.suite import Suite, SuiteError, TaskPlan
from verify.train import Source, TrainConfig, train

REVERSE = CATALOGUE["reverse"]
VOCAB = Vocab(REVERSE.alphabet, ("reverse",))


def _model(mixer="attention", scheme="rope"):
    torch.manual_seed(0)
    return Transformer(ModelConfig(VOCAB.size, 2, 32, 2, scheme, max_positions=64, mixer=mixer, chunk_size=4, top_k=1))


def _fit(precision, steps=250, mixer="attention", scheme="rope"):
    model = _model(mixer, scheme)
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 4), VOCAB))
    result = train(model, [source], TrainConfig(steps=steps, batch=32, eval_every=50, warmup=20, precision=precision),
                   VOCAB.pad, validate=lambda m: (0.0,))
    return model, result


def test_precision_is_in_the_key_only_when_not_fp32():
    assert "precision" not in TrainConfig().to_dict()  # keys of every fp32 run made before the field stay
    assert TrainConfig(precision="bf16").to_dict()["precision"] == "bf16"
    spec = RunSpec(task="reverse", condition="primary", seed=0, train_lengths=(1, 3), test_lengths=(1, 2, 3, 4),
                   restriction_m=8, restriction_lengths=(1, 6), layers=1, d_model=16, heads=2,
                   position_scheme="rope", train=TrainConfig())
    bf16 = RunSpec.from_dict({**spec.to_dict(), "train": TrainConfig(precision="bf16").to_dict()})
    assert bf16.train.precision == "bf16" and bf16.key != spec.key
    assert RunSpec.from_dict(spec.to_dict()).key == spec.key


def test_bf16_training_learns_keeps_fp32_weights_and_repeats_exactly():
    model, result = _fit("bf16")
    again_model, again = _fit("bf16")
    assert result.loss_curve == again.loss_curve  # deterministic per spec and thread count
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again_model.state_dict().values()))
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert result.loss_curve[-1][1] < 0.5 * np.log(VOCAB.size), result.loss_curve
    _, fp32 = _fit("fp32")
    assert fp32.loss_curve != result.loss_curve  # the option really changes the arithmetic


@pytest.mark.parametrize("mixer,scheme", [("attention", "rope"), ("attention", "alibi"), ("hsa", "rope"),
                                          ("recurrent", "none"), ("recurrent+hsa", "rope")])
def test_token_mixing_runs_in_fp32_under_autocast(mixer, scheme):
    model = _model(mixer, scheme)
    batch = sample_sequences(REVERSE, np.random.default_rng(0), 4, (6, 6), VOCAB)
    tokens, positions = torch.from_numpy(batch.tokens), torch.from_numpy(batch.positions)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(tokens, positions)
        x = torch.ones(2, 3)
        with fp32_mixing(x.bfloat16(), x) as (inside, _):
            assert inside.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
        assert torch.is_autocast_enabled("cpu")  # restored after the mixing
        if mixer != "recurrent":
            with record_activations(model, ["blocks.0.attn.head_out"]) as cache:
                model(tokens, positions)
            assert cache["blocks.0.attn.head_out"][0].dtype == torch.float32
    assert logits.dtype == torch.bfloat16  # the output head did run in bf16
    with fp32_mixing(x) as (outside,):  # outside autocast: the same tensor, nothing converted
        assert outside is x


def test_a_bf16_run_executes_and_stores_its_measurements():
    spec = RunSpec(task="reverse", condition="primary", seed=0, train_lengths=(1, 3), test_lengths=(1, 2, 3, 4, 5, 6),
                   restriction_m=8, restriction_lengths=(1, 6), layers=1, d_model=16, heads=2,
                   position_scheme="rope", train=TrainConfig(steps=10, batch=16, eval_every=5, precision="bf16"),
                   eval_instances=32, validation_instances=32)
    first, second = execute(spec), execute(spec)
    assert first.status == "ok" and first.measurements == second.measurements


def test_unknown_precision_is_one_clear_error():
    with pytest.raises(SuiteError, match="unknown precision 'fp16'; choose one of fp32, bf16"):
        Suite(name="x", description="x", plans=(TaskPlan("reverse", "rope", "why"),), seeds=(0,), train_max=4,
              test_factor=2, steps=10, precision="fp16")
    model = _model()
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 4), VOCAB))
    with pytest.raises(ValueError, match="unknown precision"):
        train(model, [source], TrainConfig(steps=1, precision="half"), VOCAB.pad, validate=lambda m: (0.0,))


def test_a_suite_passes_its_precision_to_every_run():
    suite = Suite(name="x", description="x", plans=(TaskPlan("reverse", "rope", "why"),), seeds=(0, 1), train_max=4,
                  test_factor=2, steps=10, precision="bf16")
    runs = suite.runs()
    assert runs and all(spec.train.precision == "bf16" for spec in runs)
    fp32 = Suite(name="x", description="x", plans=(TaskPlan("reverse", "rope", "why"),), seeds=(0, 1), train_max=4,
                 test_factor=2, steps=10).runs()
    assert {s.key for s in runs}.isdisjoint(s.key for s in fp32)
