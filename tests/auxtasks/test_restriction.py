"""Restriction tasks R(z, p, m): what is kept, how it is supervised, and that it re-solves."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auxtasks.restriction import RestrictionError, RestrictionTask, recheck_restriction, restrict
from theory.catalogue import CATALOGUE
from theory.serialize import Vocab, frame_positions, instance_to_sequence_index, output_start, serialize
from theory.structure import structure_profile

VOCAB = Vocab(symbols=33, task_names=tuple(CATALOGUE))
seeds = st.integers(min_value=0, max_value=2**32 - 1)
BATCH = 8
# tasks with bounded support (restrictions exist), covering one and two operands, operands of
# different lengths, content selection, counting and single outputs
RESTRICTABLE = ["copy", "reverse", "sort", "unique_copy", "no_carry_sum", "mqar", "sparse_parity_k2",
                "retrieve_right", "passkey", "running_parity", "capitalize_reverse"]
SINGLE_OPERAND = ["copy", "reverse", "sort"]


def _required(task, sol_support, n_value, row, t_value) -> set[int]:
    """Frame, p-1, p and the support of output t, in full-sequence positions."""
    p = output_start(task, n_value) + t_value
    seq_of = instance_to_sequence_index(task, n_value)
    sup = {int(seq_of[u]) for u in np.flatnonzero(sol_support[row, t_value])}
    return set(frame_positions(task, n_value)) | {p - 1, p} | sup


def _inputs_of(task, full, n_value):
    """Recover each operand's tokens from serialized sequences."""
    seq_of = instance_to_sequence_index(task, n_value)
    out, start = {}, 0
    for name, size in zip(task.operand_names, task.operand_sizes(n_value)):
        out[name] = full.tokens[:, seq_of[start:start + size]]
        start += size
    return out


def _check_rows(task, full, support, restricted, n_value, m):
    assert len(restricted.batch) == len(full)
    for row in range(len(restricted.batch)):
        src = int(restricted.source_row[row])
        t_value = int(restricted.output_index[row])
        p = int(restricted.target_position[row])
        assert 0 <= t_value < task.r(n_value)
        assert p == output_start(task, n_value) + t_value
        kept_row = restricted.kept[row]
        kept = kept_row[kept_row >= 0]
        count = len(kept)
        assert (kept_row[count:] == -1).all(), "padding only at the end"
        assert count <= m
        assert count == min(m, p + 1), "fills with earlier positions up to m"
        assert (np.diff(kept) > 0).all() and kept.max() == p
        assert _required(task, support, n_value, src, t_value) <= set(kept.tolist())
        if p + 1 <= m:
            np.testing.assert_array_equal(kept, np.arange(p + 1))
        tokens = restricted.batch.tokens[row]
        positions = restricted.batch.positions[row]
        mask = restricted.batch.mask[row]
        np.testing.assert_array_equal(tokens[:count], full.tokens[src, kept])
        np.testing.assert_array_equal(positions[:count], kept)  # original position ids
        assert (tokens[count:] == VOCAB.pad).all()
        assert np.flatnonzero(mask).tolist() == [count - 1]  # one target: the last real token
        assert tokens[count - 1] == full.tokens[src, p]
        assert recheck_restriction(task, full, restricted, n_value, row)


@pytest.mark.parametrize("name", RESTRICTABLE)
@settings(max_examples=25, deadline=None)
@given(seed=seeds, data=st.data())
def test_restriction_properties(name, seed, data):
    task = CATALOGUE[name]
    n_value = data.draw(st.integers(task.min_length, min(24, task.max_length or 24)), label="N")
    L = output_start(task, n_value) + task.r(n_value)
    need = len(frame_positions(task, n_value)) + 2 + structure_profile(task).k
    m = data.draw(st.integers(min(need, L), L + 2), label="m")  # the required set never exceeds L
    rng = np.random.default_rng(seed)
    rtask = RestrictionTask(task, m, (n_value, n_value))
    full, restricted = rtask.sample_at(rng, BATCH, n_value, VOCAB)
    support = task.solve(_inputs_of(task, full, n_value)).support
    _check_rows(task, full, support, restricted, n_value, m)


def test_reindexed_restrictions_number_positions_from_zero():
    rtask = RestrictionTask(CATALOGUE["reverse"], 6, (20, 20), reindex=True)
    _, restricted = rtask.sample_at(np.random.default_rng(0), 4, 20, VOCAB)
    for row in range(4):
        count = int((restricted.kept[row] >= 0).sum())
        assert restricted.batch.positions[row, :count].tolist() == list(range(count))


@pytest.mark.parametrize("name", RESTRICTABLE)
@settings(max_examples=20, deadline=None)
@given(seed=seeds, data=st.data())
def test_tight_m_works_and_one_less_raises(name, seed, data):
    task = CATALOGUE[name]
    n_value = data.draw(st.integers(task.min_length, min(24, task.max_length or 24)), label="N")
    t_value = data.draw(st.integers(0, task.r(n_value) - 1), label="t")
    rng = np.random.default_rng(seed)
    inputs = task.sample(rng, BATCH, n_value)
    sol = task.solve(inputs)
    full = serialize(task, inputs, sol.outputs, VOCAB)
    output_index = np.full(BATCH, t_value)
    need = max(len(_required(task, sol.support, n_value, row, t_value)) for row in range(BATCH))
    with pytest.raises(RestrictionError, match=f"use m >= {need}"):
        restrict(task, full, sol.support, n_value, need - 1, rng, output_index, VOCAB.pad)
    restricted = restrict(task, full, sol.support, n_value, need, rng, output_index, VOCAB.pad)
    assert (restricted.output_index == t_value).all()
    _check_rows(task, full, sol.support, restricted, n_value, need)


@pytest.mark.parametrize("name", SINGLE_OPERAND)
def test_m_below_frame_and_support_raises(name):
    task = CATALOGUE[name]
    rng = np.random.default_rng(0)
    n_value = 10
    inputs = task.sample(rng, 4, n_value)
    sol = task.solve(inputs)
    full = serialize(task, inputs, sol.outputs, VOCAB)
    # at t = 5 every catalogue task needs task, SEP, p-1, p and a distinct input token: 5 positions
    for m in (1, 3, 4):
        with pytest.raises(RestrictionError, match=name):
            restrict(task, full, sol.support, n_value, m, rng, np.full(4, 5), VOCAB.pad)


@pytest.mark.parametrize("name", SINGLE_OPERAND)
def test_recheck_fails_when_support_is_dropped(name):
    """The recheck is not vacuous: removing a support token of S_p makes it fail."""
    task = CATALOGUE[name]
    rng = np.random.default_rng(1)
    n_value = 12
    inputs = task.sample(rng, 6, n_value)
    sol = task.solve(inputs)
    full = serialize(task, inputs, sol.outputs, VOCAB)
    t_value = 4
    restricted = restrict(task, full, sol.support, n_value, 5, rng, np.full(6, t_value), VOCAB.pad)
    seq_of = instance_to_sequence_index(task, n_value)
    for row in range(6):
        assert recheck_restriction(task, full, restricted, n_value, row)
        # the support input token (for sort: the successor of y[t-1]) is the one at instance index < n
        (u,) = [u for u in np.flatnonzero(sol.support[row, t_value]) if u < n_value]
        broken = copy.deepcopy(restricted)
        broken.kept[row][broken.kept[row] == seq_of[u]] = -1
        assert not recheck_restriction(task, full, broken, n_value, row)


def test_restriction_task_sample_uses_lengths_in_range():
    task = CATALOGUE["sort"]
    rtask = RestrictionTask(task, 6, (3, 9))
    assert rtask.name == "sort-restriction"
    rng = np.random.default_rng(0)
    for _ in range(10):
        batch = rtask.sample(rng, 4, VOCAB)
        assert batch.tokens.shape[0] == 4 and batch.tokens.shape[1] <= 6
        assert batch.mask.sum(axis=1).tolist() == [1, 1, 1, 1]
        # the separator's original position id is 1 + N
        sep_ids = batch.positions[batch.tokens == VOCAB.sep]
        assert len(sep_ids) == 4 and ((sep_ids >= 4) & (sep_ids <= 10)).all()
        assert len(set(sep_ids.tolist())) == 1  # one N per batch
