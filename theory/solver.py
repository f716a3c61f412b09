"""Evaluate a task rule: a vectorized numpy solver with provenance, and a scalar interpreter.

Two independent evaluators of the same sympy rule, so each checks the other:

* ``solve`` runs a whole batch at once.  The rule is compiled once into a tree of numpy
  closures (positional index expressions that read no data are ``sympy.lambdify``-ed), and
  every value carries its *provenance*: a boolean mask over the instance's positions that says
  which tokens determined it.  The mask of output ``t`` is its support set S_t.
* ``evaluate_partial`` evaluates one output of one instance in plain Python over a *partial*
  view of the instance (a dict position -> token).  Reading a position that is not in the view
  raises ``MissingRead``; content operators range over the input positions the view has.  This
  is how a restricted instance is re-solved from the definition alone.

Instance positions ("instance indices") are laid out as the operands in order, ``n`` each, then
the ``r(n)`` outputs; ``theory.serialize`` maps them to token-sequence positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from .language import ContentOperator, j, n, t, y


class MissingRead(KeyError):
    """A partial instance lacks a position the rule reads.

    ``candidate`` is true when the read depends on a content operator's bound index: then the
    missing position is merely a candidate the sub-instance does not offer, not an error.
    """

    def __init__(self, key: int, candidate: bool):
        super().__init__(key)
        self.key = key
        self.candidate = candidate


class RuleEvaluationError(ValueError):
    """The rule did something impossible on concrete data (e.g. an index out of range)."""


@dataclass
class Val:
    """A value and its provenance.

    ``value`` has shape ``()`` (constants, t, n), ``(B, 1)`` (one value per instance) or,
    inside a content operator, ``(B|1, n)`` (one value per candidate ``j``).
    ``support`` is ``None`` (reads nothing) or a bool array of shape ``value.shape + (U,)``
    (broadcastable), marking the instance positions the value was derived from.
    """

    value: np.ndarray
    support: np.ndarray | None


def _union(*supports: np.ndarray | None) -> np.ndarray | None:
    present = [s for s in supports if s is not None]
    if not present:
        return None
    out = present[0]
    for s in present[1:]:
        out = np.logical_or(out, s)
    return out


@dataclass
class _Env:
    operands: dict[str, np.ndarray]  # name -> (B, n) int64
    offsets: dict[str, int]  # name -> first instance index of that operand
    outputs: np.ndarray  # (B, r) int64, filled for indices < t
    out_offset: int
    t: int
    n: int
    U: int
    initial: int


Compiled = Callable[[_Env], Val]


def _onehot(index: np.ndarray, U: int) -> np.ndarray:
    """Bool mask of shape index.shape + (U,) with True at each index."""
    return np.arange(U) == np.asarray(index)[..., None]


def _compile_index_function(expr: sp.Expr) -> Callable[[int, int, np.ndarray], np.ndarray]:
    """Lambdify a data-free index expression in (t, n, j)."""
    fn = sp.lambdify((t, n, j), expr, modules="numpy")
    return lambda tv, nv, jv: np.asarray(fn(tv, nv, jv), dtype=np.int64)


def _reads_data(expr: sp.Basic) -> bool:
    return bool(expr.atoms(sp.Indexed)) or any(isinstance(e, ContentOperator) for e in sp.preorder_traversal(expr))


def compile_rule(expr: sp.Basic) -> Compiled:
    """Compile a rule into a function of the batch environment (done once per task)."""
    if isinstance(expr, (bool, sp.logic.boolalg.BooleanAtom)):
        v = bool(expr)
        return lambda env: Val(np.asarray(v), None)
    if expr.is_Number:
        v = int(expr)
        return lambda env: Val(np.asarray(v, dtype=np.int64), None)
    if expr == t:
        return lambda env: Val(np.asarray(env.t, dtype=np.int64), None)
    if expr == n:
        return lambda env: Val(np.asarray(env.n, dtype=np.int64), None)
    if expr == j:
        return lambda env: Val(np.arange(env.n, dtype=np.int64)[None, :], None)
    if isinstance(expr, sp.Indexed):
        return _compile_indexed(expr)
    if isinstance(expr, ContentOperator):
        return _compile_content(expr)
    if isinstance(expr, sp.Piecewise):
        branches = [(compile_rule(e), compile_rule(c)) for e, c in expr.args]

        def piecewise(env: _Env) -> Val:
            vals = [(e(env), c(env)) for e, c in branches]
            conds = [np.asarray(c.value, dtype=bool) for _, c in vals]
            choices = [e.value for e, _ in vals]
            shape = np.broadcast_shapes(*[np.shape(c) for c in conds], *[np.shape(v) for v in choices])
            out = np.select([np.broadcast_to(c, shape) for c in conds], [np.broadcast_to(v, shape) for v in choices])
            # conservative provenance: every condition and branch that was evaluated
            return Val(out, _union(*[e.support for e, _ in vals], *[c.support for _, c in vals]))

        return piecewise
    op = _NUMPY_OPS.get(type(expr))
    if op is None:
        raise RuleEvaluationError(f"the language has no evaluator for {type(expr).__name__} in `{expr}`")
    parts = [compile_rule(arg) for arg in expr.args]

    def apply(env: _Env) -> Val:
        vals = [p(env) for p in parts]
        out = vals[0].value
        for v in vals[1:]:
            out = op(out, v.value)
        if len(vals) == 1:
            out = op(out)
        return Val(np.asarray(out), _union(*[v.support for v in vals]))

    return apply


_NUMPY_OPS: dict[type, Callable] = {
    sp.Add: np.add,
    sp.Mul: np.multiply,
    sp.Mod: np.mod,
    sp.Min: np.minimum,
    sp.Max: np.maximum,
    sp.StrictGreaterThan: np.greater,
    sp.GreaterThan: np.greater_equal,
    sp.StrictLessThan: np.less,
    sp.LessThan: np.less_equal,
    sp.Equality: np.equal,
    sp.Unequality: np.not_equal,
    sp.And: np.logical_and,
    sp.Or: np.logical_or,
    sp.Not: np.logical_not,
}


def _compile_indexed(expr: sp.Indexed) -> Compiled:
    name = str(expr.base)
    is_output = name == str(y)  # decided once: sympy's str() is slow in the hot path
    (index_expr,) = expr.indices
    if _reads_data(index_expr):
        index_fn = compile_rule(index_expr)
    else:
        lam = _compile_index_function(index_expr)

        def index_fn(env: _Env) -> Val:
            return Val(lam(env.t, env.n, np.arange(env.n)[None, :]), None)

    def read(env: _Env) -> Val:
        idx = index_fn(env)
        i = np.asarray(idx.value, dtype=np.int64)
        if is_output:
            if np.any(i >= env.t):
                raise RuleEvaluationError(f"`{expr}` reads output y[{int(i.max())}] before it exists (t={env.t})")
            neg = i < 0
            safe = np.where(neg, 0, i)
            B = env.outputs.shape[0]
            if safe.ndim == 0:
                vals = env.outputs[:, [int(safe)]] if env.t > 0 else np.zeros((B, 1), np.int64)
            else:
                vals = np.take_along_axis(env.outputs, np.broadcast_to(safe, (B,) + safe.shape[1:]), axis=1)
            vals = np.where(neg, env.initial, vals)
            sup = np.where(neg[..., None], False, _onehot(env.out_offset + safe, env.U))
            return Val(vals, _union(sup, idx.support))
        arr = env.operands[name]
        if np.any(i < 0) or np.any(i >= env.n):
            raise RuleEvaluationError(f"`{expr}` reads outside the input (index {int(i.min())}..{int(i.max())}, n={env.n})")
        if i.ndim == 0:
            vals = arr[:, [int(i)]]
        elif i.shape[0] == 1 and idx.support is None:
            vals = arr[:, i[0]]  # (B, n) inside a content operator
        else:
            vals = np.take_along_axis(arr, np.broadcast_to(i, (arr.shape[0],) + i.shape[1:]), axis=1)
        return Val(vals, _union(_onehot(env.offsets[name] + i, env.U), idx.support))

    return read


def _compile_content(expr: ContentOperator) -> Compiled:
    value_fn = compile_rule(expr.value)
    where_fn = compile_rule(expr.where)
    pick, default = expr.pick, expr.default

    def select(env: _Env) -> Val:
        B = env.outputs.shape[0]
        v, w = value_fn(env), where_fn(env)
        vals = np.broadcast_to(v.value, (B, env.n))
        ok = np.broadcast_to(np.asarray(w.value, dtype=bool), (B, env.n))
        if pick == "min":
            idx = np.argmin(np.where(ok, vals, np.iinfo(np.int64).max), axis=1)
        elif pick == "max":
            idx = np.argmax(np.where(ok, vals, np.iinfo(np.int64).min), axis=1)
        elif pick == "first":
            idx = np.argmax(ok, axis=1)
        else:  # last
            idx = env.n - 1 - np.argmax(ok[:, ::-1], axis=1)
        rows = np.arange(B)
        found = ok[rows, idx]
        out = np.where(found, vals[rows, idx], default)[:, None]
        sup = _union(v.support, w.support)
        if sup is None:
            return Val(out, None)
        sup = np.broadcast_to(sup, (B, env.n, env.U))
        chosen = sup[rows, idx]
        if not found.all():
            # no position qualified: every candidate was read and rejected, so all of them count
            chosen = np.where(found[:, None], chosen, sup.any(axis=1))
        return Val(out, chosen[:, None, :])

    return select


@dataclass
class Solution:
    """Outputs of a batch and the support mask of every output."""

    outputs: np.ndarray  # (B, r) int64
    support: np.ndarray  # (B, r, U) bool: support[b, t, u] iff instance index u is in S_t


def solve(rule: Compiled, operands: dict[str, np.ndarray], order: tuple[str, ...], n_value: int, r: int,
          initial: int) -> Solution:
    """Solve a batch of instances of one length: outputs and their support sets.

    ``order`` is the task's operand order, which fixes the instance-index layout (never the
    order of the ``operands`` dict).
    """
    missing = set(order) - set(operands)
    if missing:
        raise RuleEvaluationError(f"inputs lack operand(s) {sorted(missing)}")
    names = list(order)
    B = operands[names[0]].shape[0]
    offsets = {name: k * n_value for k, name in enumerate(names)}
    out_offset = len(names) * n_value
    U = out_offset + r
    outputs = np.zeros((B, r), dtype=np.int64)
    support = np.zeros((B, r, U), dtype=bool)
    env = _Env(operands, offsets, outputs, out_offset, 0, n_value, U, initial)
    for tv in range(r):
        env.t = tv
        val = rule(env)
        outputs[:, tv] = np.broadcast_to(val.value, (B, 1))[:, 0]
        if val.support is not None:
            support[:, tv] = np.broadcast_to(val.support, (B, 1, U))[:, 0]
    return Solution(outputs, support)


# ----------------------------------------------------------------------------- scalar oracle


def evaluate_partial(
    expr: sp.Basic,
    view: dict[int, int],
    offsets: dict[str, int],
    out_offset: int,
    t_value: int,
    n_value: int,
    initial: int,
    j_value: int | None = None,
) -> int:
    """Evaluate ``expr`` for output ``t`` over a partial instance ``view`` (index -> token).

    Content operators range over the input positions present in ``view``; any other read of a
    position missing from ``view`` raises ``MissingRead``.
    """

    def ev(e: sp.Basic, jv: int | None):
        if isinstance(e, (bool, sp.logic.boolalg.BooleanAtom)):
            return bool(e)
        if e.is_Number:
            return int(e)
        if e == t:
            return t_value
        if e == n:
            return n_value
        if e == j:
            if jv is None:
                raise RuleEvaluationError("j used outside a content operator")
            return jv
        if isinstance(e, sp.Indexed):
            i = int(ev(e.indices[0], jv))
            if str(e.base) == str(y):
                if i < 0:
                    return initial
                key = out_offset + i
            else:
                if not 0 <= i < n_value:
                    raise RuleEvaluationError(f"`{e}` reads outside the input (index {i}, n={n_value})")
                key = offsets[str(e.base)] + i
            if key not in view:
                raise MissingRead(key, candidate=j in e.indices[0].free_symbols)
            return view[key]
        if isinstance(e, ContentOperator):
            best = None
            for jj in range(n_value):
                try:
                    if not ev(e.where, jj):
                        continue
                    v = ev(e.value, jj)
                except MissingRead as missing:
                    if missing.candidate:
                        continue  # that candidate is not in the sub-instance
                    raise
                if best is None:
                    best = (jj, v)
                elif e.pick == "min" and v < best[1] or e.pick == "max" and v > best[1] or e.pick == "last":
                    best = (jj, v)
            return e.default if best is None else best[1]
        if isinstance(e, sp.Piecewise):
            for val, cond in e.args:
                if ev(cond, jv):
                    return ev(val, jv)
            raise RuleEvaluationError(f"no branch of `{e}` applies")
        op = _NUMPY_OPS.get(type(e))
        if op is None:
            raise RuleEvaluationError(f"the language has no evaluator for {type(e).__name__}")
        vals = [ev(arg, jv) for arg in e.args]
        if len(vals) == 1:
            return op(vals[0]).item()
        out = vals[0]
        for v in vals[1:]:
            out = op(out, v)
        return out.item() if hasattr(out, "item") else out

    return int(ev(expr, j_value))
