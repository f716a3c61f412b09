"""Model mechanics, training, and the teacher-forced exact-match shortcut."""

import numpy as np
import pytest
import torch

from theory.catalogue import CATALOGUE
from theory.serialize import Vocab, concatenate, sample_sequences, serialize
from verify.batches import IGNORE, to_model_batch
from verify.measure import exact_match, first_error_histogram, greedy_decode, predictions
from verify.model import POSITION_SCHEMES, ModelConfig, Transformer
from verify.train import Source, TrainConfig, TrainingDiverged, train

REVERSE = CATALOGUE["reverse"]
VOCAB = Vocab(REVERSE.alphabet, ("reverse",))


def tiny(scheme="rope", layers=1, d=32, heads=2):
    torch.manual_seed(0)
    return Transformer(ModelConfig(VOCAB.size, layers, d, heads, scheme, max_positions=64))


def test_logits_shape_and_causality():
    model = tiny()
    batch = sample_sequences(REVERSE, np.random.default_rng(0), 4, (3, 3), VOCAB)
    mb = to_model_batch(batch)
    logits = model(mb.tokens, mb.positions)
    assert logits.shape == (4, mb.tokens.shape[1], VOCAB.size)
    # changing a later token must not change earlier logits
    changed = mb.tokens.clone()
    changed[:, -1] = (changed[:, -1] + 1) % REVERSE.alphabet
    again = model(changed, mb.positions)
    assert torch.allclose(logits[:, :-1], again[:, :-1], atol=1e-6)
    assert not torch.allclose(logits[:, -1], again[:, -1])


def test_targets_are_shifted_and_masked():
    batch = sample_sequences(REVERSE, np.random.default_rng(0), 2, (4, 4), VOCAB)
    mb = to_model_batch(batch)
    targets = mb.targets.numpy()
    supervised = targets != IGNORE
    assert supervised.sum(axis=1).tolist() == [4, 4]
    np.testing.assert_array_equal(targets[supervised], batch.tokens[:, 1:][batch.mask[:, 1:]])


def test_rope_depends_only_on_relative_positions():
    model = tiny("rope").eval()
    batch = sample_sequences(REVERSE, np.random.default_rng(1), 3, (4, 4), VOCAB)
    mb = to_model_batch(batch)
    shifted = to_model_batch(batch, np.full(3, 17))
    assert torch.allclose(model(mb.tokens, mb.positions), model(shifted.tokens, shifted.positions), atol=1e-5)
    learned = tiny("learned").eval()
    assert not torch.allclose(learned(mb.tokens, mb.positions), learned(shifted.tokens, shifted.positions))


def _fit(scheme, steps=150, seed=0, precision="fp32", skip_padding=False):
    model = tiny(scheme)
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 3), VOCAB))
    cfg = TrainConfig(steps=steps, batch=32, eval_every=50, warmup=10, lr=3e-3, data_seed=seed,
                      max_position_offset=8 if scheme == "learned" else 0, precision=precision,
                      skip_padding=skip_padding)
    result = train(model, [source], cfg, VOCAB.pad, validate=lambda m: (0.0,))
    return model, result


@pytest.mark.parametrize("scheme", POSITION_SCHEMES)
def test_every_position_scheme_trains(scheme):
    _, result = _fit(scheme, steps=100)
    final = result.loss_curve[-1][1]
    # an untrained model's loss is about log(vocab); learning must cut it clearly
    assert final < 0.8 * np.log(VOCAB.size), result.loss_curve


def test_checkpoint_choice_is_the_best_validation_score_latest_on_ties():
    model = tiny()
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 3), VOCAB))
    scores = iter([(0.5,), (0.9,), (0.9,), (0.1,)])
    result = train(model, [source], TrainConfig(steps=40, batch=8, eval_every=10, warmup=5), VOCAB.pad,
                   validate=lambda m: next(scores))
    assert result.best_step == 30 and result.best_score == (0.9,)


def test_divergence_is_reported():
    model = tiny()
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 3), VOCAB))
    with pytest.raises(TrainingDiverged, match="loss"):
        train(model, [source], TrainConfig(steps=200, batch=8, lr=1e6, warmup=1, grad_clip=1e9), VOCAB.pad,
              validate=lambda m: (0.0,))


# evaluation is fp32 and padded whatever the training precision and padding
@pytest.mark.parametrize("precision,skip_padding", [("fp32", False), ("bf16", False), ("bf16", True)])
def test_teacher_forced_exact_match_equals_greedy_decoding(precision, skip_padding):
    model, _ = _fit("rope", steps=250, precision=precision, skip_padding=skip_padding)
    rng = np.random.default_rng(5)
    agreements = []
    for length in (2, 3, 5):
        inputs = REVERSE.sample(rng, 64, length)
        batch = serialize(REVERSE, inputs, REVERSE.solve(inputs).outputs, VOCAB)
        em, _ = exact_match(predictions(model, batch), batch)
        generated = greedy_decode(model, batch)
        greedy_em = (generated == batch.tokens[:, -length:]).all(axis=1)
        np.testing.assert_array_equal(em, greedy_em)
        agreements.append(em.mean())
        # the first wrong teacher-forced argmax is where greedy decoding first diverges
        wrong = generated != batch.tokens[:, -length:]
        diverged = wrong.any(axis=1)
        expected = np.bincount(np.argmax(wrong[diverged], axis=1), minlength=length)
        assert first_error_histogram(predictions(model, batch), batch) == tuple(expected)
    # the check is only informative if the model gets some instances right and some wrong
    assert 0 < np.mean(agreements) < 1, agreements


def test_rope_rotation_is_bit_identical_to_the_half_by_half_form():
    # the fused rotation (x·cos + swap(x)·(-sin, sin)) must give exactly the textbook pairs
    # (x1 cos - x2 sin, x1 sin + x2 cos), so stored results did not change when it came in
    from verify.model import _rotate, rope_tables
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 4, 9, 16, generator=gen, requires_grad=True)
    positions = torch.randint(0, 200, (5, 9), generator=gen)
    inv_freq = 1.0 / (10000 ** (torch.arange(8, dtype=torch.float32) / 8))
    angles = positions.to(torch.float32)[..., None] * inv_freq
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]
    x1, x2 = x.chunk(2, dim=-1)
    textbook = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    fused = _rotate(x, *rope_tables(positions, inv_freq))
    assert torch.equal(fused, textbook)
    upstream = torch.randn(textbook.shape, generator=gen)
    (grad_textbook,) = torch.autograd.grad(textbook, x, upstream)
    (grad_fused,) = torch.autograd.grad(fused, x, upstream)
    assert torch.equal(grad_fused, grad_textbook)


def test_training_optimizer_updates_exactly_like_per_parameter_adamw():
    # make_optimizer/clip_gradients use the foreach kernels; they must not change a single bit
    from verify.train import clip_gradients, make_optimizer

    def run(multi_tensor: bool) -> list[torch.Tensor]:
        model = tiny()
        opt = (make_optimizer(model, 3e-3) if multi_tensor else
               torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.98), weight_decay=0.0, foreach=False))
        rng = np.random.default_rng(0)
        for _ in range(5):
            mb = to_model_batch(sample_sequences(REVERSE, rng, 8, (1, 3), VOCAB))
            logits = model(mb.tokens, mb.positions)
            loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), mb.targets, ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if multi_tensor:
                clip_gradients(model, 0.1)
            else:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1, foreach=False)
            opt.step()
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(run(True), run(False)):
        assert torch.equal(a, b)


def test_train_records_where_its_time_went():
    from verify.train import PHASES
    model = tiny()
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 3), VOCAB))
    result = train(model, [source], TrainConfig(steps=20, batch=8, eval_every=10, warmup=5), VOCAB.pad,
                   validate=lambda m: (float(predictions(m, sample_sequences(REVERSE, np.random.default_rng(0), 8,
                                                                             (2, 2), VOCAB)).sum()),))
    assert set(result.phase_seconds) == set(PHASES)
    assert all(seconds > 0 for seconds in result.phase_seconds.values()), result.phase_seconds
    assert sum(result.phase_seconds.values()) <= result.seconds  # disjoint parts of the training time


def test_pooled_source_hands_out_shuffled_independent_batches_trimmed_to_their_rows():
    from verify.train import POOL_STEPS, _Pool
    source = Source("reverse", 1.0, lambda rng, k: sample_sequences(REVERSE, rng, k, (1, 6), VOCAB),
                    independent_rows=True)

    def batches(seed: int, n: int) -> list:
        pool, rng = _Pool(source, 16, VOCAB.pad), np.random.default_rng(seed)
        return [pool.take(rng) for _ in range(n)]

    first, again = batches(0, POOL_STEPS + 3), batches(0, POOL_STEPS + 3)  # crosses a refill
    for a, b in zip(first, again):  # deterministic per seed
        assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.positions, b.positions)
    for b in first:
        assert len(b) == 16
        lengths = (b.tokens != VOCAB.pad).sum(axis=1)
        assert b.tokens.shape[1] == lengths.max()  # no all-padding column: trimmed to its own rows
        assert len(set(lengths.tolist())) > 1  # shuffled: not one length group per batch
        # every row is a whole reverse instance: its outputs are its inputs reversed
        for row, L in zip(b.tokens, lengths):
            n = (L - 2) // 2
            np.testing.assert_array_equal(row[n + 2:L], row[1:n + 1][::-1])
    # over many batches every training length shows up about equally often
    seen = np.concatenate([((b.tokens != VOCAB.pad).sum(axis=1) - 2) // 2 for b in first])
    assert set(seen.tolist()) == {1, 2, 3, 4, 5, 6}
    assert np.bincount(seen)[1:].min() > 0.5 * len(seen) / 6


def test_chunked_forward_passes_give_the_same_logits_as_one_pass():
    # predictions() splits evaluation into ~CHUNK_TOKENS-token passes for speed; that is only
    # allowed because a row's logits do not depend on which other rows share its pass
    from verify.measure import CHUNK_TOKENS
    model = tiny("rope", layers=2).eval()
    batch = sample_sequences(REVERSE, np.random.default_rng(2), 300, (4, 12), VOCAB)
    mb = to_model_batch(batch)
    with torch.inference_mode():
        whole = model(mb.tokens, mb.positions)
        rows = max(1, CHUNK_TOKENS // mb.tokens.shape[1])
        assert rows < len(batch)  # the default chunking really splits this batch
        for chunk in (rows, 7, 64):
            parts = torch.cat([model(mb.tokens[s:s + chunk], mb.positions[s:s + chunk])
                               for s in range(0, len(batch), chunk)])
            assert torch.equal(parts, whole), chunk
    supervised = mb.targets != IGNORE
    expected = torch.where(supervised, whole.argmax(-1), -1).numpy()  # predictions() has only supervised slots
    np.testing.assert_array_equal(predictions(model, batch), expected)
    np.testing.assert_array_equal(predictions(model, batch, chunk=len(batch)), expected)


@pytest.mark.parametrize("scheme,mixer", [("rope", "attention"), ("none", "attention"), ("alibi", "attention"),
                                          ("learned", "attention"), ("predicted", "attention"), ("rope", "hsa"),
                                          ("none", "recurrent"), ("rope", "recurrent+hsa")])
def test_logits_at_the_wanted_slots_are_the_bits_of_the_full_pass(scheme, mixer):
    # predictions() computes the last block's projection, MLP and head at the supervised slots only;
    # that changes no result only because those slots' logits are bit for bit the full pass's
    torch.manual_seed(0)
    model = Transformer(ModelConfig(VOCAB.size, 2, 32, 2, scheme, max_positions=64, mixer=mixer, chunk_size=4,
                                    top_k=1)).eval()
    batch = concatenate([sample_sequences(REVERSE, np.random.default_rng(n), 40, (n, n), VOCAB) for n in (3, 7, 12)],
                        VOCAB.pad)
    mb = to_model_batch(batch)
    wanted = mb.targets != IGNORE
    with torch.inference_mode():
        full = model(mb.tokens, mb.positions, return_position_logits=scheme == "predicted")
        part = model(mb.tokens, mb.positions, return_position_logits=scheme == "predicted", logits_at=wanted)
    for whole, some in zip(*((full, part) if scheme == "predicted" else ((full,), (part,)))):
        assert torch.equal(some[wanted], whole[wanted])
    with pytest.raises(ValueError, match="not both"):
        model(mb.tokens, mb.positions, real=wanted, logits_at=wanted)


def test_first_error_histogram_counts_each_wrong_row_once_at_its_first_error():
    tokens = np.array([[9, 1, 2, 3, 4]] * 4)
    mask = np.array([[False, False, True, True, True]] * 4)
    from theory.serialize import SequenceBatch
    batch = SequenceBatch(tokens, np.tile(np.arange(5), (4, 1)), mask)
    # predictions per slot q (for token q+1): slots 1..3 predict the three outputs
    pred = np.array([[0, 2, 3, 4],    # all right
                     [0, 2, 0, 0],    # first wrong at y[1], wrong again at y[2]: counted once
                     [0, 7, 3, 4],    # first wrong at y[0]
                     [5, 2, 3, 0]])   # slot 0 is not supervised; first wrong at y[2]
    assert first_error_histogram(pred, batch) == (1, 1, 1)
