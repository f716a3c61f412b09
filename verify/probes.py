"""Probes of a trained model through its hook points: attention patterns, per-head mean ablation and
the chunk selection of hierarchical sparse attention.

``mean_ablation_map`` is the head-reuse measurement of Cai et al. (docs/theory.md §8.5.2): each
head's output (``blocks.{i}.attn.head_out``, before the output projection) is replaced by its mean
over the batch, per position, and the drop of a score (by default teacher-forced exact match,
``verify.measure``) is that head's importance.  A head the model does not use costs nothing when
ablated; a head it relies on costs what the model loses without the head's input-dependent part.
The means come from one forward pass over the whole batch, so a score that runs the model in
chunks of rows still sees the mean of the batch, not of its chunk.

``chunk_selection`` is HSA's retrieval measurement (issue 13: "did it pick the chunk holding the
key?"): the chunks HSA selected (``blocks.{i}.attn.selected_chunks``) at the slot that predicts
each output, against the chunks holding that output's support (``theory.solver``: the input
positions the output depends on); see its docstring for the exact rule.
"""

from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch

from theory.serialize import SequenceBatch, instance_to_sequence_index, output_start, sequence_length

from .batches import to_model_batch
from .measure import CHUNK_TOKENS, exact_match, predictions
from .model import Transformer, patch_activations, record_activations
from .spec import HSA_MIXERS

Score = Callable[[torch.nn.Module, SequenceBatch], float]


def teacher_forced_exact_match(model: torch.nn.Module, batch: SequenceBatch) -> float:
    """Share of rows answered exactly (teacher-forced argmax = greedy decoding with given ids)."""
    return float(exact_match(predictions(model, batch), batch)[0].mean())


def _one_length(batch: SequenceBatch) -> None:
    if not (batch.mask.argmax(axis=1) == batch.mask.argmax(axis=1)[0]).all() or \
            len(set(batch.mask.sum(axis=1).tolist())) != 1:
        raise ValueError("probes need batches of one length (a mean over padded rows would mix in padding); "
                         "serialize one length per batch")


@torch.inference_mode()
def attention_patterns(model: Transformer, batch: SequenceBatch) -> np.ndarray:
    """Attention weights of every layer and head, (layers, B, H, L-1, L-1), for the model inputs of
    ``batch`` (slot q attends to slots ≤ q; each row sums to 1)."""
    model.eval()
    mb = to_model_batch(batch)
    names = [f"blocks.{i}.attn.pattern" for i in range(len(model.blocks))]
    with record_activations(model, names) as cache:
        model(mb.tokens, mb.positions)
    return np.stack([cache[name][0].numpy() for name in names])


@torch.inference_mode()
def head_means(model: Transformer, batch: SequenceBatch) -> list[torch.Tensor]:
    """Per layer, the per-head outputs averaged over the rows of ``batch``: (H, L-1, d_head) each."""
    model.eval()
    mb = to_model_batch(batch)
    names = [f"blocks.{i}.attn.head_out" for i in range(len(model.blocks))]
    with record_activations(model, names) as cache:
        model(mb.tokens, mb.positions)
    return [cache[name][0].mean(dim=0) for name in names]


def _replace_head(head: int, mean: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    def replace(head_out: torch.Tensor) -> torch.Tensor:  # (B, H, L, d_head)
        out = head_out.clone()
        out[:, head] = mean[head, : head_out.shape[2]]
        return out
    return replace


def mean_ablation_map(model: Transformer, batches: list[SequenceBatch],
                      score_fn: Score = teacher_forced_exact_match) -> np.ndarray:
    """(layers, heads): the drop of ``score_fn`` when that head's output is replaced by its mean over
    the batch (per position), averaged over ``batches`` weighted by their rows.

    Each batch holds instances of one length (the mean is per position).  Positive = the model
    needs the head; 0 = ablating it changes nothing the score sees.
    """
    if not batches:
        raise ValueError("mean_ablation_map needs at least one batch")
    for batch in batches:
        _one_length(batch)
    layers, heads = len(model.blocks), model.cfg.heads
    drops = np.zeros((layers, heads))
    rows = sum(len(b) for b in batches)
    for batch in batches:
        base = score_fn(model, batch)
        means = head_means(model, batch)
        for layer in range(layers):
            for head in range(heads):
                with patch_activations(model, {f"blocks.{layer}.attn.head_out": _replace_head(head, means[layer])}):
                    ablated = score_fn(model, batch)
                drops[layer, head] += (base - ablated) * len(batch) / rows
    return drops


# ------------------------------------------------------------------ chunk selection of HSA (issue 13)


def hsa_layers(model: Transformer) -> list[int]:
    """Indices of the blocks that run hierarchical sparse attention (empty for other mixers)."""
    return [i for i, block in enumerate(model.blocks) if block.mixer in HSA_MIXERS]


@torch.inference_mode()
def chunk_selection(model: Transformer, task, length: int, batch: SequenceBatch, support: np.ndarray,
                    chunk: int | None = None) -> tuple[int, int]:
    """(covered, total): of the ``total`` outputs of ``batch`` (rows × r(N)), how many had every chunk
    holding their support selected.

    ``batch``: instances of ``task`` at ``length``, serialized by ``theory.serialize.serialize`` (any
    position ids: chunks follow slot order, not ids); ``support`` (B, r, U) bool: their
    ``Solution.support`` (``task.generate`` with ``support=True``), U over instance indices (operands,
    then outputs), mapped to sequence positions by ``instance_to_sequence_index``.

    Output y[t] sits at sequence position p = output_start + t and is predicted by slot q = p - 1
    (``verify.batches.to_model_batch``: slot q predicts token q + 1); the model input is the
    sequence without its last token, split into chunks of ``chunk_size`` slots (chunk of slot s =
    s // chunk_size).  y[t] is **covered** when some HSA layer and some head of it, at slot q,
    selected chunks (``blocks.{i}.attn.selected_chunks`` at q; -1 slots and chunks not complete
    before q are ignored, as the layer gives them no weight) whose union with q's own chunk
    q // chunk_size (always attended, causally) contains the chunk of every support position of
    y[t].  One (layer, head) must cover the whole support on its own; an output whose support lies
    in q's own chunk (or is empty) is covered whatever was selected.

    The model runs teacher-forced, ``chunk`` rows per pass (default: about ``CHUNK_TOKENS`` tokens,
    as ``verify.measure.predictions``), with only ``selected_chunks`` recorded (a patch of it through
    ``patch_activations`` is what is measured).  ``ValueError`` for a model without HSA blocks, a
    batch of several lengths or of another length, or a support of another shape.
    """
    layers = hsa_layers(model)
    if not layers:
        raise ValueError(f"chunk_selection needs a model with HSA blocks (mixer {' or '.join(HSA_MIXERS)}), "
                         f"not mixer {model.cfg.mixer!r}")
    _one_length(batch)
    rows, width = batch.tokens.shape
    if width != sequence_length(task, length):
        raise ValueError(f"the batch has sequences of {width} tokens; instances of {task.name!r} at length {length} "
                         f"have {sequence_length(task, length)}")
    index = instance_to_sequence_index(task, length)  # instance index -> sequence position
    r = task.r(length)
    support = np.asarray(support, dtype=bool)
    if support.shape != (rows, r, len(index)):
        raise ValueError(f"support has shape {support.shape}, expected (rows, r, U) = {(rows, r, len(index))} "
                         "(generate the instances with support=True)")
    C = model.cfg.chunk_size
    n_chunks = -(-(width - 1) // C)  # of the model input (the sequence without its last token)
    slots = output_start(task, length) - 1 + np.arange(r)  # slot q predicts y[t] at q + 1
    own = slots // C  # each query's own chunk
    if (support & (index[None, :] > slots[:, None])).any():
        raise ValueError(f"task {task.name!r}: an output's support lies after the slot that predicts it")
    names = [f"blocks.{i}.attn.selected_chunks" for i in layers]
    if chunk is None:
        chunk = max(1, CHUNK_TOKENS // max(1, width - 1))
    slots_t, own_t = torch.from_numpy(slots), torch.from_numpy(own)
    model.eval()
    covered = 0
    for s in range(0, rows, chunk):
        mb = to_model_batch(SequenceBatch(batch.tokens[s:s + chunk], batch.positions[s:s + chunk],
                                          batch.mask[s:s + chunk]))
        with record_activations(model, names) as cache:
            model(mb.tokens, mb.positions)
        b, t, u = np.nonzero(support[s:s + chunk])
        needed = np.zeros((len(mb.tokens), r, n_chunks), dtype=bool)  # chunks holding a support token ...
        needed[b, t, index[u] // C] = True
        needed[:, np.arange(r), own] = False  # ... outside the query's own chunk, which is always attended
        missing_chunks = torch.from_numpy(needed)[:, None]  # (b, 1, r, n_chunks)
        ok = torch.zeros(missing_chunks.shape[0], r, dtype=torch.bool)
        for name in names:
            selected = cache[name][0][:, :, slots_t]  # (b, H, r, K)
            usable = (selected >= 0) & (selected < own_t[:, None])  # complete before the query: weighed
            column = torch.where(usable, selected, torch.full_like(selected, n_chunks))  # unusable -> spare column
            chosen = torch.zeros(*selected.shape[:3], n_chunks + 1, dtype=torch.bool)
            chosen.scatter_(3, column, True)
            uncovered = (missing_chunks & ~chosen[..., :n_chunks]).any(dim=3)  # (b, H, r)
            ok |= (~uncovered).any(dim=1)
        covered += int(ok.sum())
    return covered, rows * r


# --------------------------------------------------------------------- maps of a stored run's tasks

PROBE_SEED = 11_000_000  # probe instances: a fixed set per (task, length), like the evaluation set


def stable_offset(name: str) -> int:
    """A seed offset fixed by a task or source name (the same in every process and Python version,
    unlike ``hash``), a multiple of 1000 so that ``base + length + stable_offset(name)`` keeps the
    sets of one name at different lengths apart: distinct fixed instance sets per (name, length)."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:6], 16) * 1000


def stored_run_head_maps(spec, weights_dir, length: int, instances: int = 256) -> dict[str, np.ndarray]:
    """Mean-ablation maps (layers, heads) of a stored run's chosen checkpoint, for its primary task and
    every task its mixture trains besides (restrictions excepted), each on ``instances`` instances of
    length ``length`` (capped by what the task admits) with its own task token.

    The weights are read with ``weights_only=True`` from ``weights_dir/<key>.pt``
    (``verify.run.weights_path``); ``FileNotFoundError`` if the run kept none (e.g. a fresh clone).
    """
    from theory.serialize import serialize

    from .run import _item_task, build, weights_path

    path = weights_path(weights_dir, spec.key)
    if not path.exists():
        raise FileNotFoundError(f"no saved weights for run {spec.key} at {path}; re-run the suite to keep them")
    task, _, vocab, model, _ = build(spec)
    model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    coupled = spec.position_scheme in ("coupled", "predicted")
    targets = [(task.name, task, task.name)]
    targets += [(item.source, _item_task(task, item, spec), item.token) for item in spec.mixture
                if item.kind != "restriction"]
    maps = {}
    for label, item_task, token in targets:
        n_value = min(length, item_task.max_length or length)
        rng = np.random.default_rng(PROBE_SEED + n_value)
        inputs, sol = item_task.generate(rng, instances, n_value, support=False)
        batch = serialize(item_task, inputs, sol.outputs, vocab, token, coupled=coupled and item_task is task)
        maps[label] = mean_ablation_map(model, [batch])
    return maps
