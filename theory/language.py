"""The symbolic task language: the vocabulary a task definition is written in.

A task is written close to how a paper writes it:

    y[t] = x[n - 1 - t]                                        # reverse
    y[t] = MinOver(j, x[j], x[j] > y[t - 1])                  # sort (distinct tokens)
    y[t] = Mod(a[t] + b[t] + carry[t], 10)                     # reverse addition, with
    carry[t] = Piecewise((0, Eq(t, 0)),                        #   a named intermediate
                         (Piecewise((1, a[t-1] + b[t-1] + carry[t-1] >= 10), (0, True)), True))

``t`` is the output index, ``n`` the documented length parameter, ``j`` the bound index of a
content operator.  Inputs are sympy ``IndexedBase`` objects (``x``, or ``a`` and ``b``), the
output is ``y``; named intermediates are ``Intermediate("carry")`` sequences of the same length
as the output, each with its own rule.

Positional access is an index expression.  Content-based access and aggregation are the
operators below; each declares its dependencies (bound index, value, predicate, range), so that
support sets are found by provenance.  Their ``size`` (default ``n``) is the range of ``j``
(``0 <= j < size``) and may depend on ``t`` and ``n`` (``CountWhere(j, Eq(y[j], 3), t)`` counts
earlier outputs).  A candidate ``j`` whose reads fall outside their sequence is simply not a
candidate (``x[j + 1]`` skips the last ``j``).

This module only *names* things; evaluation lives in ``theory.solver``, validation in
``theory.task``.
"""

from __future__ import annotations

import sympy as sp
from sympy import Eq, Mod, Ne, Piecewise  # noqa: F401  (re-exported for task files)
from sympy import And, Not, Or  # noqa: F401

# The symbols every rule may use.  They are integers so sympy simplifies index arithmetic.
t = sp.Symbol("t", integer=True)  # output index, 0 <= t < r(n)
n = sp.Symbol("n", integer=True, positive=True)  # the task's length parameter
j = sp.Symbol("j", integer=True)  # index bound by a content operator

x = sp.IndexedBase("x")  # the (first) input operand
a = sp.IndexedBase("a")  # first operand of two-operand tasks
b = sp.IndexedBase("b")  # second operand of two-operand tasks
q = sp.IndexedBase("q")  # a query operand (retrieval tasks)
y = sp.IndexedBase("y")  # the output sequence; y[s] with s < t reads an earlier output

RULE_SYMBOLS = {"t": t, "n": n, "j": j}
INPUT_NAMES = ("x", "a", "b", "q")


def Intermediate(name: str) -> sp.IndexedBase:
    """A named intermediate sequence (``carry = Intermediate("carry")``), defined by its own rule."""
    return sp.IndexedBase(name)


class ContentOperator(sp.Function):
    """Base of the operators that choose or aggregate positions by content.

    Subclasses fix the argument layout; every one exposes ``bound``, ``value``, ``where``,
    ``default`` and ``size`` so evaluators treat them uniformly.
    """

    #: "min" | "max" | "first" | "last" | "count" | "sum"
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

    @property
    def size(self) -> sp.Expr:
        return self.args[4] if len(self.args) > 4 else n


class _Select(ContentOperator):
    """Arguments ``(j, value, where[, default[, size]])``: ``value`` at the chosen ``j``.

    Provenance: the chosen position's ``value`` and ``where`` reads.  Any sub-instance that keeps
    them (and any subset of the other candidates) chooses the same position.
    """

    nargs = (3, 4, 5)


class MinOver(_Select):
    """``min { value(j) : where(j) }`` — e.g. the successor of ``y[t-1]`` among the inputs."""

    pick = "min"


class MaxOver(_Select):
    """``max { value(j) : where(j) }``."""

    pick = "max"


class FirstWhere(_Select):
    """``value(j)`` at the smallest ``j`` with ``where(j)`` (e.g. the token after a key)."""

    pick = "first"


class LastWhere(_Select):
    """``value(j)`` at the largest ``j`` with ``where(j)``."""

    pick = "last"


class SumWhere(ContentOperator):
    """``sum { value(j) : where(j) }``; arguments ``(j, value, where[, size])``.

    Provenance: the reads of the candidates that satisfy ``where`` (dropping a non-satisfying
    candidate cannot change the sum).  Wrap it in ``Mod`` for a modular sum.
    """

    nargs = (3, 4)
    pick = "sum"

    @property
    def default(self) -> int:
        return 0

    @property
    def size(self) -> sp.Expr:
        return self.args[3] if len(self.args) > 3 else n


class CountWhere(ContentOperator):
    """``#{ j : where(j) }``; arguments ``(j, where[, size])``.  Provenance as for ``SumWhere``."""

    nargs = (2, 3)
    pick = "count"

    @property
    def value(self) -> sp.Expr:
        return sp.Integer(1)

    @property
    def where(self) -> sp.Basic:
        return self.args[1]

    @property
    def default(self) -> int:
        return 0

    @property
    def size(self) -> sp.Expr:
        return self.args[2] if len(self.args) > 2 else n


class Lookup(sp.Function):
    """An elementwise map by table: ``Lookup((v0, v1, ...), index)`` is ``table[index]``."""

    nargs = 2

    @classmethod
    def eval(cls, table, index):
        if index.is_Integer and isinstance(table, sp.Tuple):
            return table[int(index)]
        return None


CONTENT_OPERATORS = {c.__name__: c for c in (MinOver, MaxOver, FirstWhere, LastWhere, SumWhere, CountWhere)}

#: every name a task file may use, for error messages
LANGUAGE_NAMESPACE = {
    **RULE_SYMBOLS,
    "x": x, "a": a, "b": b, "q": q, "y": y,
    "Intermediate": Intermediate,
    **CONTENT_OPERATORS,
    "Lookup": Lookup,
    "Mod": sp.Mod, "Piecewise": sp.Piecewise, "Eq": sp.Eq, "Ne": sp.Ne,
    "And": sp.And, "Or": sp.Or, "Not": sp.Not, "Min": sp.Min, "Max": sp.Max,
}
