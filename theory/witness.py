"""Minimal visible supports: hidden recurrences eliminated through the outputs a decoder has seen.

A decoder predicting y[t] sees the inputs *and its own earlier outputs*.  A rule written through a
recurrent intermediate (the carry of reverse addition, ``carry[t]`` reads ``carry[t-1]``) has a
provenance support that grows with n — every earlier digit feeds the carry — yet the carry into
digit t is recoverable from three visible tokens: ``y[t-1]``, ``a[t-1]``, ``b[t-1]``.  Sparsity in
the sense of Awasthi, Gupta & Kumar (2025) and Golowich et al. (2025) counts visible tokens, so
this module finds, for each recurrent intermediate, a **witness**: the smallest set of visible
reads (index expressions in t and n) that determines the intermediate at every output position.
The solver then charges a read of the intermediate to its witness instead of to its history
(``theory.solver.solve(witnesses=...)``), and the support of every output becomes its *minimal
visible support*.

The search is a functional-dependency search, with no per-task code:

* **candidates** come from the definition: the visible reads of the intermediate's own rule, the
  visible reads of the intermediates it reads (at their indices), and the earlier outputs
  ``y[t-1]``, ``y[t-2]``; subsets are tried smallest first, earlier outputs first;
* **refutation**: at every probed length n and output position t, two instances that agree on the
  candidate's tokens must agree on the intermediate; one pair that does not refutes it;
* **confirmation**: a candidate is *confirmed* only if nothing refutes it and either every
  instance of some length n ≥ 2 was enumerated (inputs drawn uniformly, instance space at most
  ``EXHAUSTIVE_LIMIT``), or, where enumeration is impossible, at every sampled (n, t) most
  instances share their candidate tokens with another instance (so agreement was actually tested,
  not vacuous).  An unconfirmed candidate is never reported: the intermediate keeps its
  provenance support, and the task stays unbounded if that grows.

A witness is a statement about the task's distribution; ``evaluate_by_elimination`` turns it into
a re-solver for partial instances: it assumes the unknown state just before the witness window,
keeps only the assumptions that reproduce the earlier outputs present in the view, and answers
only if every surviving assumption gives the same output.  A restricted instance that keeps the
visible support therefore re-solves to the primary's target from the definition alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from .language import ContentOperator, n, t, y
from .solver import (Inconsistent, Layout, MissingRead, MissingState, RuleEvaluationError, UnresolvedView,
                     evaluate_partial)

#: enumerate every instance of a length when there are at most this many
EXHAUSTIVE_LIMIT = 200_000
#: instances per sampled length, and the lengths sampled beyond the enumerated ones
SAMPLED_INSTANCES = 4096
SAMPLED_LENGTHS = (8, 16)
#: lengths tried for enumeration (each only if its instance space is small enough)
ENUMERATED_LENGTHS = (1, 2, 3, 4, 5, 6)
#: a sampled (n, t) cell tests agreement only if at least this share of instances collides with another
MIN_COLLISION_SHARE = 0.5
#: largest candidate pool searched (subsets of it, smallest first)
MAX_POOL = 10
#: branches the elimination explores before it gives up (the view then does not determine the output)
MAX_BRANCHES = 20_000


class Undetermined(UnresolvedView):
    """A partial view does not determine the output: no completion, or completions that disagree."""


@dataclass(frozen=True)
class Witness:
    """``intermediate[t]`` is determined by the visible tokens ``reads`` (evaluated at t, n)."""

    intermediate: str
    reads: tuple[sp.Indexed, ...]
    evidence: str  # how the dependency was confirmed

    @property
    def lookback(self) -> int:
        """How far back (in t) the witness reads earlier outputs (0 if it reads none)."""
        back = [int(sp.simplify(t - r.indices[0])) for r in self.reads
                if str(r.base) == str(y) and (t - r.indices[0]).is_number]
        return max(back, default=0)

    def summary(self) -> str:
        return f"{self.intermediate}[t] ← {', '.join(map(str, self.reads)) or 'a constant'}"


@dataclass(frozen=True)
class WitnessSearch:
    """The outcome for every recurrent intermediate of a task."""

    witnesses: tuple[Witness, ...]
    unresolved: tuple[str, ...]  # "name: why" for recurrent intermediates without a confirmed witness
    domains: dict[str, tuple[int, ...]]  # values each intermediate took over the probed instances

    @property
    def lookback(self) -> int:
        return max((w.lookback for w in self.witnesses), default=0)

    def by_name(self) -> dict[str, Witness]:
        return {w.intermediate: w for w in self.witnesses}


def recurrent_intermediates(task) -> list[str]:
    """Intermediates whose rule reads an intermediate at another index than t (a hidden state)."""
    names = {str(s) for s, _ in task.intermediates}
    out = []
    for seq, rule in task.intermediates:
        if any(str(r.base) in names and r.indices[0] != t for r in rule.atoms(sp.Indexed)):
            out.append(str(seq))
    return out


def _visible_reads(task, rule: sp.Basic) -> list[sp.Indexed]:
    """Positional reads of inputs and earlier outputs outside content operators (their index has no j)."""
    visible = set(task.operand_names) | {str(y)}
    out: list[sp.Indexed] = []

    def visit(e: sp.Basic) -> None:
        if isinstance(e, ContentOperator):
            return  # reads chosen by content are not a fixed position
        if isinstance(e, sp.Indexed) and str(e.base) in visible and not e.indices[0].atoms(sp.Indexed):
            out.append(e)
        for arg in e.args:
            visit(arg)

    visit(rule)
    return out


def candidate_pool(task, name: str) -> list[sp.Indexed]:
    """Visible reads that may stand for ``name[t]``, earlier outputs first (see the module docstring)."""
    rules = dict((str(s), e) for s, e in task.intermediates)
    rule = rules[name]
    pool: list[sp.Indexed] = [y[t - 1], y[t - 2]]
    pool += _visible_reads(task, rule)
    for read in rule.atoms(sp.Indexed):
        if str(read.base) in rules:
            shifted = rules[str(read.base)].xreplace({t: read.indices[0]})
            pool += _visible_reads(task, shifted)
    unique = list(dict.fromkeys(sp.Indexed(r.base, sp.expand(r.indices[0])) for r in pool))
    return unique[:MAX_POOL]


def _concrete(read: sp.Indexed, layout: Layout, tv: int) -> tuple[str, int] | None:
    """(sequence, index) a read names at t = tv, or None where it reads nothing visible (out of range)."""
    name = str(read.base)
    index = int(read.indices[0].subs({t: tv, n: layout.n}))
    if name == str(y):
        return (name, index) if 0 <= index < tv else None
    return (name, index) if 0 <= index < layout.operand_sizes[name] else None


def witness_mask(reads: tuple[sp.Indexed, ...], layout: Layout) -> Callable[[int], np.ndarray]:
    """t -> (U,) bool mask of the instance positions a witness reads at t (for ``solve(witnesses=...)``)."""
    cache: dict[int, np.ndarray] = {}

    def mask(tv: int) -> np.ndarray:
        if tv not in cache:
            m = np.zeros(layout.U, dtype=bool)
            for read in reads:
                where = _concrete(read, layout, tv)
                if where is not None:
                    seq, index = where
                    m[(layout.out_offset if seq == str(y) else layout.offsets[seq]) + index] = True
            cache[tv] = m
        return cache[tv]

    return mask


@dataclass
class _Probe:
    """Instances of one length with their outputs and intermediates; ``exhaustive`` if all of them."""

    n: int
    layout: Layout
    inputs: dict[str, np.ndarray]
    outputs: np.ndarray
    intermediates: dict[str, np.ndarray]
    exhaustive: bool


def _probes(task, rng: np.random.Generator) -> list[_Probe]:
    def admissible(nv: int) -> bool:
        return nv >= task.min_length and (task.max_length is None or nv <= task.max_length)

    probes = []
    uniform = task.sampler is None and not task.distinct
    for nv in ENUMERATED_LENGTHS:
        if not admissible(nv) or not uniform or task.alphabet ** task.input_size(nv) > EXHAUSTIVE_LIMIT:
            continue
        grid = np.array(list(itertools.product(range(task.alphabet), repeat=task.input_size(nv))), dtype=np.int64)
        inputs, col = {}, 0
        for name, size in zip(task.operand_names, task.operand_sizes(nv)):
            inputs[name], col = grid[:, col:col + size], col + size
        sol = task.solve(inputs, support=False)
        probes.append(_Probe(nv, task.layout(nv), inputs, sol.outputs, sol.intermediates, True))
    enumerated = max((p.n for p in probes), default=0)
    for nv in SAMPLED_LENGTHS:
        if admissible(nv) and nv > enumerated:
            inputs = task.sample(rng, SAMPLED_INSTANCES, nv)
            sol = task.solve(inputs, support=False)
            probes.append(_Probe(nv, task.layout(nv), inputs, sol.outputs, sol.intermediates, False))
    return probes


def _column(probe: _Probe, where: tuple[str, int]) -> np.ndarray:
    seq, index = where
    return probe.outputs[:, index] if seq == str(y) else probe.inputs[seq][:, index]


def _agreement(keys: list[np.ndarray], values: np.ndarray) -> tuple[bool, float]:
    """(no two rows with equal keys have different values, share of rows whose key occurs twice or more)."""
    if not keys:
        return bool((values == values[0]).all()), 1.0
    _, group, counts = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True, return_counts=True)
    group = group.reshape(-1)
    lo = np.full(len(counts), np.iinfo(np.int64).max)
    hi = np.full(len(counts), np.iinfo(np.int64).min)
    np.minimum.at(lo, group, values)
    np.maximum.at(hi, group, values)
    return bool((lo == hi).all()), float((counts[group] > 1).mean())


def _test(reads: tuple[sp.Indexed, ...], name: str, probes: list[_Probe]) -> str | None:
    """None if refuted or untested, else the evidence that confirms ``reads`` determine ``name``."""
    exhaustive, sampled = [], []
    for probe in probes:
        for tv in range(probe.layout.r):
            cells = [w for w in (_concrete(r, probe.layout, tv) for r in reads) if w is not None]
            holds, share = _agreement([_column(probe, w) for w in cells], probe.intermediates[name][:, tv])
            if not holds:
                return None
            if not probe.exhaustive and share < MIN_COLLISION_SHARE:
                return None  # agreement was hardly tested here: not evidence
        (exhaustive if probe.exhaustive else sampled).append(probe.n)
    if not any(nv >= 2 for nv in exhaustive) and not sampled:
        return None
    parts = []
    if exhaustive:
        parts.append(f"every instance enumerated at n = {', '.join(map(str, exhaustive))}")
    if sampled:
        parts.append(f"{SAMPLED_INSTANCES} sampled instances at n = {', '.join(map(str, sampled))} "
                     f"(at every t, ≥ {MIN_COLLISION_SHARE:.0%} of them share their witness tokens with another)")
    return "; ".join(parts) + "; no counterexample"


def find_witnesses(task, seed: int = 0) -> WitnessSearch:
    """Search a witness for each recurrent intermediate of ``task`` (a symbolic ``theory.task.Task``)."""
    recurrent = recurrent_intermediates(task)
    if not recurrent:
        return WitnessSearch((), (), {})
    probes = _probes(task, np.random.default_rng(seed))
    domains = {str(s): tuple(sorted({int(v) for p in probes for v in np.unique(p.intermediates[str(s)])}))
               for s, _ in task.intermediates}
    witnesses, unresolved = [], []
    for name in recurrent:
        pool = candidate_pool(task, name)
        found = None
        for size in range(len(pool) + 1):
            for reads in itertools.combinations(pool, size):
                evidence = _test(reads, name, probes)
                if evidence is not None:
                    found = Witness(name, reads, evidence)
                    break
            if found is not None:
                break
        if found is None:
            unresolved.append(f"{name}: no set of the visible reads {', '.join(map(str, pool))} was confirmed to "
                              "determine it")
        else:
            witnesses.append(found)
    return WitnessSearch(tuple(witnesses), tuple(unresolved), domains)


def evaluate_by_elimination(task, search: WitnessSearch, view: dict[int, int], t_value: int, n_value: int) -> int:
    """Re-solve output ``t`` from a partial view whose hidden state is only witnessed by visible tokens.

    The intermediates just before the witness window are unknown: each assumption (from their
    observed domains) is kept only if it reproduces every earlier output the view holds in that
    window; a missing input or output the rule reads is branched over its alphabet.  The answer is
    returned only if all surviving assumptions agree, else ``Undetermined``.
    """
    layout = task.layout(n_value)
    rules = [(str(s), e) for s, e in task.intermediates]
    lookback = max(1, search.lookback)
    start = max(0, t_value - lookback + 1)
    checks = tuple(s for s in range(max(0, start - lookback), t_value) if layout.out_offset + s in view)
    state = frozenset(recurrent_intermediates(task))
    answers: set[int] = set()
    stack: list[tuple[dict[int, int], dict[tuple[str, int], int]]] = [({}, {})]
    explored = 0
    while stack:
        extra, assumed = stack.pop()
        explored += 1
        if explored > MAX_BRANCHES:
            raise Undetermined(f"more than {MAX_BRANCHES} completions to try: the view is too sparse")
        try:
            value = evaluate_partial(task.rule, rules, {**view, **extra}, layout, t_value, task._initials,
                                     start, assumed, checks, state)
        except MissingState as missing:
            stack += [(extra, {**assumed, (missing.name, missing.index): v}) for v in search.domains[missing.name]]
            continue
        except MissingRead as missing:
            if missing.key < 0:  # not one missing position (an unresolved view): nothing to branch on
                raise
            symbols = task.alphabet if missing.key < layout.out_offset else task.out_alphabet
            stack += [({**extra, missing.key: v}, assumed) for v in range(symbols)]
            continue
        except (Inconsistent, RuleEvaluationError):
            continue  # this completion contradicts the view (or is impossible): not a completion
        answers.add(value)
        if len(answers) > 1:
            raise Undetermined(f"y[{t_value}] is not determined by the view: completions give {sorted(answers)}")
    if not answers:
        raise Undetermined(f"no completion of the view reproduces its earlier outputs (y[{t_value}])")
    return answers.pop()
