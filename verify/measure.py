"""Measurements of a trained model at one length: exact match, restriction error, consistency.

Exact match comes from one teacher-forced forward pass: greedy decoding reproduces the target iff
the argmax at every output slot equals the target (the first divergence is the same), so the two
are identical; a test checks it against real greedy decoding.  Scheme ``predicted`` is the
exception: its output ids are the model's own, so its exact match is measured by real greedy
decoding (``decode_with_predicted_ids``), batched over the instances of one length.

At length N, from the same full instances z:
* exact match and per-token accuracy of the primary answer;
* ε(N): error on restrictions R(z, p, m) (two random output positions per instance);
* c(N): restriction consistency, the fraction of those where the prediction at p on R(z, p, m)
  equals the prediction at p on z.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from auxtasks.restriction import RestrictionTask, restrict
from theory.serialize import SequenceBatch, Vocab, add_rule_prefix, prefix_length, serialize
from theory.solver import Solution
from theory.task import Task

from .batches import IGNORE, to_model_batch
from .spec import Measurement

RESTRICTIONS_PER_INSTANCE = 2
# Forward passes of about this many tokens: the activations stay in cache, which made evaluation
# 1.3-1.8x faster than 512-row chunks at lengths 10-50 (benchmarks/THROUGHPUT.md).  Each row's
# logits are the same bits whatever the chunk (a test checks it), so results do not change.
CHUNK_TOKENS = 2048


@torch.inference_mode()  # no autograd bookkeeping at all (cheaper than no_grad; outputs leave as numpy)
def predictions(model: torch.nn.Module, batch: SequenceBatch, chunk: int | None = None) -> np.ndarray:
    """Argmax next-token predictions at the supervised slots, (B, L-1), from teacher-forced forward
    passes of ``chunk`` rows each (default: about ``CHUNK_TOKENS`` tokens); -1 at every other slot.

    Only the supervised slots' logits are computed after the last token mixing
    (``Transformer.forward(..., logits_at=...)``): a restriction row needs one slot of its ~15, an
    instance its outputs, and the logits there are the bits of the full pass."""
    model.eval()
    if chunk is None:
        chunk = max(1, CHUNK_TOKENS // max(1, batch.tokens.shape[1] - 1))
    out = []
    for s in range(0, len(batch), chunk):
        part = SequenceBatch(batch.tokens[s:s + chunk], batch.positions[s:s + chunk], batch.mask[s:s + chunk])
        mb = to_model_batch(part)
        wanted = mb.targets != IGNORE
        pred = model(mb.tokens, mb.positions, logits_at=wanted).argmax(-1)
        out.append(torch.where(wanted, pred, -1).numpy())
    return np.concatenate(out)


def exact_match(pred: np.ndarray, batch: SequenceBatch) -> tuple[np.ndarray, np.ndarray]:
    """Per-row exact match (bool) and per-row token accuracy over supervised slots."""
    targets = np.where(batch.mask[:, 1:], batch.tokens[:, 1:], IGNORE)
    supervised = targets != IGNORE
    right = (pred == targets) & supervised
    em = (right == supervised).all(axis=1)
    acc = right.sum(axis=1) / np.maximum(supervised.sum(axis=1), 1)
    return em, acc


@torch.no_grad()
def greedy_decode(model: torch.nn.Module, batch: SequenceBatch) -> np.ndarray:
    """Generate the outputs token by token (no cache); for tests of the teacher-forced shortcut."""
    model.eval()
    tokens = torch.from_numpy(batch.tokens.copy())
    positions = torch.from_numpy(batch.positions.copy())
    first = int(np.argmax(batch.mask[0]))
    assert (batch.mask.argmax(axis=1) == first).all(), "greedy_decode needs one length per batch"
    for q in range(first, tokens.shape[1]):
        logits = model(tokens[:, :q], positions[:, :q])
        tokens[:, q] = logits[:, -1].argmax(-1)
    return tokens[:, first:].numpy()


@torch.inference_mode()
def decode_with_predicted_ids(model: torch.nn.Module, batch: SequenceBatch,
                              chunk: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scheme ``predicted``: the outputs and their ids as the model generates them, (B, r) each.

    Every row of ``batch`` has one length; the prompt keeps its own ids (computable from the prompt),
    every output id is the model's argmax next id (``verify.model.predicted_positions_decode``),
    never the true one: no teacher forcing, since the ids fed back are the model's.  Rows run
    ``chunk`` at a time (default: about ``CHUNK_TOKENS`` tokens per pass)."""
    from .model import predicted_positions_decode

    first = int(np.argmax(batch.mask[0]))
    if not (batch.mask.argmax(axis=1) == first).all() or not batch.mask[:, first:].all():
        raise ValueError("decode_with_predicted_ids needs one length per batch (outputs last, no padding)")
    steps = batch.tokens.shape[1] - first
    if chunk is None:
        chunk = max(1, CHUNK_TOKENS // max(1, batch.tokens.shape[1] - 1))
    tokens, ids = [], []
    for s in range(0, len(batch), chunk):
        out_tokens, out_ids = predicted_positions_decode(model, torch.from_numpy(batch.tokens[s:s + chunk, :first].copy()),
                                                         torch.from_numpy(batch.positions[s:s + chunk, :first].copy()), steps)
        tokens.append(out_tokens.numpy())
        ids.append(out_ids.numpy())
    return np.concatenate(tokens), np.concatenate(ids)


def decoded_as_predictions(decoded: np.ndarray, batch: SequenceBatch) -> np.ndarray:
    """Generated outputs laid out like ``predictions`` (slot q holds the token for q+1), so
    ``exact_match`` and ``first_error_histogram`` read them; slots before the outputs hold -1."""
    first = int(np.argmax(batch.mask[0]))
    pred = np.full((len(batch), batch.tokens.shape[1] - 1), -1, dtype=np.int64)
    pred[:, first - 1:] = decoded
    return pred


#: what ``measure_length`` returns is what a run stores (one record type, torch-free, in ``verify.spec``)
LengthMeasurement = Measurement


def first_error_histogram(pred: np.ndarray, batch: SequenceBatch) -> tuple[int, ...]:
    """Per output index t, how many rows first go wrong at y[t] (teacher forced: the first wrong
    argmax is where greedy decoding first diverges).  All rows of ``batch`` have one length."""
    targets = batch.tokens[:, 1:]
    supervised = batch.mask[:, 1:]
    wrong = (pred != targets) & supervised
    r = int(supervised[0].sum())
    first_slot = int(np.argmax(supervised[0]))
    rows = wrong.any(axis=1)
    first = np.argmax(wrong[rows], axis=1) - first_slot  # output index of the first wrong slot
    return tuple(int(c) for c in np.bincount(first, minlength=r))


def measure_length(model: torch.nn.Module, task: Task, restriction: RestrictionTask | None, vocab: Vocab,
                   length: int, instances: int, seed: int, coupled: bool = False,
                   predicted: bool = False,
                   inspect: Callable[[SequenceBatch, Solution], None] | None = None) -> LengthMeasurement:
    """All measurements at one length on a fixed evaluation set (same seed -> same instances).

    Without a restriction task (unbounded support) ε(N) and c(N) are not measured (0 restrictions).
    ``coupled``: instances carry the coupled position ids (the `coupled` position scheme).

    ``predicted`` (scheme ``predicted``; implies coupled ids): exact match, token accuracy and first
    errors come from greedy decoding in which the model supplies every output's id
    (``decode_with_predicted_ids``), and ``ids_right`` counts the generated ids equal to the true
    coupled ids.  ε(N) and c(N) are measured teacher-forced with the *true* coupled ids, on the
    restriction and on the full instance alike: a restriction R(z, p, m) is defined on the instance,
    ids included, so it asks whether the model reads the right tokens given the right ids, not
    whether it predicts the ids.

    A vocabulary with rules (``Vocab(..., rules=True)``) gives every row, restrictions included, the
    task's rule prefix (``theory.serialize``); the restrictions are cut before it is inserted.

    ``inspect(full, sol)``, if given, is called once with the serialized evaluation instances and
    their ``Solution`` (supports included) before anything is measured, so a caller can probe the
    very instances measured (``verify.run``: HSA's chunk selection); it must leave the model as it
    found it.  It draws nothing from this function's generator, so the measurement is unchanged.
    """
    coupled = coupled or predicted
    if vocab.rules and (predicted or inspect is not None):
        raise ValueError("rule-prefix runs measure neither scheme 'predicted' nor chunk selection")
    rng = np.random.default_rng(seed)
    inputs, sol = task.generate(rng, instances, length)
    # restrictions are cut from the rows in instance coordinates; the model reads them with the
    # rule prefix when the vocabulary has one (K more slots before the instance; 0 otherwise)
    plain = serialize(task, inputs, sol.outputs, vocab, coupled=coupled, plain=True)
    full = add_rule_prefix(plain, task, vocab)
    shift = prefix_length(task, vocab)
    if inspect is not None:
        inspect(full, sol)
    pred_full = predictions(model, full)
    ids_right = None
    if predicted:
        decoded, decoded_ids = decode_with_predicted_ids(model, full)
        first = int(np.argmax(full.mask[0]))
        ids_right = int((decoded_ids == full.positions[:, first:]).sum())
        pred_free = decoded_as_predictions(decoded, full)
        em, acc = exact_match(pred_free, full)
        first_errors = first_error_histogram(pred_free, full)
    else:
        em, acc = exact_match(pred_full, full)
        first_errors = first_error_histogram(pred_full, full)

    errors = consistent = total = 0
    for _ in range(RESTRICTIONS_PER_INSTANCE if restriction is not None else 0):
        rb = restrict(task, plain, sol.support, length, restriction.m, rng, pad=vocab.pad)
        restricted = add_rule_prefix(rb.batch, task, vocab)
        pred_r = predictions(model, restricted)
        last = restricted.mask[:, 1:].argmax(axis=1)  # slot that predicts the target
        answer_r = pred_r[np.arange(len(last)), last]
        answer_full = pred_full[rb.source_row, rb.target_position - 1 + shift]
        target = plain.tokens[rb.source_row, rb.target_position]
        errors += int((answer_r != target).sum())
        consistent += int((answer_r == answer_full).sum())
        total += len(last)
    return LengthMeasurement(length, task.r(length), instances, int(em.sum()), float(acc.mean()), total, errors, consistent,
                             first_errors, ids_right)
