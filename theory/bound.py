"""The auxiliary-task length-generalization bound, as formalised here (docs/theory.md §5).

Statement (after Awasthi, Gupta & Kumar, NeurIPS 2025; the paper's exact theorem is not
reproduced, see docs/theory.md §8.1): for a model M and length N with r(N) output positions,

    P[M errs on a length-N instance] <= r(N)·ε(N) + r(N)·(1 − c(N))

where ε(N) is M's per-position error on the restriction task at (m, N) and c(N) its
restriction consistency.  It is a union bound over output positions: an error at p means
either M is wrong on the restriction R(z, p, m) or M's answers on z and R(z, p, m) differ.
Under the theorem's assumption (restriction consistency, c = 1) only r(N)·ε(N) remains.

Everything here is arithmetic on measured numbers; ``verify`` supplies the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import math

import sympy as sp

r_sym, eps_sym, c_sym = sp.symbols("r epsilon c", nonnegative=True)

#: the bound as a sympy expression (the consistency term vanishes when c = 1)
BOUND = r_sym * eps_sym + r_sym * (1 - c_sym)
_bound_fn = sp.lambdify((r_sym, eps_sym, c_sym), BOUND)


@dataclass(frozen=True)
class Theorem:
    name: str
    statement: sp.Expr
    source: str
    assumptions: tuple[str, ...]
    note: str


AGK_BOUND = Theorem(
    name="agk-bound",
    statement=BOUND,
    source="Awasthi, Gupta & Kumar, Length Generalization via Auxiliary Tasks (NeurIPS 2025), as formalised here",
    assumptions=("restriction consistency: M predicts the same token at p on z and on R(z, p, m); measured as c(N)",),
    note="union bound over the r(N) output positions; linear in N",
)


def error_bound(r: int, eps: float, consistency: float = 1.0) -> float:
    """r·ε + r·(1 − c), capped at 1 (a probability); NaN when ε or c was not measured."""
    value = float(_bound_fn(r, eps, consistency))
    return value if math.isnan(value) else min(1.0, value)


def certified_length(lengths: Sequence[int], bounds: Sequence[float], delta: float) -> int | None:
    """N*(δ): the largest N such that the bound is <= δ at N and at every evaluated length below it.

    Contiguity is required so that a lucky long length cannot certify past a failing shorter one.
    Returns None when even the shortest length is not certified.
    """
    best = None
    for N, bound in sorted(zip(lengths, bounds)):
        if not bound <= delta:  # a NaN (undefined measurement) certifies nothing
            break
        best = N
    return best


def extrapolation_length(lengths: Sequence[int], errors: Sequence[float], delta: float) -> int | None:
    """The measured counterpart of N*(δ): largest N with error <= δ at N and at every length below."""
    return certified_length(lengths, errors, delta)
