"""Position schemes: each trains, shift (in)variance, causality, predicted ids, length temperature."""

import math

import numpy as np
import pytest
import torch

from theory.catalogue import CATALOGUE
from theory.serialize import SequenceBatch, Vocab, sample_sequences
from verify.batches import IGNORE, to_model_batch
from verify.model import (POSITION_SCHEMES, ModelConfig, Transformer, alibi_slopes, attention_temperature,
                          position_loss, predicted_positions_decode)

REVERSE = CATALOGUE["reverse"]
VOCAB = Vocab(REVERSE.alphabet, ("reverse",))
MAX_POSITIONS = 64


def tiny(scheme, **extra):
    torch.manual_seed(0)
    return Transformer(ModelConfig(VOCAB.size, 1, 32, 2, scheme, max_positions=MAX_POSITIONS, **extra))


def reverse_coupled(batch: SequenceBatch) -> SequenceBatch:
    """Coupled ids for reverse, as the data pipeline would supply them: ``[TASK] x_0..x_{n-1}
    [SEP] y_0..y_{n-1}`` gets ids ``0, 1..n, n+1, n..1`` — y_t = x_{n-1-t} shares x_{n-1-t}'s id
    n-t, so every output slot reads the input whose id is one less than its own."""
    positions = batch.positions.copy()
    for row in range(len(batch)):
        n = int(batch.mask[row].sum())
        positions[row, n + 2:2 * n + 2] = np.arange(n, 0, -1)
    return SequenceBatch(batch.tokens, positions, batch.mask)


def _batch(rng, size, coupled, offset_max):
    seq = sample_sequences(REVERSE, rng, size, (1, 3), VOCAB)
    if coupled:
        seq = reverse_coupled(seq)
    offset = rng.integers(0, offset_max + 1, size=size) if offset_max else None
    mb = to_model_batch(seq, offset)
    next_positions = torch.from_numpy(seq.positions[:, 1:] + (offset[:, None] if offset is not None else 0))
    return mb, next_positions, torch.from_numpy(seq.mask[:, 1:])


def _fit(model, steps=100, coupled=False, offset_max=0, token_weight=1.0, seed=0):
    """Plain AdamW loop; returns per-step (token loss, position loss or nan)."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 10))
    predicted = model.cfg.position_scheme == "predicted"
    curve = []
    for _ in range(steps):
        mb, next_positions, mask = _batch(rng, 32, coupled, offset_max)
        out = model(mb.tokens, mb.positions, return_position_logits=predicted)
        logits, pos_logits = out if predicted else (out, None)
        tok = torch.nn.functional.cross_entropy(logits.transpose(1, 2), mb.targets, ignore_index=IGNORE)
        pos = position_loss(pos_logits, next_positions, mask) if predicted else torch.tensor(float("nan"))
        loss = token_weight * tok + (pos if predicted else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        curve.append((tok.item(), pos.item()))
    return curve


NEW = [("sinusoidal", {}, False), ("alibi", {}, False), ("coupled", {}, True), ("predicted", {}, True),
       ("none", {"length_temperature": True, "train_context": 4}, False)]


@pytest.mark.parametrize("scheme,extra,coupled", NEW, ids=[s + ("+temperature" if e else "") for s, e, _ in NEW])
def test_new_scheme_trains(scheme, extra, coupled):
    model = tiny(scheme, **extra)
    curve = _fit(model, coupled=coupled, offset_max=8 if scheme in ("coupled", "predicted") else 0)
    final = np.mean([t for t, _ in curve[-10:]])
    # an untrained model's loss is about log(vocab); learning must cut it clearly
    assert final < 0.8 * math.log(VOCAB.size), curve[-10:]


def test_predicted_head_learns_true_next_positions():
    model = tiny("predicted")
    curve = _fit(model, steps=60, coupled=True, offset_max=8, token_weight=0.0)
    first, last = np.mean([p for _, p in curve[:5]]), np.mean([p for _, p in curve[-5:]])
    assert first > 0.8 * math.log(MAX_POSITIONS) and last < 0.5 * first, (first, last)


def test_predicted_decode_feeds_back_its_own_ids():
    model = tiny("predicted")
    _fit(model, steps=30, coupled=True, offset_max=8)
    seq = reverse_coupled(sample_sequences(REVERSE, np.random.default_rng(3), 6, (3, 3), VOCAB))
    tokens, positions = torch.from_numpy(seq.tokens), torch.from_numpy(seq.positions)
    prefix = 5  # [TASK] x0 x1 x2 [SEP], with their (given) ids
    gen_tokens, gen_ids = predicted_positions_decode(model, tokens[:, :prefix], positions[:, :prefix], steps=3)
    assert gen_tokens.shape == gen_ids.shape == (6, 3)
    # a fixed point: one teacher-forced pass over prefix + generated (tokens and *predicted* ids)
    # argmaxes to exactly what was generated, so the ids fed back were the model's own
    all_tokens, all_ids = torch.cat((tokens[:, :prefix], gen_tokens), 1), torch.cat((positions[:, :prefix], gen_ids), 1)
    logits, pos_logits = model(all_tokens, all_ids, return_position_logits=True)
    assert torch.equal(logits[:, prefix - 1:-1].argmax(-1), gen_tokens)
    assert torch.equal(pos_logits[:, prefix - 1:-1].argmax(-1), gen_ids)
    with pytest.raises(ValueError, match="predicted"):
        tiny("coupled")(tokens, positions, return_position_logits=True)


def test_shift_invariance_of_relative_schemes_only():
    batch = sample_sequences(REVERSE, np.random.default_rng(1), 3, (4, 4), VOCAB)
    mb, shifted = to_model_batch(batch), to_model_batch(batch, np.full(3, 17))
    for scheme, invariant in (("alibi", True), ("rope", True), ("sinusoidal", False)):
        model = tiny(scheme).eval()
        same = torch.allclose(model(mb.tokens, mb.positions), model(shifted.tokens, shifted.positions), atol=1e-5)
        assert same == invariant, scheme
    # ALiBi reads ids, not slots: gaps in the ids (as in restrictions) change the output
    alibi = tiny("alibi").eval()
    gapped = mb.positions * 3
    assert not torch.allclose(alibi(mb.tokens, mb.positions), alibi(mb.tokens, gapped), atol=1e-5)


CAUSAL = [(s, {}) for s in POSITION_SCHEMES] + [("alibi", {"length_temperature": True, "train_context": 3}),
                                              ("rope", {"length_temperature": True, "train_context": 3})]


@pytest.mark.parametrize("scheme,extra", CAUSAL, ids=[s + ("+temperature" if e else "") for s, e in CAUSAL])
def test_causality(scheme, extra):
    model = tiny(scheme, **extra).eval()
    mb = to_model_batch(reverse_coupled(sample_sequences(REVERSE, np.random.default_rng(0), 4, (3, 3), VOCAB)))
    predicted = scheme == "predicted"
    before = model(mb.tokens, mb.positions, return_position_logits=predicted)
    tokens, positions = mb.tokens.clone(), mb.positions.clone()
    tokens[:, -1] = (tokens[:, -1] + 1) % REVERSE.alphabet
    positions[:, -1] += 5  # a later id must not leak either (ALiBi, temperature read ids)
    after = model(tokens, positions, return_position_logits=predicted)
    for b, a in zip(*((before, after) if predicted else ((before,), (after,)))):
        assert torch.allclose(b[:, :-1], a[:, :-1], atol=1e-6)
        assert not torch.allclose(b[:, -1], a[:, -1])


def test_length_temperature_is_one_inside_the_training_context_and_grows_beyond():
    scale = attention_temperature(torch.arange(40), train_context=8)
    assert torch.equal(scale[:8], torch.ones(8))  # ids 0..7: log(pos+1) ≤ log 8
    assert (scale[8:] > 1).all() and (scale[9:] > scale[8:-1]).all()
    assert math.isclose(scale[-1].item(), math.log(40) / math.log(8), rel_tol=1e-6)
    # the model is unchanged inside the context and changed beyond it (same weights)
    plain, tempered = tiny("rope"), tiny("rope", length_temperature=True, train_context=8)
    tokens = torch.randint(0, VOCAB.size, (2, 12))
    inside, beyond = torch.arange(8).expand(2, 8), torch.arange(12).expand(2, 12)
    assert torch.equal(plain(tokens[:, :8], inside), tempered(tokens[:, :8], inside))
    out_plain, out_tempered = plain(tokens, beyond), tempered(tokens, beyond)
    assert torch.equal(out_plain[:, :8], out_tempered[:, :8])
    assert not torch.allclose(out_plain[:, 8:], out_tempered[:, 8:])
    with pytest.raises(ValueError, match="train_context"):
        ModelConfig(VOCAB.size, position_scheme="none", length_temperature=True)


def test_alibi_slopes_are_the_standard_geometric_ones():
    assert alibi_slopes(2).tolist() == [2 ** -4, 2 ** -8]
    assert alibi_slopes(8).tolist() == [2.0 ** -i for i in range(1, 9)]
    # not a power of two: those of 4 heads, then every other slope of 8 heads
    assert alibi_slopes(6).tolist() == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]


def test_table_schemes_reject_ids_beyond_the_table():
    for scheme in ("learned", "coupled", "predicted"):
        with pytest.raises(ValueError, match="exceeds"):
            tiny(scheme)(torch.zeros(1, 2, dtype=torch.long), torch.tensor([[0, MAX_POSITIONS]]))
    # sinusoidal has no table: any id works
    tiny("sinusoidal")(torch.zeros(1, 2, dtype=torch.long), torch.tensor([[0, 10 * MAX_POSITIONS]]))
