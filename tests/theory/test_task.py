"""Task construction, sampling and the load-time validation of malformed definitions."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.catalogue import CATALOGUE
from theory.language import FirstWhere, MaxOver, MinOver, a, b, j, n, t, x, y
from theory.task import Task, TaskDefinitionError

seeds = st.integers(min_value=0, max_value=2**32 - 1)


def make(rule, **kw) -> Task:
    base = dict(name="probe", description="probe task", length_meaning="input tokens", rule=rule, alphabet=10)
    base.update(kw)
    return Task(**base)


# ------------------------------------------------------------------------------ sampling

@settings(max_examples=40, deadline=None)
@given(seed=seeds, n_value=st.integers(1, 32), batch=st.integers(1, 16))
def test_sort_samples_distinct_tokens_in_alphabet(seed, n_value, batch):
    task = CATALOGUE["sort"]
    inputs = task.sample(np.random.default_rng(seed), batch, n_value)
    xs = inputs["x"]
    assert xs.shape == (batch, n_value) and xs.dtype == np.int64
    assert xs.min() >= 0 and xs.max() < task.alphabet
    for row in xs:
        assert len(set(row.tolist())) == n_value


@settings(max_examples=30, deadline=None)
@given(seed=seeds, n_value=st.integers(1, 64))
def test_nondistinct_samples_in_alphabet(seed, n_value):
    for name in ("copy", "reverse"):
        task = CATALOGUE[name]
        xs = task.sample(np.random.default_rng(seed), 8, n_value)["x"]
        assert xs.shape == (8, n_value)
        assert xs.min() >= 0 and xs.max() < task.alphabet


def test_sampling_is_reproducible_from_seed():
    task = CATALOGUE["copy"]
    first = task.sample(np.random.default_rng(7), 4, 12)["x"]
    again = task.sample(np.random.default_rng(7), 4, 12)["x"]
    other = task.sample(np.random.default_rng(8), 4, 12)["x"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_check_length_sort_longer_than_alphabet():
    task = CATALOGUE["sort"]
    assert task.max_length == task.alphabet == 32
    task.check_length(32)  # the largest admissible length is fine
    with pytest.raises(TaskDefinitionError, match="distinct tokens"):
        task.check_length(33)
    with pytest.raises(TaskDefinitionError, match="distinct tokens"):
        task.sample(np.random.default_rng(0), 2, 33)


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
@pytest.mark.parametrize("bad", [0, -3])
def test_check_length_below_minimum(name, bad):
    task = CATALOGUE[name]
    with pytest.raises(TaskDefinitionError, match="below its minimum"):
        task.check_length(bad)
    with pytest.raises(TaskDefinitionError, match="below its minimum"):
        task.sample(np.random.default_rng(0), 2, bad)


def test_copy_and_reverse_have_no_maximum_length():
    for name in ("copy", "reverse"):
        task = CATALOGUE[name]
        assert task.max_length is None
        task.check_length(10_000)


def test_oracle_outputs_without_oracle_raises():
    task = make(x[t])
    inputs = task.sample(np.random.default_rng(0), 2, 3)
    with pytest.raises(TaskDefinitionError, match="no oracle"):
        task.oracle_outputs(inputs)


# ------------------------------------------------------------------------------ validation

k = sp.Symbol("k", integer=True)
z = sp.IndexedBase("z")

MALFORMED = [
    pytest.param(dict(rule=x[t + k]), r"unknown symbol\(s\) k;", id="stray-symbol"),
    pytest.param(dict(rule=x[t + 1]), "reads outside the input", id="index-outside-input"),
    pytest.param(dict(rule=x[n - t]), "reads outside the input", id="index-n-outside-input"),
    pytest.param(dict(rule=y[t]), "before it exists", id="reads-current-output"),
    pytest.param(dict(rule=y[t + 1]), "before it exists", id="reads-future-output"),
    pytest.param(dict(rule=x[t], output_length=n / 2), "must be a positive integer", id="non-integer-length"),
    pytest.param(dict(rule=x[t], output_length=n - 1), "must be a positive integer", id="zero-length-at-1"),
    pytest.param(dict(rule=x[t], output_length=n + k), "may only depend on n", id="length-other-symbol"),
    pytest.param(dict(rule=x[t] + 5), "outside the output alphabet", id="output-above-alphabet"),
    pytest.param(dict(rule=x[t] - 1, alphabet=10), "outside the output alphabet", id="output-negative"),
    pytest.param(dict(rule=x[j]), "j is used outside a content operator", id="free-j"),
    pytest.param(dict(rule=x[t] + j), "j is used outside a content operator", id="free-j-arith"),
    pytest.param(dict(rule=MinOver(j, x[j], MaxOver(j, x[j], x[j] > 0) > x[j])), "may not be nested", id="nested"),
    pytest.param(dict(rule=MinOver(t, x[t], x[t] > 0)), "bind j", id="operator-binds-t"),
    pytest.param(dict(rule=z[t]), "unknown sequence z", id="unknown-base"),
    pytest.param(dict(rule=b[t], operands=(x,)), "declare operands", id="undeclared-operand"),
    pytest.param(dict(rule=x[t], alphabet=1), "alphabet must be an integer >= 2", id="alphabet-1"),
    pytest.param(dict(rule=x[t], alphabet=0), "alphabet must be an integer >= 2", id="alphabet-0"),
    pytest.param(dict(rule=x[t], name="has space"), "name must be", id="bad-name"),
    pytest.param(dict(rule=5), "must be a sympy expression", id="rule-not-sympy"),
]


@pytest.mark.parametrize("overrides, phrase", MALFORMED)
def test_malformed_definitions_are_rejected_with_a_reason(overrides, phrase):
    with pytest.raises(TaskDefinitionError, match=phrase) as info:
        make(**overrides)
    assert "task " in str(info.value)  # the message names the task


def test_output_above_alphabet_is_accepted_when_output_alphabet_is_declared():
    task = make(x[t] + 5, output_alphabet=15)
    inputs = task.sample(np.random.default_rng(0), 4, 6)
    np.testing.assert_array_equal(task.solve(inputs).outputs, inputs["x"] + 5)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(dict(rule=sp.Mod(a[t] + b[t], 10), operands=(a, b)), id="two-operands"),
        pytest.param(dict(rule=sp.Mod(x[t] + sp.Max(y[t - 1], 0), 10)), id="prefix-sum"),
        pytest.param(dict(rule=FirstWhere(j, x[j], x[j] > 5, 0)), id="first-where"),
    ],
)
def test_wellformed_definitions_are_accepted(overrides):
    task = make(**overrides)
    inputs = task.sample(np.random.default_rng(1), 4, 7)
    assert task.solve(inputs).outputs.shape == (4, 7)


def test_output_length_other_than_n():
    task = make(x[sp.Mod(t, n)], output_length=2 * n)  # copy twice
    assert task.r(5) == 10
    inputs = task.sample(np.random.default_rng(2), 3, 5)
    np.testing.assert_array_equal(task.solve(inputs).outputs, np.concatenate([inputs["x"], inputs["x"]], axis=1))


def test_two_operand_solve_matches_hand_computation():
    task = make(sp.Mod(a[t] + 3 * b[n - 1 - t], 10), operands=(a, b))
    inputs = task.sample(np.random.default_rng(3), 5, 9)
    sol = task.solve(inputs)
    expected = (inputs["a"] + 3 * inputs["b"][:, ::-1]) % 10
    np.testing.assert_array_equal(sol.outputs, expected)
    # support of y[t]: a[t] at instance index t and b[n-1-t] at n + (n-1-t)
    for tv in range(9):
        assert set(np.flatnonzero(sol.support[0, tv]).tolist()) == {tv, 9 + 9 - 1 - tv}


def test_solve_support_layout_independent_of_input_dict_order():
    task = make(b[t], operands=(a, b))
    inputs = task.sample(np.random.default_rng(0), 3, 4)
    in_order = task.solve(inputs)
    swapped = task.solve({"b": inputs["b"], "a": inputs["a"]})
    np.testing.assert_array_equal(in_order.outputs, swapped.outputs)
    np.testing.assert_array_equal(in_order.support, swapped.support)
