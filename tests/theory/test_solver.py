"""The vectorized solver against the oracles, the scalar interpreter, and the support sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.catalogue import CATALOGUE
from theory.solver import MissingRead

FAST = settings(max_examples=40, deadline=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _max_n(task, cap: int = 48) -> int:
    return min(cap, task.max_length or cap)


def _draw(task, seed: int, n_value: int, batch: int = 8):
    rng = np.random.default_rng(seed)
    inputs = task.sample(rng, batch, n_value)
    return inputs, task.solve(inputs)


def _full_view(task, inputs, outputs, row: int) -> dict[int, int]:
    """Instance indices (operands in order, then outputs) -> token, for one row."""
    tokens = np.concatenate([inputs[str(op)][row] for op in task.operands] + [outputs[row]])
    return {u: int(v) for u, v in enumerate(tokens)}


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
@FAST
@given(seed=seeds, data=st.data())
def test_solver_matches_oracle(name, seed, data):
    task = CATALOGUE[name]
    n_value = data.draw(st.integers(1, _max_n(task)), label="n")
    inputs, sol = _draw(task, seed, n_value)
    assert sol.outputs.shape == (8, task.r(n_value))
    np.testing.assert_array_equal(sol.outputs, task.oracle_outputs(inputs))


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
@settings(max_examples=30, deadline=None)
@given(seed=seeds, data=st.data())
def test_scalar_interpreter_matches_solver_on_full_view(name, seed, data):
    task = CATALOGUE[name]
    n_value = data.draw(st.integers(1, _max_n(task, 24)), label="n")
    inputs, sol = _draw(task, seed, n_value, batch=3)
    for row in range(3):
        view = _full_view(task, inputs, sol.outputs, row)
        got = [task.evaluate(view, tv, n_value) for tv in range(task.r(n_value))]
        assert got == sol.outputs[row].tolist()


def _support_sets(sol, row: int) -> list[set[int]]:
    return [set(np.flatnonzero(sol.support[row, tv]).tolist()) for tv in range(sol.support.shape[1])]


@FAST
@given(seed=seeds, n_value=st.integers(1, 48))
def test_copy_support_is_x_t(seed, n_value):
    task = CATALOGUE["copy"]
    _, sol = _draw(task, seed, n_value)
    U = task.input_size(n_value) + task.r(n_value)
    assert sol.support.shape == (8, n_value, U)
    for row in range(8):
        assert _support_sets(sol, row) == [{tv} for tv in range(n_value)]


@FAST
@given(seed=seeds, n_value=st.integers(1, 48))
def test_reverse_support_is_x_n_minus_1_minus_t(seed, n_value):
    task = CATALOGUE["reverse"]
    _, sol = _draw(task, seed, n_value)
    assert sol.support.shape == (8, n_value, 2 * n_value)
    for row in range(8):
        assert _support_sets(sol, row) == [{n_value - 1 - tv} for tv in range(n_value)]


@FAST
@given(seed=seeds, n_value=st.integers(1, 32))
def test_sort_support_is_previous_output_and_successor(seed, n_value):
    task = CATALOGUE["sort"]
    inputs, sol = _draw(task, seed, n_value)
    assert sol.support.shape == (8, n_value, 2 * n_value)
    for row in range(8):
        xs = inputs["x"][row].tolist()
        ys = sol.outputs[row].tolist()
        sets = _support_sets(sol, row)
        # S_0: only the position of the minimum (y[-1] is the constant initial value, not a read)
        assert sets[0] == {int(np.argmin(xs))}
        for tv in range(1, n_value):
            assert sets[tv] == {n_value + tv - 1, xs.index(ys[tv])}


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
@settings(max_examples=30, deadline=None)
@given(seed=seeds, data=st.data())
def test_support_is_sufficient_and_necessary(name, seed, data):
    """Re-evaluating over S_t alone gives y[t]; dropping any member of S_t loses or changes it."""
    task = CATALOGUE[name]
    n_value = data.draw(st.integers(1, _max_n(task, 16)), label="n")
    inputs, sol = _draw(task, seed, n_value, batch=2)
    for row in range(2):
        full = _full_view(task, inputs, sol.outputs, row)
        for tv in range(task.r(n_value)):
            support = np.flatnonzero(sol.support[row, tv]).tolist()
            assert support, "every catalogue output reads at least one token"
            view = {u: full[u] for u in support}
            assert task.evaluate(view, tv, n_value) == sol.outputs[row, tv]
            for drop in support:
                smaller = {u: v for u, v in view.items() if u != drop}
                try:
                    value = task.evaluate(smaller, tv, n_value)
                except MissingRead:
                    continue
                assert value != sol.outputs[row, tv]
