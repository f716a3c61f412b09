"""The symbolic task language: the vocabulary a task definition is written in.

A task is written close to how a paper writes it:

    y[t] = x[n - 1 - t]                                   # reverse
    y[t] = MinOver(j, x[j], x[j] > y[t - 1])             # sort (distinct tokens)

``t`` is the output index, ``n`` the documented length parameter, ``j`` the bound index of a
content operator.  Inputs are sympy ``IndexedBase`` objects (``x``, or ``a`` and ``b``), the
output is ``y``.  Positional access is an index expression; content-based access is one of the
operators below, each of which declares what it depends on (its bound index, the value it
returns and the predicate it selects with), so that support sets can be found by provenance.

This module only *names* things; evaluation lives in ``theory.solver`` and validation in
``theory.task``.
"""

from __future__ import annotations

import sympy as sp

# The symbols every rule may use.  They are integers so sympy simplifies index arithmetic.
t = sp.Symbol("t", integer=True)  # output index, 0 <= t < r(n)
n = sp.Symbol("n", integer=True, positive=True)  # the task's length parameter
j = sp.Symbol("j", integer=True)  # index bound by a content operator, 0 <= j < n

x = sp.IndexedBase("x")  # the (first) input operand
a = sp.IndexedBase("a")  # first operand of two-operand tasks
b = sp.IndexedBase("b")  # second operand of two-operand tasks
y = sp.IndexedBase("y")  # the output sequence; y[s] with s < t reads an earlier output

RULE_SYMBOLS = {"t": t, "n": n, "j": j}


class ContentOperator(sp.Function):
    """Selects one position ``j`` in ``0..n-1`` by content and returns ``value`` there.

    Arguments: ``(j, value, where, default)``.  ``where`` is a predicate in ``j``;
    ``default`` is returned when no position satisfies it.  Subclasses say which of the
    satisfying positions is chosen.  The operator's provenance is the chosen position's
    ``value`` and ``where`` reads: any sub-instance that keeps them (and any subset of the
    rest) selects the same position, which is what restriction tasks rely on.
    """

    nargs = (3, 4)
    #: how the chosen position is found among those satisfying ``where``
    pick: str = ""

    @classmethod
    def eval(cls, *args):  # never auto-evaluate: the operator is data-dependent
        return None

    @property
    def bound(self) -> sp.Symbol:
        return self.args[0]

    @property
    def value(self) -> sp.Expr:
        return self.args[1]

    @property
    def where(self) -> sp.Basic:
        return self.args[2]

    @property
    def default(self) -> int:
        return int(self.args[3]) if len(self.args) > 3 else -1


class MinOver(ContentOperator):
    """``min { value(j) : where(j) }`` — e.g. the successor of ``y[t-1]`` among the inputs."""

    pick = "min"


class MaxOver(ContentOperator):
    """``max { value(j) : where(j) }``."""

    pick = "max"


class FirstWhere(ContentOperator):
    """``value(j)`` at the smallest ``j`` with ``where(j)`` (e.g. retrieval after a key)."""

    pick = "first"


class LastWhere(ContentOperator):
    """``value(j)`` at the largest ``j`` with ``where(j)``."""

    pick = "last"


CONTENT_OPERATORS = {c.__name__: c for c in (MinOver, MaxOver, FirstWhere, LastWhere)}

#: every name a task file may use, for error messages and ``eval`` of definitions
LANGUAGE_NAMESPACE = {
    **RULE_SYMBOLS,
    "x": x,
    "a": a,
    "b": b,
    "y": y,
    **CONTENT_OPERATORS,
    "Mod": sp.Mod,
    "Piecewise": sp.Piecewise,
    "Eq": sp.Eq,
    "Ne": sp.Ne,
    "And": sp.And,
    "Or": sp.Or,
    "Not": sp.Not,
    "Min": sp.Min,
    "Max": sp.Max,
}
