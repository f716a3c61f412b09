"""Hook points (record, patch) and the probes built on them: attention patterns, mean ablation."""

import numpy as np
import pytest
import torch

from auxtasks.derive import resolve_task
from theory.serialize import Vocab, serialize
from verify.model import ModelConfig, Transformer, hook_names, patch_activations, record_activations
from verify.probes import attention_patterns, mean_ablation_map, teacher_forced_exact_match

from handset import handset_model  # tests/verify is on sys.path (rootdir-relative test modules)


def copy_batches(vocab: Vocab, lengths=(3, 6), rows: int = 32, coupled: bool = True):
    task = resolve_task("copy")
    rng = np.random.default_rng(11)
    batches = []
    for n in lengths:
        inputs, sol = task.generate(rng, rows, n)
        batches.append(serialize(task, inputs, sol.outputs, vocab, coupled=coupled))
    return batches


@pytest.mark.parametrize("scheme,temperature", [("rope", False), ("alibi", False), ("learned", True), ("none", False)])
def test_explicit_pattern_path_equals_fused_path(scheme, temperature):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(11, layers=2, d_model=32, heads=4, position_scheme=scheme,
                                    length_temperature=temperature, train_context=6 if temperature else 0)).eval()
    tokens = torch.randint(0, 11, (3, 12))
    positions = torch.arange(12).expand(3, 12) + 5
    with torch.no_grad():
        fused = model(tokens, positions)
        with record_activations(model, ["blocks.1.attn.head_out"]) as heads_only:
            same_kernel = model(tokens, positions)
        with record_activations(model, hook_names(model)) as cache:
            explicit = model(tokens, positions)
    assert torch.equal(fused, same_kernel)  # recording head outputs keeps the fused kernel
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert heads_only["blocks.1.attn.head_out"][0].shape == (3, 4, 12, 8)
    pattern = cache["blocks.0.attn.pattern"][0]
    assert pattern.shape == (3, 4, 12, 12)
    assert torch.allclose(pattern.sum(-1), torch.ones(3, 4, 12), atol=1e-5)
    assert (pattern.triu(1) == 0).all()  # causal
    with torch.no_grad():  # the hooks are gone after the with: nothing recorded, fast path again
        model(tokens, positions)
    assert len(cache["blocks.0.attn.pattern"]) == 1
    assert all(not b.recording and not b.patching for b in model.blocks)


def test_pattern_hook_shows_previous_token_attention():
    vocab = Vocab(10, ("copy",))
    model = handset_model(vocab.size, "learned", shift=-1)  # query id i looks for key id i - 1
    batch = copy_batches(vocab, lengths=(5,), rows=4, coupled=False)[0]
    pattern = attention_patterns(model, batch)  # (layers, B, H, L, L)
    L = batch.tokens.shape[1] - 1
    expected = np.eye(L, k=-1)
    expected[0, 0] = 1.0  # the first slot can only see itself
    assert pattern.shape == (1, 4, 2, L, L)
    assert np.allclose(pattern[0, :, 0], expected, atol=1e-4)


def test_unknown_hook_point_is_refused():
    model = handset_model(13, "learned", shift=-1)
    with pytest.raises(ValueError, match="unknown hook point 'blocks.1.attn.pattern'"):
        with record_activations(model, ["blocks.1.attn.pattern"]):
            pass
    with pytest.raises(ValueError, match="unknown hook point"):
        with patch_activations(model, {"blocks.0.mlp": lambda x: x}):
            pass


def test_patch_replaces_a_head_output():
    vocab = Vocab(10, ("copy",))
    model = handset_model(vocab.size, "coupled", shift=1)
    batch = copy_batches(vocab, lengths=(6,))[0]
    assert teacher_forced_exact_match(model, batch) == 1.0
    with patch_activations(model, {"blocks.0.attn.head_out": torch.zeros_like}):
        assert teacher_forced_exact_match(model, batch) < 0.2
    assert teacher_forced_exact_match(model, batch) == 1.0


def test_mean_ablation_finds_the_head_the_model_uses():
    """Head 0 copies the input the coupled id points at; head 1 attends anywhere but its output
    projection is zero, so replacing it by its mean changes nothing."""
    vocab = Vocab(10, ("copy",))
    model = handset_model(vocab.size, "coupled", shift=1)
    batches = copy_batches(vocab)
    assert all(teacher_forced_exact_match(model, b) == 1.0 for b in batches)
    drops = mean_ablation_map(model, batches)
    assert drops.shape == (1, 2)
    assert drops[0, 1] == 0.0
    assert drops[0, 0] > 0.8  # the mean over random inputs copies no instance exactly (a few by chance)


def test_mean_ablation_refuses_mixed_lengths():
    vocab = Vocab(10, ("copy",))
    model = handset_model(vocab.size, "coupled", shift=1)
    from theory.serialize import concatenate
    mixed = concatenate(copy_batches(vocab), vocab.pad)
    with pytest.raises(ValueError, match="batches of one length"):
        mean_ablation_map(model, [mixed])


def test_head_maps_of_a_stored_run_read_its_saved_weights(tmp_path):
    """Maps for the primary and each plain mixture item of a stored run, from its weights (weights_only)."""
    from verify import api
    from verify.probes import stored_run_head_maps
    from verify.suite import Condition, Item

    spec = api.make_spec("reverse", Condition("with-copy", (Item("copy", lengths=(1, 6)),)), seed=0, train_max=3,
                         steps=30, layers=1, d_model=16, heads=2, eval_every=15, eval_instances=32)
    run = api.run_one(spec, directory=tmp_path)
    maps = stored_run_head_maps(run.spec, tmp_path, length=3, instances=32)
    assert set(maps) == {"reverse", "copy"} and all(m.shape == (1, 2) for m in maps.values())
    (tmp_path / "weights" / f"{run.spec.key}.pt").unlink()
    with pytest.raises(FileNotFoundError, match="no saved weights"):
        stored_run_head_maps(run.spec, tmp_path, length=3)
