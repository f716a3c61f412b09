"""Arithmetic of the auxiliary-task bound and the certified length N*(delta)."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.bound import AGK_BOUND, BOUND, c_sym, certified_length, eps_sym, error_bound, extrapolation_length, r_sym


@pytest.mark.parametrize(
    "r, eps, c, expected",
    [
        (10, 0.01, 1.0, 0.1),
        (10, 0.01, 0.99, 0.2),
        (20, 0.0, 0.995, 0.1),
        (1, 0.25, 0.5, 0.75),
        (100, 0.5, 1.0, 1.0),  # 50 capped
        (8, 0.1, 0.5, 1.0),  # 0.8 + 4 capped
        (5, 0.0, 1.0, 0.0),
    ],
)
def test_error_bound_values(r, eps, c, expected):
    assert error_bound(r, eps, c) == pytest.approx(expected, abs=1e-12)


def test_error_bound_default_is_perfect_consistency():
    assert error_bound(12, 0.02) == pytest.approx(0.24)
    assert error_bound(12, 0.02) == error_bound(12, 0.02, 1.0)


@settings(max_examples=50, deadline=None)
@given(r=st.integers(1, 200), eps=st.floats(0, 1), c=st.floats(0, 1))
def test_error_bound_is_capped_formula(r, eps, c):
    got = error_bound(r, eps, c)
    assert isinstance(got, float)
    assert got == pytest.approx(min(1.0, r * eps + r * (1 - c)), rel=1e-9, abs=1e-12)
    assert 0.0 <= got <= 1.0


def test_bound_expression_substitutes():
    value = BOUND.subs({r_sym: 10, eps_sym: sp.Rational(1, 100), c_sym: sp.Rational(99, 100)})
    assert value == sp.Rational(1, 5)
    assert BOUND.subs(c_sym, 1) == r_sym * eps_sym
    assert AGK_BOUND.statement == BOUND
    assert BOUND.free_symbols == {r_sym, eps_sym, c_sym}


def test_certified_length_requires_contiguity():
    lengths = [8, 16, 32, 64]
    # 32 fails; 64 passes again but must not count
    assert certified_length(lengths, [0.01, 0.02, 0.5, 0.03], delta=0.05) == 16
    assert certified_length(lengths, [0.01, 0.02, 0.03, 0.04], delta=0.05) == 64
    assert certified_length(lengths, [0.5, 0.01, 0.01, 0.01], delta=0.05) is None
    assert certified_length([], [], delta=0.05) is None


def test_certified_length_boundary_and_order():
    # a bound exactly at delta certifies
    assert certified_length([4, 8], [0.1, 0.1], delta=0.1) == 8
    # lengths are taken in increasing order whatever order they come in
    assert certified_length([32, 8, 16], [0.01, 0.01, 0.9], delta=0.1) == 8
    assert certified_length([64, 16, 32], [0.01, 0.01, 0.01], delta=0.1) == 64


def test_extrapolation_length_is_the_same_rule_on_errors():
    assert extrapolation_length([10, 20, 30], [0.0, 0.2, 0.0], delta=0.1) == 10


@settings(max_examples=50, deadline=None)
@given(data=st.lists(st.tuples(st.integers(1, 1000), st.floats(0, 1)), min_size=0, max_size=12,
                     unique_by=lambda p: p[0]),
       delta=st.floats(0, 1))
def test_certified_length_definition(data, delta):
    lengths = [N for N, _ in data]
    bounds = [bd for _, bd in data]
    got = certified_length(lengths, bounds, delta)
    ordered = sorted(data)
    passing_prefix = []
    for N, bd in ordered:
        if bd > delta:
            break
        passing_prefix.append(N)
    if got is None:
        assert not ordered or ordered[0][1] > delta
    else:
        # every evaluated length up to N* passes, and the next one (if any) fails
        assert got == passing_prefix[-1]
        assert all(bd <= delta for N, bd in ordered if N <= got)
        later = [bd for N, bd in ordered if N > got]
        assert not later or later[0] > delta


def test_certified_length_nan_does_not_certify():
    assert certified_length([8, 16], [0.01, math.nan], delta=0.05) == 8
