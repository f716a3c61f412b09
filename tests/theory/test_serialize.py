"""Serialization layout, loss mask, position ids and padding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.catalogue import CATALOGUE
from theory.language import a, b, t
from theory.serialize import (Vocab, concatenate, frame_positions, instance_to_sequence_index, sample_sequences,
                              serialize)
from theory.task import Task

VOCAB = Vocab(symbols=32, task_names=tuple(CATALOGUE))
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def test_vocab_ids_are_disjoint():
    ids = [VOCAB.sep, VOCAB.pad] + [VOCAB.task_token(name) for name in CATALOGUE]
    assert len(set(ids)) == len(ids)
    assert min(ids) >= VOCAB.symbols and max(ids) == VOCAB.size - 1


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
@settings(max_examples=30, deadline=None)
@given(seed=seeds, data=st.data())
def test_layout_mask_positions(name, seed, data):
    task = CATALOGUE[name]
    n_value = data.draw(st.integers(1, min(40, task.max_length or 40)), label="n")
    inputs = task.sample(np.random.default_rng(seed), 5, n_value)
    outputs = task.solve(inputs).outputs
    seq = serialize(task, inputs, outputs, VOCAB)
    r = task.r(n_value)
    L = 1 + n_value + 1 + r
    assert seq.tokens.shape == seq.positions.shape == seq.mask.shape == (5, L)
    assert (seq.tokens[:, 0] == VOCAB.task_token(name)).all()
    np.testing.assert_array_equal(seq.tokens[:, 1:1 + n_value], inputs["x"])
    assert (seq.tokens[:, 1 + n_value] == VOCAB.sep).all()
    np.testing.assert_array_equal(seq.tokens[:, 2 + n_value:], outputs)
    expected_mask = np.zeros(L, bool)
    expected_mask[2 + n_value:] = True
    assert (seq.mask == expected_mask).all()
    assert (seq.positions == np.arange(L)).all()
    assert frame_positions(task, n_value) == (0, 1 + n_value)
    # instance index u maps to the sequence slot holding the same token
    seq_of = instance_to_sequence_index(task, n_value)
    instance = np.concatenate([inputs["x"], outputs], axis=1)
    np.testing.assert_array_equal(seq.tokens[:, seq_of], instance)


def test_two_operand_layout_closes_each_operand_with_a_separator():
    task = Task(name="pick", description="second operand", length_meaning="tokens per operand", rule=b[t],
                alphabet=10, operands=(a, b))
    inputs = task.sample(np.random.default_rng(0), 3, 4)
    seq = serialize(task, inputs, task.solve(inputs).outputs, Vocab(10, ("pick",)))
    np.testing.assert_array_equal(seq.tokens[:, 1:5], inputs["a"])
    assert (seq.tokens[:, 5] == 10).all()  # SEP after a
    np.testing.assert_array_equal(seq.tokens[:, 6:10], inputs["b"])
    assert (seq.tokens[:, 10] == 10).all()  # SEP after b
    np.testing.assert_array_equal(seq.tokens[:, 11:], inputs["b"])
    assert frame_positions(task, 4) == (0, 5, 10)
    np.testing.assert_array_equal(instance_to_sequence_index(task, 4), [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14])


def test_task_token_override():
    task = CATALOGUE["copy"]
    inputs = task.sample(np.random.default_rng(0), 2, 3)
    seq = serialize(task, inputs, task.solve(inputs).outputs, VOCAB, task_token="sort")
    assert (seq.tokens[:, 0] == VOCAB.task_token("sort")).all()


def test_concatenate_pads_right():
    task = CATALOGUE["copy"]
    rng = np.random.default_rng(0)
    short_in, long_in = task.sample(rng, 2, 3), task.sample(rng, 3, 6)
    short = serialize(task, short_in, task.solve(short_in).outputs, VOCAB)
    long = serialize(task, long_in, task.solve(long_in).outputs, VOCAB)
    both = concatenate([short, long], VOCAB.pad)
    assert both.tokens.shape == (5, 14)
    np.testing.assert_array_equal(both.tokens[:2, :8], short.tokens)
    assert (both.tokens[:2, 8:] == VOCAB.pad).all()
    assert not both.mask[:2, 8:].any()
    assert (both.positions[:2, 8:] == 0).all()
    np.testing.assert_array_equal(both.mask[:2, :8], short.mask)
    np.testing.assert_array_equal(both.tokens[2:], long.tokens)
    np.testing.assert_array_equal(both.mask[2:], long.mask)
    np.testing.assert_array_equal(both.positions[2:], long.positions)


@pytest.mark.parametrize("name", ["copy", "sort"])
@settings(max_examples=30, deadline=None)
@given(seed=seeds, lo=st.integers(1, 20), span=st.integers(0, 12), batch=st.integers(1, 24))
def test_sample_sequences_lengths_in_range(name, seed, lo, span, batch):
    task = CATALOGUE[name]
    hi = lo + span
    seq = sample_sequences(task, np.random.default_rng(seed), batch, (lo, hi), VOCAB)
    assert len(seq) == batch
    for row in range(batch):
        tokens = seq.tokens[row]
        (sep,) = np.flatnonzero(tokens == VOCAB.sep)
        n_value = sep - 1
        assert lo <= n_value <= hi
        real = tokens != VOCAB.pad
        length = 2 + n_value + task.r(n_value)
        assert real.sum() == length and real[:length].all()
        assert seq.mask[row].sum() == task.r(n_value)
        assert seq.mask[row, sep + 1:length].all()
        # the outputs are the task's answer to the inputs
        inputs = {"x": tokens[None, 1:sep]}
        np.testing.assert_array_equal(tokens[sep + 1:length], task.solve(inputs).outputs[0])
