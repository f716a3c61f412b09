"""Training that skips the batch's right padding (``TrainConfig.skip_padding``,
``verify.model.RealTokens``): the same model function and the same gradients up to float rounding,
opt-in, keyed, deterministic."""

import numpy as np
import pytest
import torch

from theory.catalogue import CATALOGUE
from theory.serialize import Vocab, concatenate, sample_sequences
from verify.batches import IGNORE, to_model_batch
from verify import api
from verify.model import ModelConfig, RealTokens, Transformer, real_slots
from verify.run import RunSpec, execute
from verify.suite import Suite, SuiteError, TaskPlan
from verify.train import Source, TrainConfig, train

REVERSE = CATALOGUE["reverse"]
VOCAB = Vocab(REVERSE.alphabet, ("reverse",))

# every position scheme and every token mixer (with a length temperature where it applies)
VARIANTS = [("rope", "attention", False), ("none", "attention", False), ("learned", "attention", False),
            ("sinusoidal", "attention", False), ("alibi", "attention", True), ("rope", "attention", True),
            ("predicted", "attention", False), ("coupled", "attention", False), ("rope", "hsa", False),
            ("none", "recurrent", False), ("rope", "recurrent+hsa", False)]


def _model(scheme="rope", mixer="attention", temperature=False):
    torch.manual_seed(0)
    return Transformer(ModelConfig(VOCAB.size, 2, 32, 2, scheme, max_positions=64, mixer=mixer, chunk_size=4, top_k=1,
                                   length_temperature=temperature, train_context=10 if temperature else 0))


def _ragged_batch():
    """Rows of lengths 1..6 in one right-padded batch: about 40 % of its slots are padding."""
    rng = np.random.default_rng(0)
    batch = to_model_batch(concatenate([sample_sequences(REVERSE, rng, 3, (n, n), VOCAB) for n in range(1, 7)], VOCAB.pad))
    return batch, real_slots(batch.targets, IGNORE)


def test_real_slots_reach_each_rows_last_supervised_slot():
    targets = torch.tensor([[IGNORE, 3, IGNORE, 4, IGNORE, IGNORE],
                            [1, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE],
                            [IGNORE] * 6])
    assert real_slots(targets, IGNORE).tolist() == [[True, True, True, True, False, False],
                                                    [True, False, False, False, False, False],
                                                    [False] * 6]
    batch, real = _ragged_batch()
    assert 0.2 < 1 - real.float().mean() < 0.6  # the test batch really is padded


@pytest.mark.parametrize("scheme,mixer,temperature", VARIANTS)
def test_skipping_padding_computes_the_same_logits_and_gradients(scheme, mixer, temperature):
    model = _model(scheme, mixer, temperature)
    batch, real = _ragged_batch()
    kwargs = {"return_position_logits": True} if scheme == "predicted" else {}

    def outputs_and_grads(**extra):
        model.zero_grad()
        out = model(batch.tokens, batch.positions, **kwargs, **extra)
        out = out if isinstance(out, tuple) else (out,)
        sum((o[real] * torch.linspace(-1, 1, o.shape[-1])).sum() for o in out).backward()
        return out, [p.grad.clone() for p in model.parameters() if p.grad is not None]

    padded, padded_grads = outputs_and_grads()
    skipped, skipped_grads = outputs_and_grads(real=real)
    for full, part in zip(padded, skipped):
        torch.testing.assert_close(part[real], full[real], rtol=1e-5, atol=1e-6)
        # the slots a loss cannot depend on are not computed (0), but for the few that round the count up
        computed = part.reshape(-1, part.shape[-1]).any(dim=1)
        assert computed.sum() % RealTokens.ALIGN == 0 or computed.all()
        assert computed.sum() - real.sum() < RealTokens.ALIGN
    assert len(padded_grads) == len(skipped_grads)
    for full, part in zip(padded_grads, skipped_grads):  # sums in another order: rounding relative to the largest
        torch.testing.assert_close(part, full, rtol=1e-4, atol=1e-5 * float(full.abs().max()))


@pytest.mark.parametrize("scheme,mixer", [("rope", "attention"), ("none", "recurrent")])
def test_skipping_padding_under_bf16_autocast_matches_the_padded_pass(scheme, mixer):
    model = _model(scheme, mixer)
    batch, real = _ragged_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        padded = model(batch.tokens, batch.positions)
        skipped = model(batch.tokens, batch.positions, real=real)
    assert skipped.dtype == torch.bfloat16
    torch.testing.assert_close(skipped[real].float(), padded[real].float(), rtol=2e-2, atol=2e-2)


def _fit(skip_padding, precision="fp32", steps=150):
    model = _model()
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 5), VOCAB))
    cfg = TrainConfig(steps=steps, batch=16, eval_every=20, warmup=10, precision=precision, skip_padding=skip_padding)
    return model, train(model, [source], cfg, VOCAB.pad, validate=lambda m: (0.0,))


def test_training_that_skips_padding_follows_the_padded_trajectory_and_repeats_exactly():
    _, padded = _fit(False)
    model, skipped = _fit(True)
    again_model, again = _fit(True)
    assert skipped.loss_curve == again.loss_curve  # deterministic per spec and thread count
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again_model.state_dict().values()))
    # the same optimisation up to float rounding: the loss curves agree closely, though not bit for bit
    np.testing.assert_allclose([v for _, v in skipped.loss_curve], [v for _, v in padded.loss_curve], rtol=1e-3)
    _, bf16 = _fit(True, precision="bf16")
    assert bf16.loss_curve[-1][1] < 0.8 * np.log(VOCAB.size)  # and it learns in bf16 too


def _spec(**train):
    return RunSpec(task="reverse", condition="primary", seed=0, train_lengths=(1, 3), test_lengths=(1, 2, 3, 4, 5, 6),
                   restriction_m=8, restriction_lengths=(1, 6), layers=1, d_model=16, heads=2,
                   position_scheme="rope", train=TrainConfig(steps=10, batch=16, eval_every=5, **train),
                   eval_instances=32, validation_instances=32)


def test_skip_padding_is_in_the_key_only_when_on():
    assert "skip_padding" not in TrainConfig().to_dict()  # every run made before the option keeps its key
    spec, skipping = _spec(), _spec(skip_padding=True)
    assert skipping.key != spec.key and RunSpec.from_dict(skipping.to_dict()) == skipping
    assert RunSpec.from_dict(spec.to_dict()).key == spec.key


def test_a_run_that_skips_padding_executes_and_repeats():
    spec = _spec(skip_padding=True, precision="bf16")
    first, second = execute(spec), execute(spec)
    assert first.status == "ok" and first.measurements == second.measurements


def test_a_suite_passes_skip_padding_to_every_run_and_checks_it():
    def suite(**extra):
        return Suite(name="x", description="x", plans=(TaskPlan("reverse", "rope", "why"),), seeds=(0, 1), train_max=4,
                     test_factor=2, steps=10, **extra)
    runs = suite(skip_padding=True).runs()
    assert runs and all(spec.train.skip_padding for spec in runs)
    assert {s.key for s in runs}.isdisjoint(s.key for s in suite().runs())
    with pytest.raises(SuiteError, match="skip_padding must be True or False, got 'yes'"):
        suite(skip_padding="yes")
    single = api.make_spec("reverse", seed=0, train_max=3, steps=10, precision="bf16", skip_padding=True)
    assert single.train.skip_padding and single.train.precision == "bf16"


def test_the_reports_model_line_names_one_budget_only_when_every_condition_trains_it():
    from verify.report import _model_text
    from verify.suite import Condition

    def suite(*conditions, **extra):
        return Suite(name="x", description="x", plans=(TaskPlan("reverse", "rope", "why"),), seeds=(0,), train_max=4,
                     test_factor=2, steps=10, conditions=conditions, claims=(), **extra)
    same = suite(Condition("a"), Condition("b"), skip_padding=True, precision="bf16")
    text = _model_text(same, same.runs()[0])
    assert "10 steps" in text and "skip the batch's right padding" in text and "bf16" in text
    own = suite(Condition("a"), Condition("b", steps=30))  # a condition with its own budget
    text = _model_text(own, own.runs()[0])
    assert "10 steps" not in text and "budget per task" in text and "padding" not in text
