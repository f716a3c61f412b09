"""Hierarchical sparse attention, the diagonal recurrence and the ``mixer`` option (issue 13, model side)."""

from __future__ import annotations

import dataclasses
import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from verify.hsa import DiagonalRecurrence, chunk_scores, hierarchical_sparse_attention, linear_scan, \
    linear_scan_reference
from verify.model import MIXERS, POSITION_SCHEMES, ModelConfig, Transformer, hook_names, patch_activations, \
    record_activations
from verify.spec import MixtureItem, RunSpec, TrainConfig

INF = float("-inf")


def recorder():
    """A ``hook`` for ``hierarchical_sparse_attention`` that keeps what passes through it."""
    seen = {}

    def hook(name, x):
        seen[name] = x
        return x
    return hook, seen


def restricted_attention(q, k, v, allowed, bias=None):
    """Full attention whose query t sees exactly the keys where ``allowed[..., t, :]`` (B, H, L, L)."""
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        logits = logits + bias
    return logits.masked_fill(~allowed, INF).softmax(dim=-1) @ v


def allowed_keys(selected, L, C):
    """(B, H, L, L) bool: the keys of each query's selected chunks and of its own chunk up to itself."""
    B, H, _, K = selected.shape
    t = torch.arange(L)
    key_chunk = t // C
    own = (key_chunk[None, :] == key_chunk[:, None]) & (t[None, :] <= t[:, None])  # (L, L)
    chosen = (key_chunk[None, None, None, :, None] == selected[:, :, :, None, :]).any(-1)  # (B, H, L, L)
    return chosen | own


# ------------------------------------------------------------------------------ the layer by hand


def hand_set(L=24, C=4, key_chunk=2, d=8):
    """Keys of small noise, except one key in ``key_chunk`` that alone matches every query."""
    gen = torch.Generator().manual_seed(0)
    q = torch.zeros(1, 1, L, d)
    q[..., 0] = 3.0
    k = 0.1 * torch.randn(1, 1, L, d, generator=gen)
    k[0, 0, key_chunk * C + 1] = torch.zeros(d).index_fill(0, torch.tensor([0]), 10.0)  # q·k/√d ≈ 10.6
    v = torch.randn(1, 1, L, d, generator=gen)
    return q, k, v


def test_hand_set_relevance_selects_the_key_chunk_and_equals_attention_restricted_to_it():
    L, C, key_chunk = 24, 4, 2
    q, k, v = hand_set(L, C, key_chunk)
    hook, seen = recorder()
    out = hierarchical_sparse_attention(q, k, v, C, top_k=1, hook=hook)
    selected = seen["attn.selected_chunks"]
    assert selected.shape == (1, 1, L, 1) and selected.dtype == torch.long
    after = torch.arange(L) >= (key_chunk + 1) * C  # queries for which the key's chunk is complete
    assert (selected[0, 0, after, 0] == key_chunk).all()
    assert (selected[0, 0, :C, 0] == -1).all()  # chunk 0 has no completed chunk before it
    # the key chunk scores highest wherever it is a candidate, and future chunks are -inf
    scores = seen["attn.chunk_scores"]
    assert scores.shape == (1, 1, L, L // C)
    assert (scores[0, 0, after].argmax(-1) == key_chunk).all()
    query_chunk = torch.arange(L) // C
    assert torch.isinf(scores[0, 0][torch.arange(L // C)[None, :] >= query_chunk[:, None]]).all()
    # equal to full attention restricted to the key's chunk plus the local chunk (causal)
    expected = restricted_attention(q, k, v, allowed_keys(selected, L, C))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    only_key_chunk = allowed_keys(torch.full((1, 1, L, 1), key_chunk), L, C)
    torch.testing.assert_close(out[..., after, :], restricted_attention(q, k, v, only_key_chunk)[..., after, :],
                               rtol=0, atol=1e-6)
    # and the output is (almost) the key's value: retrieval
    torch.testing.assert_close(out[0, 0, after], v[0, 0, key_chunk * C + 1].expand(int(after.sum()), -1),
                               rtol=0, atol=1e-3)


def test_local_chunk_alone_with_top_k_zero():
    q, k, v = torch.randn(3, 2, 3, 19, 8).unbind(0)
    out = hierarchical_sparse_attention(q, k, v, 4, top_k=0)
    expected = restricted_attention(q, k, v, allowed_keys(torch.full((2, 3, 19, 0), -1), 19, 4))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("L, C", [(17, 4), (16, 4), (5, 8), (13, 1)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_top_k_covering_every_chunk_is_full_causal_attention(L, C, with_bias):
    """logsumexp scores make the chunk weights the chunks' shares of full attention: all chunks = full."""
    gen = torch.Generator().manual_seed(L * C)
    q, k, v = torch.randn(3, 2, 3, L, 8, generator=gen).unbind(0)
    future = torch.ones(L, L, dtype=torch.bool).triu(1)
    bias = torch.randn(2, 3, L, L, generator=gen).masked_fill(future, INF) if with_bias else None
    full = F.scaled_dot_product_attention(q, k, v, attn_mask=bias) if with_bias else \
        F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = hierarchical_sparse_attention(q, k, v, C, top_k=-(-L // C), bias=bias)
    torch.testing.assert_close(out, full, rtol=0, atol=2e-6)


@pytest.mark.parametrize("with_bias", [False, True])
def test_any_selection_equals_attention_restricted_to_it(with_bias):
    L, C, K = 29, 3, 2
    gen = torch.Generator().manual_seed(5)
    q, k, v = torch.randn(3, 2, 2, L, 8, generator=gen).unbind(0)
    bias = torch.randn(2, 2, L, L, generator=gen).masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), INF) \
        if with_bias else None
    hook, seen = recorder()
    out = hierarchical_sparse_attention(q, k, v, C, K, bias=bias, hook=hook)
    selected = seen["attn.selected_chunks"]
    query_chunk = (torch.arange(L) // C)[None, None, :, None]
    assert ((selected == -1) | (selected < query_chunk)).all()  # only completed chunks
    assert ((selected >= 0).sum(-1) == query_chunk[..., 0].clamp(max=K)).all()  # as many as there are, up to K
    # the selected chunks are the top-K by score
    scores = seen["attn.chunk_scores"]
    top = scores.topk(K, dim=-1)
    torch.testing.assert_close(scores.gather(-1, selected.clamp(min=0)).masked_fill(selected < 0, INF), top.values)
    torch.testing.assert_close(out, restricted_attention(q, k, v, allowed_keys(selected, L, C), bias),
                               rtol=0, atol=1e-6)
    # scores are the chunks' logsumexp of the token logits
    logits = q @ k.transpose(-2, -1) / math.sqrt(8) + (0 if bias is None else bias)
    t, j = 20, 4
    torch.testing.assert_close(scores[..., t, j], logits[..., t, j * C:(j + 1) * C].logsumexp(-1))


def test_scoring_in_blocks_equals_scoring_at_once():
    q, k = torch.randn(2, 1, 2, 40, 8).unbind(0)
    torch.testing.assert_close(chunk_scores(q, k, 4, score_block=8), chunk_scores(q, k, 4, score_block=1024),
                               rtol=0, atol=1e-6)


def test_patched_selection_and_pattern():
    L, C = 24, 4
    q, k, v = hand_set(L, C)

    def none_selected(name, x):
        return torch.full_like(x, -1) if name == "attn.selected_chunks" else x
    local = hierarchical_sparse_attention(q, k, v, C, top_k=1, hook=none_selected)
    torch.testing.assert_close(local, hierarchical_sparse_attention(q, k, v, C, top_k=0), rtol=0, atol=1e-6)

    def future_selected(name, x):  # a chunk not complete before the query weighs nothing: causality holds
        return torch.full_like(x, L // C - 1) if name == "attn.selected_chunks" else x
    torch.testing.assert_close(hierarchical_sparse_attention(q, k, v, C, top_k=1, hook=future_selected)[..., :L - C, :],
                               local[..., :L - C, :], rtol=0, atol=1e-6)

    hook, seen = recorder()
    out = hierarchical_sparse_attention(q, k, v, C, top_k=1, hook=hook)
    pattern = seen["attn.pattern"]
    torch.testing.assert_close(pattern.sum(-1), torch.ones(1, 1, L))
    assert (pattern[~allowed_keys(seen["attn.selected_chunks"], L, C)] == 0).all()
    torch.testing.assert_close(out, hierarchical_sparse_attention(q, k, v, C, top_k=1), rtol=0, atol=1e-6)


def test_layer_is_causal():
    L, t = 30, 13
    q, k, v = torch.randn(3, 2, 2, L, 8).unbind(0)
    out = hierarchical_sparse_attention(q, k, v, 4, 2)
    q2, k2, v2 = (x.clone() for x in (q, k, v))
    for x in (q2, k2, v2):
        x[..., t + 1:, :] = 100 * torch.randn_like(x[..., t + 1:, :])
    torch.testing.assert_close(hierarchical_sparse_attention(q2, k2, v2, 4, 2)[..., :t + 1, :], out[..., :t + 1, :],
                               rtol=0, atol=1e-6)


# -------------------------------------------------------------------------------- the recurrence


def test_block_scan_equals_the_step_by_step_recurrence():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 150, 6, generator=gen)
    a = torch.tensor([1e-4, 0.3, 0.5, 0.9, 0.999, 0.99999])
    for block in (1, 7, 64, 200):
        torch.testing.assert_close(linear_scan(u, a.log(), block), linear_scan_reference(u, a), rtol=1e-5, atol=1e-5)


def test_recurrence_decays_in_the_unit_interval_and_has_gradients():
    layer = DiagonalRecurrence(16)
    a = layer.decay().detach()
    assert ((a > 0) & (a < 1)).all() and float(a.min()) == pytest.approx(0.5, abs=1e-4) and a.max() > 0.99
    x = torch.randn(2, 70, 16, requires_grad=True)
    layer(x).pow(2).sum().backward()
    for p in (*layer.parameters(), x):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    h = linear_scan_reference(layer.in_proj(x) * layer.b, layer.decay())
    torch.testing.assert_close(layer(x), layer.out_proj(h), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ the mixer option

VOCAB = 13


def tiny(mixer, scheme=None, **kw):
    scheme = scheme or ("none" if mixer == "recurrent" else "rope")
    torch.manual_seed(0)
    return Transformer(ModelConfig(VOCAB, layers=2, d_model=16, heads=2, position_scheme=scheme, mixer=mixer,
                                   chunk_size=4, top_k=2, max_positions=64, **kw))


def batch(B=3, L=21, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (B, L), generator=gen), torch.arange(L).repeat(B, 1)


def allowed_schemes(mixer):
    return ("none",) if mixer == "recurrent" else POSITION_SCHEMES


@pytest.mark.parametrize("mixer", MIXERS)
def test_every_mixer_and_scheme_gives_logits_of_the_right_shape(mixer):
    tokens, positions = batch()
    for scheme in allowed_schemes(mixer):
        model = tiny(mixer, scheme)
        logits = model(tokens, positions)
        assert logits.shape == (3, 21, VOCAB) and torch.isfinite(logits).all(), scheme
        if scheme == "predicted":
            assert model(tokens, positions, return_position_logits=True)[1].shape == (3, 21, 64)
    with_temperature = tiny(mixer, train_context=8, length_temperature=True) if mixer != "recurrent" else None
    if with_temperature is not None:
        assert torch.isfinite(with_temperature(tokens, positions)).all()


def test_bad_mixer_settings_are_refused():
    with pytest.raises(ValueError, match="unknown mixer 'mamba'"):
        ModelConfig(VOCAB, mixer="mamba")
    with pytest.raises(ValueError, match="position_scheme 'none'"):
        ModelConfig(VOCAB, mixer="recurrent", position_scheme="rope")
    with pytest.raises(ValueError, match="length_temperature"):
        ModelConfig(VOCAB, mixer="recurrent", position_scheme="none", length_temperature=True, train_context=8)
    with pytest.raises(ValueError, match="chunk_size"):
        ModelConfig(VOCAB, mixer="hsa", chunk_size=0)
    ModelConfig(VOCAB, mixer="recurrent+hsa", position_scheme="alibi")  # HSA carries positions


@pytest.mark.parametrize("mixer", MIXERS)
def test_every_mixer_is_causal(mixer):
    tokens, positions = batch(L=26)
    model = tiny(mixer).eval()
    t = 11
    changed = tokens.clone()
    changed[:, t + 1:] = (changed[:, t + 1:] + 1 + torch.arange(26 - t - 1)) % VOCAB
    with torch.no_grad():
        torch.testing.assert_close(model(changed, positions)[:, :t + 1], model(tokens, positions)[:, :t + 1],
                                   rtol=0, atol=1e-5)


def test_hsa_with_top_k_covering_every_chunk_is_the_attention_model():
    """Same parameters (an attention model's weights load into HSA) and, covering all chunks, same outputs."""
    tokens, positions = batch(L=21)
    for scheme in ("rope", "alibi", "learned"):
        attention = tiny("attention", scheme, length_temperature=True, train_context=8)
        hsa = Transformer(dataclasses.replace(attention.cfg, mixer="hsa", chunk_size=4, top_k=6))
        assert list(hsa.state_dict()) == list(attention.state_dict())
        hsa.load_state_dict(attention.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(hsa(tokens, positions), attention(tokens, positions), rtol=0, atol=1e-5)


def test_hooks_record_chunk_selections():
    model = tiny("recurrent+hsa")
    assert hook_names(model) == [f"blocks.{i}.attn.{p}" for i in range(2)
                                 for p in ("pattern", "head_out", "chunk_scores", "selected_chunks")]
    tokens, positions = batch(L=21)
    plain = model(tokens, positions)
    names = ["blocks.1.attn.selected_chunks", "blocks.1.attn.chunk_scores", "blocks.0.attn.head_out"]
    with record_activations(model, names) as cache:
        recorded = model(tokens, positions)
    torch.testing.assert_close(recorded, plain, rtol=0, atol=1e-6)
    selected, scores = cache[names[0]][0], cache[names[1]][0]
    assert selected.shape == (3, 2, 21, 2) and scores.shape == (3, 2, 21, 6)
    query_chunk = (torch.arange(21) // 4)[None, None, :, None]
    assert ((selected == -1) | (selected < query_chunk)).all()
    assert (selected[:, :, 8:] >= 0).all()  # from chunk 2 on, two chunks are complete
    assert cache[names[2]][0].shape == (3, 2, 21, 8)
    # forcing every query to select nothing leaves the local chunks only: the output changes
    with patch_activations(model, {"blocks.0.attn.selected_chunks": lambda x: torch.full_like(x, -1)}):
        local = model(tokens, positions)
    assert not torch.allclose(local[:, 8:], plain[:, 8:])
    torch.testing.assert_close(local[:, :4], plain[:, :4], rtol=0, atol=1e-6)  # chunk 0 selects nothing anyway


def test_a_recurrent_model_has_no_hook_points():
    model = tiny("recurrent")
    assert hook_names(model) == []
    with pytest.raises(ValueError, match="unknown hook point 'blocks.0.attn.pattern'; the model has none"):
        with record_activations(model, ["blocks.0.attn.pattern"]):
            pass


@pytest.mark.parametrize("mixer", MIXERS)
def test_gradients_reach_every_parameter(mixer):
    model = tiny(mixer)
    tokens, positions = batch(L=21)
    F.cross_entropy(model(tokens, positions).transpose(1, 2), tokens).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("mixer", MIXERS)
def test_a_tiny_model_of_each_mixer_trains(mixer):
    """Predict the token two back (it needs mixing), 30 Adam steps: finite and falling loss."""
    model = tiny(mixer)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(30):
        tokens, positions = batch(B=16, L=20, seed=step)
        loss = F.cross_entropy(model(tokens, positions)[:, 2:].transpose(1, 2), tokens[:, :-2])
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss), step
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


# ------------------------------------------------- mixer "attention": the model as it was before

# Fingerprints recorded by running ``_fingerprint`` on the code *before* the mixer option existed:
# SHA-256 (16 hex digits) of the initial state_dict (names, shapes, bytes) for a fixed seed, and the sum
# and absolute sum of the logits of one batch (the hooked path's sum too).
BEFORE = {
    "rope": ("d53b75996a7bb0d9", 3.324251271544199, 61.583178868510004, 3.3242513729856),
    "alibi_temp": ("d53b75996a7bb0d9", 3.246675602051255, 61.48677019285242, 3.246675896392844),
    "learned": ("64dd03c8f716ce3c", 2.2189392178552225, 54.89991804608144, 2.2189388014376163),
    "predicted": ("633c08a030a60db7", 2.0430705831677187, 60.06650379442726, 2.043070537649328),
    "none": ("d53b75996a7bb0d9", 3.3278274553158553, 61.57301110839762, 3.32782756818051),
    "sinusoidal": ("d53b75996a7bb0d9", 4.331192323646974, 67.78933197591687, 4.331192436802667),
}
CONFIGS = {
    "rope": dict(position_scheme="rope"),
    "alibi_temp": dict(position_scheme="alibi", length_temperature=True, train_context=8),
    "learned": dict(position_scheme="learned", max_positions=40),
    "predicted": dict(position_scheme="predicted", max_positions=40),
    "none": dict(position_scheme="none"),
    "sinusoidal": dict(position_scheme="sinusoidal"),
}


def _fingerprint(kwargs):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(13, layers=2, d_model=32, heads=4, **kwargs))
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 13, (3, 17), generator=g)
    positions = torch.arange(17).repeat(3, 1) + torch.tensor([[0], [2], [5]])
    with torch.no_grad():
        out = model(tokens, positions)
        with record_activations(model, ["blocks.1.attn.pattern", "blocks.0.attn.head_out"]):
            hooked = model(tokens, positions)
    return model, (h.hexdigest()[:16], float(out.double().sum()), float(out.double().abs().sum()),
                   float(hooked.double().sum()))


@pytest.mark.parametrize("name", CONFIGS)
def test_default_mixer_is_the_model_as_it_was(name):
    model, (digest, total, absolute, hooked) = _fingerprint(CONFIGS[name])
    assert model.cfg.mixer == "attention"
    assert digest == BEFORE[name][0]  # same parameters, same names, same init draws
    assert [total, absolute, hooked] == pytest.approx(BEFORE[name][1:], rel=1e-5, abs=1e-5)
    keys = {k.split(".", 2)[-1] for k in model.state_dict() if k.startswith("blocks.")}
    assert keys == {"ln1.weight", "ln1.bias", "qkv.weight", "proj.weight", "ln2.weight", "ln2.bias",
                    "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"}
    assert hook_names(model) == [f"blocks.{i}.attn.{p}" for i in range(2) for p in ("pattern", "head_out")]


# ------------------------------------------------------------------------------------- RunSpec


def spec(**kw) -> RunSpec:
    return RunSpec(task="reverse", condition="primary+restriction", seed=0, train_lengths=(1, 3),
                   test_lengths=(1, 2, 3, 4, 5, 6), restriction_m=8, restriction_lengths=(1, 6),
                   layers=1, d_model=16, heads=2, position_scheme="rope",
                   mixture=(MixtureItem("restriction", "restriction", (1, 6), 1.0, "reverse"),),
                   train=TrainConfig(steps=10, batch=16, eval_every=5, data_seed=1000, model_seed=0),
                   eval_instances=32, validation_instances=32, **kw)


def test_run_keys_are_unchanged_with_the_default_mixer():
    d = spec().to_dict()
    assert not {"mixer", "chunk_size", "top_k", "primary_weight"} & set(d)
    assert spec().key == "b3bd11e9354c98db"  # this spec's key before the fields existed


@pytest.mark.parametrize("change", [dict(mixer="hsa"), dict(chunk_size=16), dict(top_k=4),
                                    dict(mixer="recurrent+hsa", chunk_size=4, top_k=1)])
def test_run_keys_include_non_default_mixer_settings(change):
    s = spec(**change)
    d = s.to_dict()
    assert {k: d[k] for k in change} == change
    assert not ({"mixer", "chunk_size", "top_k"} - set(change)) & set(d)
    assert s.key != spec().key
    assert RunSpec.from_dict(d) == s and RunSpec.from_dict(d).key == s.key


def test_build_passes_the_mixer_to_the_model():
    from verify.run import build

    model = build(spec(mixer="recurrent+hsa", chunk_size=4, top_k=1))[3]
    assert (model.cfg.mixer, model.cfg.chunk_size, model.cfg.top_k) == ("recurrent+hsa", 4, 1)
    assert hasattr(model.blocks[0], "recurrence") and model.blocks[0].top_k == 1
    assert build(spec())[3].cfg.mixer == "attention"
