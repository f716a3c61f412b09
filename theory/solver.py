"""Evaluate a task rule: a vectorized numpy solver with provenance, and a scalar interpreter.

Two independent evaluators of the same sympy rules, so each checks the other:

* ``solve`` runs a whole batch at once.  Each rule is compiled once into a tree of numpy
  closures (index expressions and conditions that read no data are ``sympy.lambdify``-ed), and
  every value carries its *provenance*: a boolean mask over the instance's positions that says
  which tokens determined it.  The mask of output ``t`` is its support set S_t.  The batch is
  solved one output index t at a time, so the per-t Python overhead is what a solve costs at
  training sizes: subexpressions that read only the inputs (sort's ``x[j]``) are evaluated once per
  solve, position expressions once per (t, n), and in-range reads at one position are views.
* ``evaluate_partial`` evaluates one output of one instance in plain Python over a *partial*
  view of the instance (a dict position -> token).  Reading a position that is not in the view
  raises ``MissingRead``; content operators range over the candidates the view has.  This is how
  a restricted instance is re-solved from the definition alone.

Instance positions ("instance indices") are laid out as the operands in the task's order, then
the ``r(n)`` outputs; ``theory.serialize`` maps them to token-sequence positions.  Intermediates
are not tokens: a read of ``carry[s]`` contributes ``carry[s]``'s own provenance.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

from .language import ContentOperator, Lookup, j, n, t, y


class MissingRead(KeyError):
    """A partial instance lacks a position the rule reads.

    ``candidate`` is true when the read depends on a content operator's bound index: then the
    missing position is merely a candidate the sub-instance does not offer, not an error.
    """

    def __init__(self, key: int, candidate: bool):
        super().__init__(key)
        self.key = key
        self.candidate = candidate


class UnresolvedView(MissingRead):
    """A partial view does not determine what was asked, for a reason wider than one missing position
    (the message says which); re-solvers treat it like ``MissingRead``."""

    def __init__(self, why: str):
        super().__init__(-1, candidate=False)
        self.why = why

    def __str__(self) -> str:
        return self.why


class RuleEvaluationError(ValueError):
    """The rule did something impossible on concrete data (e.g. an index out of range)."""


class _CandidateOutOfRange(Exception):
    """A content operator's candidate reads outside its sequence: not a candidate."""


@dataclass(frozen=True)
class Layout:
    """Where each sequence lives and how long it is, for one length n."""

    n: int
    r: int
    operand_sizes: dict[str, int]
    offsets: dict[str, int]  # first instance index of each operand
    out_offset: int

    @property
    def U(self) -> int:
        return self.out_offset + self.r


def make_layout(order: tuple[str, ...], sizes: tuple[int, ...], n_value: int, r: int) -> Layout:
    offsets, start = {}, 0
    for name, size in zip(order, sizes):
        offsets[name] = start
        start += size
    return Layout(n_value, r, dict(zip(order, sizes)), offsets, start)


@dataclass
class Val:
    """A value, its provenance and the validity of each candidate.

    ``value`` has shape ``()`` (constants, t, n), ``(B, 1)`` (one value per instance) or, inside a
    content operator, ``(B|1, size)`` (one value per candidate ``j``).  ``support`` is ``None``
    (reads nothing) or a bool array of shape ``value.shape + (U,)`` (broadcastable).  ``valid`` is
    ``None`` (all valid) or a bool array: false where a candidate read outside its sequence.
    """

    value: np.ndarray
    support: np.ndarray | None = None
    valid: np.ndarray | None = None


def _union(*supports: np.ndarray | None) -> np.ndarray | None:
    present = [s for s in supports if s is not None]
    if not present:
        return None
    out = present[0]
    for s in present[1:]:
        out = np.logical_or(out, s)
    return out


def _both(*valids: np.ndarray | None) -> np.ndarray | None:
    present = [v for v in valids if v is not None]
    if not present:
        return None
    out = present[0]
    for v in present[1:]:
        out = np.logical_and(out, v)
    return out


@dataclass
class _Env:
    operands: dict[str, np.ndarray]  # name -> (B, size) int64
    layout: Layout
    outputs: np.ndarray  # (B, r) int64, filled for indices < t
    inter: dict[str, np.ndarray]  # intermediate name -> (B, r) int64
    inter_support: dict[str, np.ndarray]  # name -> (B, r, U) bool
    inter_done: dict[str, int]  # name -> number of indices computed so far
    initials: dict[str, int]  # sequence name -> value read at a negative index
    t: int = 0
    j_size: int = 0  # range of the bound index while inside a content operator
    in_content: bool = False
    track: bool = True  # compute provenance; training batches of a primary task do not need it
    # values of subexpressions that read only the inputs (no t, y or intermediate): the same at
    # every t, so computed once per solve (``Compiler._cached``); key (node, j_size, in_content)
    invariant: dict[tuple[int, int, bool], Val] = field(default_factory=dict)


Compiled = Callable[[_Env], Val]


def _onehot(index: np.ndarray, U: int) -> np.ndarray:
    """Bool mask of shape index.shape + (U,) with True at each index."""
    return np.arange(U) == np.asarray(index)[..., None]


@functools.lru_cache(maxsize=64)
def _onehot_rows(U: int) -> np.ndarray:
    """Row k is ``_onehot(k, U)``; read-only, so a row can be handed out as a support without a copy."""
    rows = np.eye(U, dtype=bool)
    rows.flags.writeable = False
    return rows


_INT64_MAX, _INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _is_data_free(expr: sp.Basic) -> bool:
    return not expr.atoms(sp.Indexed) and not any(isinstance(e, ContentOperator) for e in sp.preorder_traversal(expr))


def _lambdify(expr: sp.Basic) -> Callable:
    """``expr`` (reads no data) as a function of (t, n, j) returning a 0-d array.

    Every caller passes j = 0 (j is bound only inside content operators, and these expressions
    lack it), so values are memoized by (t, n): a lambdified call costs a few microseconds at
    every t of every solve.  The memoized arrays are read-only, since they are shared."""
    fn = sp.lambdify((t, n, j), expr, modules="numpy")

    @functools.lru_cache(maxsize=4096)
    def at(tv: int, nv: int, jv: int) -> np.ndarray:
        value = np.asarray(fn(tv, nv, jv))
        value.flags.writeable = False
        return value

    return at


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


class Compiler:
    """Compiles rules for one task; knows which names are inputs, intermediates and the output."""

    def __init__(self, inputs: tuple[str, ...], intermediates: tuple[str, ...]):
        self.inputs = set(inputs)
        self.intermediates = set(intermediates)
        self._node_ids = itertools.count()

    def compile(self, expr: sp.Basic) -> Compiled:
        fn = self._compile(expr)
        return self._cached(fn) if self._reads_inputs_only(expr) else fn

    def _reads_inputs_only(self, expr: sp.Basic) -> bool:
        """True if ``expr`` reads data, but only inputs, and not at t: its value is then the same
        at every output index of a solve (e.g. sort's ``x[j]``, read twice at every t)."""
        if t in expr.free_symbols:
            return False
        reads = expr.atoms(sp.Indexed)
        return bool(reads) and all(str(r.base) in self.inputs for r in reads)

    def _cached(self, fn: Compiled) -> Compiled:
        """``fn`` computed once per solve for each (range of j, inside a content operator or not).

        Safe because the solver never writes into a ``Val``'s arrays: every operation makes new
        ones, and the operands do not change during a solve."""
        node = next(self._node_ids)

        def cached(env: _Env) -> Val:
            key = (node, env.j_size, env.in_content)
            val = env.invariant.get(key)
            if val is None:
                val = env.invariant[key] = fn(env)
            return val

        return cached

    def _compile(self, expr: sp.Basic) -> Compiled:
        if isinstance(expr, (bool, sp.logic.boolalg.BooleanAtom)):
            v = bool(expr)
            return lambda env: Val(np.asarray(v))
        if expr.is_Number:
            v = int(expr)
            return lambda env: Val(np.asarray(v, dtype=np.int64))
        if expr == j:
            return lambda env: Val(np.arange(env.j_size, dtype=np.int64)[None, :])
        if _is_data_free(expr) and j not in expr.free_symbols:
            lam = _lambdify(expr)
            return lambda env: Val(lam(env.t, env.layout.n, 0))
        if isinstance(expr, sp.Indexed):
            return self._indexed(expr)
        if isinstance(expr, ContentOperator):
            return self._content(expr)
        if isinstance(expr, sp.Piecewise):
            return self._piecewise(expr)
        if isinstance(expr, Lookup):
            table = np.asarray([int(v) for v in expr.args[0]], dtype=np.int64)
            index = self.compile(expr.args[1])

            def lookup(env: _Env) -> Val:
                i = index(env)
                if np.any((i.value < 0) | (i.value >= len(table))):
                    raise RuleEvaluationError(f"`{expr}` looks up outside its table of {len(table)} entries")
                return Val(table[i.value], i.support, i.valid)

            return lookup
        op = _NUMPY_OPS.get(type(expr))
        if op is None:
            raise RuleEvaluationError(f"the language has no evaluator for {type(expr).__name__} in `{expr}`")
        parts = [self.compile(arg) for arg in expr.args]
        if len(parts) == 2:  # most operators: the same as ``apply`` without its lists, at every t
            left, right = parts

            def apply2(env: _Env) -> Val:
                a, b = left(env), right(env)
                support = a.support if b.support is None else b.support if a.support is None else (
                    np.logical_or(a.support, b.support))
                valid = a.valid if b.valid is None else b.valid if a.valid is None else np.logical_and(a.valid, b.valid)
                return Val(np.asarray(op(a.value, b.value)), support, valid)

            return apply2

        def apply(env: _Env) -> Val:
            vals = [p(env) for p in parts]
            out = vals[0].value
            for v in vals[1:]:
                out = op(out, v.value)
            if len(vals) == 1:
                out = op(out)
            return Val(np.asarray(out), _union(*[v.support for v in vals]), _both(*[v.valid for v in vals]))

        return apply

    def _piecewise(self, expr: sp.Piecewise) -> Compiled:
        branches = [(self.compile(e), c) for e, c in expr.args]
        if all(_is_data_free(c) and j not in c.free_symbols for _, c in expr.args):
            # position-only conditions: pick the branch first, evaluate only that branch, so a
            # guarded branch (e.g. a[t] when t < n) is never read where its guard is false
            conds = [_lambdify(c) for _, c in expr.args]

            def lazy(env: _Env) -> Val:
                for (branch, _), cond in zip(branches, conds):
                    if bool(cond(env.t, env.layout.n, 0)):
                        return branch(env)
                raise RuleEvaluationError(f"no branch of `{expr}` applies at t={env.t}, n={env.layout.n}")

            return lazy
        compiled_conds = [self.compile(c) for _, c in expr.args]

        def eager(env: _Env) -> Val:
            vals = [(e(env), c(env)) for (e, _), c in zip(branches, compiled_conds)]
            # the first true condition wins (as np.select), folded from the last branch with
            # np.where, which broadcasts without the copies np.select needs
            out = np.asarray(0, dtype=np.int64)
            for e, c in reversed(vals):
                out = np.where(np.asarray(c.value, dtype=bool), e.value, out)
            # conservative provenance: every condition and branch that was evaluated
            support = _union(*[e.support for e, _ in vals], *[c.support for _, c in vals])
            return Val(out, support, _both(*[e.valid for e, _ in vals], *[c.valid for _, c in vals]))

        return eager

    def _indexed(self, expr: sp.Indexed) -> Compiled:
        name = str(expr.base)  # decided once: sympy's str() is slow in the hot path
        kind = "output" if name == str(y) else "intermediate" if name in self.intermediates else "input"
        (index_expr,) = expr.indices
        index_fn = self.compile(index_expr)

        def _read_scalar(env: _Env, iv: int) -> Val | None:
            """The common case without provenance: one in-range position for every instance,
            read as a slice (a view) with plain-Python checks; None defers to the general path."""
            if kind == "input":
                if 0 <= iv < env.layout.operand_sizes[name]:
                    return Val(env.operands[name][:, iv:iv + 1])
                return None  # out of range: the general path raises or marks the candidate invalid
            done = env.t if kind == "output" else env.inter_done[name]
            if iv >= done:
                return None  # the general path raises the causality error
            if iv < 0:
                return Val(np.asarray(env.initials[name], dtype=np.int64))
            store = env.outputs if kind == "output" else env.inter[name]
            return Val(store[:, iv:iv + 1])

        def _read_scalar_tracked(env: _Env, iv: int) -> Val | None:
            """The same common case with provenance, as the general path computes it but from
            views: a row of the cached one-hot table, an intermediate's stored support.  Columns
            below ``done`` are never written again, so the views stay valid.  None defers to the
            general path (out of range, causality errors, negative indices)."""
            layout = env.layout
            if kind == "input":
                if 0 <= iv < layout.operand_sizes[name]:
                    return Val(env.operands[name][:, iv:iv + 1], _onehot_rows(layout.U)[layout.offsets[name] + iv])
                return None
            done = env.t if kind == "output" else env.inter_done[name]
            if not 0 <= iv < done:
                return None
            if kind == "output":
                return Val(env.outputs[:, iv:iv + 1], _onehot_rows(layout.U)[layout.out_offset + iv])
            return Val(env.inter[name][:, iv:iv + 1], env.inter_support[name][:, iv][:, None, :])

        reads_j = index_expr == j  # x[j]: every candidate in order, a slice when in range

        def read(env: _Env) -> Val:
            if reads_j and not env.track:
                limit = env.layout.operand_sizes[name] if kind == "input" else (
                    env.t if kind == "output" else env.inter_done[name])
                if env.j_size <= limit:
                    store = env.operands[name] if kind == "input" else (
                        env.outputs if kind == "output" else env.inter[name])
                    return Val(store[:, :env.j_size])
            idx = index_fn(env)
            if np.ndim(idx.value) == 0 and idx.valid is None:
                if not env.track:
                    fast = _read_scalar(env, int(idx.value))
                elif idx.support is None:  # a data-free index: the read's provenance is the position alone
                    fast = _read_scalar_tracked(env, int(idx.value))
                else:
                    fast = None
                if fast is not None:
                    return fast
            i = np.asarray(idx.value, dtype=np.int64)
            B = env.outputs.shape[0]
            if kind == "input":
                size = env.layout.operand_sizes[name]
                inside = (i >= 0) & (i < size)
                valid = None
                if not inside.all():
                    if not env.in_content:
                        bad = int(i[~inside].flat[0])
                        raise RuleEvaluationError(f"`{expr}` reads outside the input at t={env.t} "
                                                  f"(index {bad}, but {name} has {size} tokens at n={env.layout.n})")
                    valid = inside
                    i = np.where(inside, i, 0)
                arr = env.operands[name]
                if i.ndim == 0:
                    vals = arr[:, [int(i)]]
                elif i.shape[0] == 1:
                    vals = arr[:, i[0]]
                else:
                    vals = np.take_along_axis(arr, np.broadcast_to(i, (B,) + i.shape[1:]), axis=1)
                sup = _onehot(env.layout.offsets[name] + i, env.layout.U) if env.track else None
                return Val(vals, _union(sup, idx.support), _both(valid, idx.valid))
            # earlier outputs and intermediates: negative indices read the declared initial value
            done = env.t if kind == "output" else env.inter_done[name]
            if np.any(i >= done):
                if kind == "output":
                    raise RuleEvaluationError(f"`{expr}` reads output y[{int(i.max())}] before it exists (t={env.t}); "
                                              "a rule may only read earlier outputs y[t - 1], y[t - 2], ...")
                raise RuleEvaluationError(f"intermediate `{name}` is read at index {int(i.max())} before it is computed "
                                          f"(t={env.t}): it depends on itself; a recurrence must read {name}[t - 1]")
            neg = i < 0
            safe = np.where(neg, 0, i)
            store = env.outputs if kind == "output" else env.inter[name]
            if safe.ndim == 0:
                vals = store[:, [int(safe)]] if done > 0 else np.zeros((B, 1), np.int64)
            else:
                vals = np.take_along_axis(store, np.broadcast_to(safe, (B,) + safe.shape[1:]), axis=1)
            vals = np.where(neg, env.initials[name], vals)
            if not env.track:
                sup = None
            elif kind == "output":
                sup = np.where(neg[..., None], False, _onehot(env.layout.out_offset + safe, env.layout.U))
            else:  # transitive provenance through the intermediate
                full = env.inter_support[name]
                if safe.ndim == 0:
                    sup = full[:, int(safe)][:, None, :] if done > 0 else None
                else:
                    sup = np.take_along_axis(full, np.broadcast_to(safe, (B,) + safe.shape[1:])[..., None], axis=1)
                if sup is not None:
                    sup = np.where(neg[..., None], False, sup)
            return Val(vals, _union(sup, idx.support), idx.valid)

        return read

    def _content(self, expr: ContentOperator) -> Compiled:
        value_fn = self.compile(expr.value)
        where_fn = self.compile(expr.where)
        size_fn = _lambdify(expr.size)
        pick, default = expr.pick, expr.default

        def select(env: _Env) -> Val:
            B = env.outputs.shape[0]
            size = int(size_fn(env.t, env.layout.n, 0))
            saved = env.j_size, env.in_content
            env.j_size, env.in_content = size, True
            try:
                v, w = value_fn(env), where_fn(env)
            finally:
                env.j_size, env.in_content = saved
            if size == 0:
                return Val(np.full((B, 1), default, np.int64))
            ok = np.asarray(w.value, dtype=bool)
            valid = _both(v.valid, w.valid)
            if valid is not None:
                ok = ok & valid
            if ok.shape != (B, size):
                ok = np.broadcast_to(ok, (B, size))
            # the support of every candidate, (B|1, size|1, U) or (U,): broadcast only where needed
            sup = _union(v.support, w.support)
            if pick in ("count", "sum"):
                # a count needs no values: summing the predicate saves a broadcast and a copy per t
                out = ok.sum(axis=1, keepdims=True) if pick == "count" else np.where(ok, v.value, 0).sum(axis=1, keepdims=True)
                chosen = None if sup is None else (sup & ok[..., None]).any(axis=1)  # & broadcasts sup to (B, size, U)
                return Val(out.astype(np.int64), None if chosen is None else chosen[:, None, :])
            vals = np.asarray(v.value, dtype=np.int64)
            rows = np.arange(B)
            if pick in ("min", "max"):
                # rejected candidates get the extreme value; at the chosen index the masked array holds
                # the candidate's own value wherever one qualified, so it is read from there
                masked = np.where(ok, vals, _INT64_MAX if pick == "min" else _INT64_MIN)  # (B, size), as ok
                idx = masked.argmin(axis=1) if pick == "min" else masked.argmax(axis=1)
                found = ok[rows, idx]
                picked = masked[rows, idx]
            else:
                idx = ok.argmax(axis=1) if pick == "first" else size - 1 - ok[:, ::-1].argmax(axis=1)
                found = ok[rows, idx]
                picked = np.broadcast_to(vals, (B, size))[rows, idx]
            out = np.where(found, picked, default)[:, None]
            if sup is None:
                return Val(out)
            U = env.layout.U
            if sup.shape == (1, size, U):  # the same candidates' support for every instance (e.g. x[j])
                chosen = sup.reshape(size, U)[idx]
            else:
                chosen = np.broadcast_to(sup, (B, size, U))[rows, idx]
            if not found.all():
                # no position qualified: every candidate was read and rejected, so all of them count
                chosen = np.where(found[:, None], chosen, np.broadcast_to(sup, (B, size, U)).any(axis=1))
            return Val(out, chosen[:, None, :])

        return select


@dataclass
class Solution:
    """Outputs of a batch, the support mask of every output, and the intermediates."""

    outputs: np.ndarray  # (B, r) int64
    support: np.ndarray  # (B, r, U) bool: support[b, t, u] iff instance index u is in S_t
    intermediates: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (B, r)


def solve(rule: Compiled, intermediates: list[tuple[str, Compiled]], operands: dict[str, np.ndarray],
          layout: Layout, initials: dict[str, int], track: bool = True,
          witnesses: dict[str, Callable[[int], np.ndarray]] | None = None) -> Solution:
    """Solve a batch of instances of one length: outputs, their support sets, intermediates.

    With ``track=False`` no provenance is computed (about half the cost for long instances) and
    ``support`` is an all-false array of shape (B, r, 0).  ``witnesses`` maps an intermediate to
    the visible positions (a (U,) mask for each t) that determine it (``theory.witness``): its
    provenance is replaced by them, so supports count what a decoder sees, not hidden state.
    """
    witnesses = witnesses or {}
    missing = set(layout.offsets) - set(operands)
    if missing:
        raise RuleEvaluationError(f"inputs lack operand(s) {sorted(missing)}")
    B = operands[next(iter(layout.offsets))].shape[0]
    r, U = layout.r, layout.U
    outputs = np.zeros((B, r), dtype=np.int64)
    support = np.zeros((B, r, U if track else 0), dtype=bool)
    inter = {name: np.zeros((B, r), np.int64) for name, _ in intermediates}
    inter_sup = {name: np.zeros((B, r, U if track else 0), bool) for name, _ in intermediates}
    env = _Env(operands, layout, outputs, inter, inter_sup, {name: 0 for name in inter}, initials, track=track)
    for tv in range(r):
        env.t = tv
        for name, fn in intermediates:
            val = fn(env)
            # slice assignment broadcasts a (B, 1), (1, 1) or () value as np.broadcast_to would,
            # without its Python-level overhead at every t
            inter[name][:, tv:tv + 1] = val.value
            if track and name in witnesses:
                inter_sup[name][:, tv] = witnesses[name](tv)
            elif val.support is not None:
                inter_sup[name][:, tv:tv + 1] = val.support
            env.inter_done[name] = tv + 1
        val = rule(env)
        outputs[:, tv:tv + 1] = val.value
        if val.support is not None:
            support[:, tv:tv + 1] = val.support
    return Solution(outputs, support, inter)


# ----------------------------------------------------------------------------- scalar oracle


class MissingState(Exception):
    """An intermediate's value before the evaluation's ``start`` is not known (the caller may branch on it)."""

    def __init__(self, name: str, index: int):
        super().__init__(f"{name}[{index}]")
        self.name, self.index = name, index


class Inconsistent(Exception):
    """The assumed values contradict an earlier output present in the view."""


def evaluate_partial(rule: sp.Basic, intermediates: list[tuple[str, sp.Basic]], view: dict[int, int],
                     layout: Layout, t_value: int, initials: dict[str, int], start: int = 0,
                     assumed: dict[tuple[str, int], int] | None = None, checks: tuple[int, ...] = (),
                     state: frozenset[str] = frozenset()) -> int:
    """Evaluate output ``t`` of one instance over a partial ``view`` (instance index -> token).

    Content operators range over the candidates present in ``view``; any other read of a missing
    position raises ``MissingRead``.  Intermediates are computed from their rules over the view
    when read; for the ``state`` intermediates (the recurrent ones) a read below index ``start``
    takes its value from ``assumed`` ((name, index) -> value) or raises ``MissingState``.  Each
    output index in ``checks`` must be in the view and be reproduced by the rule, else
    ``Inconsistent``: this is how ``theory.witness`` eliminates a hidden recurrence through the
    earlier outputs it produced.
    """
    inter_rules = dict(intermediates)
    inter_values: dict[str, dict[int, int]] = {name: {} for name in inter_rules}
    assumed = assumed or {}
    n_value = layout.n

    def intermediate(name: str, i: int) -> int:
        if name in state and i < start:
            if (name, i) not in assumed:
                raise MissingState(name, i)
            return assumed[(name, i)]
        if i not in inter_values[name]:
            inter_values[name][i] = int(ev(inter_rules[name], i, None, False))
        return inter_values[name][i]

    def ev(e: sp.Basic, tv: int, jv: int | None, in_content: bool):
        if isinstance(e, (bool, sp.logic.boolalg.BooleanAtom)):
            return bool(e)
        if e.is_Number:
            return int(e)
        if e == t:
            return tv
        if e == n:
            return n_value
        if e == j:
            if jv is None:
                raise RuleEvaluationError("j used outside a content operator")
            return jv
        if isinstance(e, sp.Indexed):
            name = str(e.base)
            i = int(ev(e.indices[0], tv, jv, in_content))
            if name == str(y) or name in inter_rules:
                if i < 0:
                    return initials[name]
                if name in inter_rules:
                    return intermediate(name, i)
                key = layout.out_offset + i
            else:
                if not 0 <= i < layout.operand_sizes[name]:
                    if in_content:
                        raise _CandidateOutOfRange
                    raise RuleEvaluationError(f"`{e}` reads outside the input (index {i}, n={n_value})")
                key = layout.offsets[name] + i
            if key not in view:
                raise MissingRead(key, candidate=j in e.indices[0].free_symbols)
            return view[key]
        if isinstance(e, ContentOperator):
            size = int(ev(e.size, tv, None, False))
            best, total, found = None, 0, False
            for jj in range(size):
                try:
                    if not ev(e.where, tv, jj, True):
                        continue
                    v = ev(e.value, tv, jj, True)
                except _CandidateOutOfRange:
                    continue
                except MissingRead as missing:
                    if missing.candidate:
                        continue  # that candidate is not in the sub-instance
                    raise
                found = True
                total += v
                if best is None or (e.pick == "min" and v < best) or (e.pick == "max" and v > best) or e.pick == "last":
                    best = v
            if e.pick in ("count", "sum"):
                return total
            return best if found else e.default
        if isinstance(e, sp.Piecewise):
            for val, cond in e.args:
                if ev(cond, tv, jv, in_content):
                    return ev(val, tv, jv, in_content)
            raise RuleEvaluationError(f"no branch of `{e}` applies")
        if isinstance(e, Lookup):
            return int(e.args[0][int(ev(e.args[1], tv, jv, in_content))])
        op = _NUMPY_OPS.get(type(e))
        if op is None:
            raise RuleEvaluationError(f"the language has no evaluator for {type(e).__name__}")
        vals = [ev(arg, tv, jv, in_content) for arg in e.args]
        if len(vals) == 1:
            return op(vals[0]).item()
        out = vals[0]
        for v in vals[1:]:
            out = op(out, v)
        return out.item() if hasattr(out, "item") else out

    for s in checks:
        if int(ev(rule, s, None, False)) != view[layout.out_offset + s]:
            raise Inconsistent(f"y[{s}]")
    return int(ev(rule, t_value, None, False))
