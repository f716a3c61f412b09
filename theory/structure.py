"""The structure profile of a task, computed from its definition (never written per task).

* **sparsity**: the largest support set |S_t| seen at each length, and whether it stays bounded
  as n grows (the k of k-sparse, Golowich et al. 2025; the AGK bound needs it bounded);
* **dependency kinds**: each sequence read is a fixed offset from ``t``, a fixed position,
  depends on ``n``, or is chosen by content;
* **C-RASP membership at definition level** (Huang et al. 2025), as formalised here: the rule
  may count and select by content, compare counts, map token values elementwise, and use
  positional reads whose distance to the output that reads them is a constant (local) or a
  periodic predicate.  A "no" names the construct that falls outside: a read whose distance
  grows with t or n, a modular sum over all positions, a recurrence over an intermediate;
* **position coupling** implied by the rule's positional reads (Cho et al. 2024): output t is
  aligned with the input index its rule reads, if that index is positional.

An opaque task (``theory.opaque``) has no rule: its sparsity comes from the support its solver
declares, and dependencies, C-RASP membership and coupling are "not analysed (opaque)".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .language import ContentOperator, j, n, t, y
from .opaque import NOT_ANALYSED, is_opaque
from .task import Task
from .witness import Witness

PROFILE_LENGTHS = (4, 8, 16, 32)


@dataclass(frozen=True)
class Dependency:
    read: str  # e.g. "x[n - t - 1]"
    kind: str  # "fixed offset from t" | "fixed position" | "depends on n" | "chosen by content" | ...


@dataclass(frozen=True)
class CraspCheck:
    member: bool
    reasons: tuple[str, ...]  # the constructs outside C-RASP (empty when member)
    analysed: bool = True  # False for an opaque task: member is then False and means nothing

    def summary(self) -> str:
        if not self.analysed:
            return NOT_ANALYSED
        return "yes" if self.member else "no (" + "; ".join(self.reasons) + ")"


@dataclass(frozen=True)
class Coupling:
    """Output t is aligned with index ``index`` (an expression in t, n) of ``operands``; or none."""

    index: sp.Expr | None
    operands: tuple[str, ...]
    note: str
    analysed: bool = True  # False for an opaque task

    def summary(self) -> str:
        if not self.analysed:
            return NOT_ANALYSED
        if self.index is None:
            return f"none ({self.note})"
        return f"y[t] ↔ {', '.join(f'{o}[{self.index}]' for o in self.operands)}"


@dataclass(frozen=True)
class StructureProfile:
    """What the definition says about a task.  Sparsity is measured on the *minimal visible support*
    (inputs and earlier outputs, hidden recurrences replaced by their witnesses, ``theory.witness``);
    the support by provenance through every intermediate is kept beside it."""

    task: str
    support_sizes: dict[int, int]  # n -> max |S_t| (minimal visible support) over sampled instances
    bounded: bool
    dependencies: tuple[Dependency, ...]
    crasp: CraspCheck
    coupling: Coupling
    opaque: bool = False  # support sizes from a declared support; nothing else analysed
    provenance_sizes: dict[int, int] = field(default_factory=dict)  # n -> max |S_t| by provenance
    provenance_bounded: bool = True
    witnesses: tuple[Witness, ...] = ()  # which visible tokens stand for which hidden intermediate
    unresolved: tuple[str, ...] = ()  # recurrent intermediates left to provenance, with the reason

    @property
    def k(self) -> int:
        return max(self.support_sizes.values())

    @staticmethod
    def _describe(sizes: dict[int, int], bounded: bool) -> str:
        top = max(sizes.values())
        return f"k = {top}" if bounded else f"unbounded (|S_t| up to {top} at n = {max(sizes)})"

    def sparsity(self) -> str:
        return self._describe(self.support_sizes, self.bounded)

    def provenance_sparsity(self) -> str:
        return self._describe(self.provenance_sizes or self.support_sizes, self.provenance_bounded)

    def support_note(self) -> str:
        """The two views side by side, with the witnesses when they differ."""
        if not self.witnesses:
            return f"visible support {self.sparsity()} (= by provenance)"
        return (f"minimal visible support {self.sparsity()} (by provenance: {self.provenance_sparsity()}; "
                + "; ".join(w.summary() for w in self.witnesses) + ")")

    def summary(self) -> str:
        if self.opaque:
            return (f"{self.task}: opaque: no symbolic analysis; sparsity from the declared support: {self.sparsity()}; "
                    f"dependencies, C-RASP and coupling {NOT_ANALYSED}")
        kinds = sorted({d.kind for d in self.dependencies})
        crasp = "C-RASP" if self.crasp.member else "not C-RASP"
        sparsity = self.support_note() if self.witnesses else self.sparsity()
        return f"{self.task}: sparsity {sparsity}; dependencies: {', '.join(kinds) or 'none'}; {crasp}"


def _rules(task: Task) -> list[tuple[str, sp.Basic]]:
    return [(f"{s}[t]", e) for s, e in task.intermediates] + [("y[t]", task.rule)]


def _reads(rule: sp.Basic):
    """Yield (Indexed read, inside a content operator) for every sequence read of a rule."""
    def visit(e: sp.Basic, inside: bool):
        if isinstance(e, ContentOperator):
            for arg in e.args[1:]:
                yield from visit(arg, True)
            return
        if isinstance(e, sp.Indexed):
            yield e, inside
        for arg in e.args:
            yield from visit(arg, inside)

    yield from visit(rule, False)


def _read_kind(read: sp.Indexed, inside: bool) -> str:
    (idx,) = read.indices
    if inside and j in idx.free_symbols:
        return "chosen by content"
    if idx.atoms(sp.Indexed):
        return "data-dependent index"
    if n in idx.free_symbols:
        return "depends on n"
    if idx.is_number:
        return "fixed position"
    return "fixed offset from t" if (idx - t).is_number else "depends on t non-linearly"


def dependencies(task: Task) -> tuple[Dependency, ...]:
    if is_opaque(task):
        return ()
    seen, out = set(), []
    for _, rule in _rules(task):
        for read, inside in _reads(rule):
            if str(read) not in seen:
                seen.add(str(read))
                out.append(Dependency(str(read), _read_kind(read, inside)))
    return tuple(out)


def _sequence_distance(task: Task, read: sp.Indexed) -> sp.Expr:
    """Distance in the serialized sequence from the slot predicting y_t back to ``read``."""
    sizes = list(task.operand_lengths)
    slot = sum(s + 1 for s in sizes) + t  # output_start + t - 1
    (idx,) = read.indices
    name = str(read.base)
    if name == str(y) or name not in task.operand_names:
        return sp.simplify(t - 1 - idx)  # earlier outputs / intermediates, aligned with outputs
    k = task.operand_names.index(name)
    source = sum(s + 1 for s in sizes[:k]) + 1 + idx
    return sp.simplify(slot - source)


def crasp_check(task: Task) -> CraspCheck:
    if is_opaque(task):
        return CraspCheck(False, (NOT_ANALYSED,), analysed=False)
    reasons: list[str] = []
    inter = {str(s) for s, _ in task.intermediates}
    for label, rule in _rules(task):
        for read, inside in _reads(rule):
            name = str(read.base)
            (idx,) = read.indices
            if name in inter and label == f"{name}[t]" and idx != t:
                reasons.append(f"{label} is a recurrence over intermediate {name} (a sequential state, not a count)")
                continue
            if (inside and j in idx.free_symbols) or idx.atoms(sp.Indexed):
                continue  # relative to the chosen candidate: a content-based read
            distance = _sequence_distance(task, read)
            if task.output_length == 1:
                distance = distance.subs(t, 0)  # a single output: t is always 0
            if distance.free_symbols & {t, n}:
                grows = "n" if n in distance.free_symbols else "t"
                reasons.append(f"`{read}` is read at distance {distance} from its output, which depends on {grows}")
        for mod in rule.atoms(sp.Mod):
            if any(isinstance(e, ContentOperator) and e.pick in ("count", "sum") for e in sp.preorder_traversal(mod)):
                reasons.append(f"`{mod}` is a modular sum over all positions")
    unique = tuple(dict.fromkeys(reasons))
    return CraspCheck(not unique, unique)


def _positional_reads(task: Task, rule: sp.Basic) -> list[tuple[sp.Expr, str]]:
    out = []
    for read, inside in _reads(rule):
        (idx,) = read.indices
        if str(read.base) in task.operand_names and not inside and not idx.atoms(sp.Indexed) and t in idx.free_symbols:
            out.append((idx, str(read.base)))
    return out


def coupling(task: Task) -> Coupling:
    if is_opaque(task):
        return Coupling(None, (), NOT_ANALYSED, analysed=False)
    found = _positional_reads(task, task.rule)
    if not found:
        # look one level into intermediates the output reads at the same index (e.g. partial[t])
        inter = dict((str(s), e) for s, e in task.intermediates)
        for read, _ in _reads(task.rule):
            if str(read.base) in inter and read.indices[0] == t:
                found += _positional_reads(task, inter[str(read.base)])
    indices = [i for i, _ in found]
    operands = [o for _, o in found]
    if not indices:
        return Coupling(None, (), "no positional read of the inputs by t: the source is chosen by content or "
                                  "through intermediates; predicted coupling can learn it")
    distinct = list(dict.fromkeys(indices))
    note = "" if len(distinct) == 1 else f"the rule reads several indices {distinct}; coupled to the first"
    return Coupling(distinct[0], tuple(dict.fromkeys(o for o, i in zip(operands, indices) if i == distinct[0])), note)


def coupled_position_ids(task: Task, n_value: int) -> np.ndarray:
    """Position ids of a serialized instance under the implied coupling (Cho et al. 2024).

    Input token i of every operand gets id i + 1 (operands share ids by index); output t gets the
    id of the input index its rule reads (index + 1), or t + 1 where the output reaches past the
    inputs (e.g. the final carry); the task token and separators get id 0, except the token just
    before the first output (the one that predicts y[0]), which gets ``separator_id``: the id the
    coupling gives "output −1", so that every predicting token sits at the same id step from the
    source of the output it predicts (for reversal, id n + 1 before an output read at id n; with
    id 0 the first output of a reversed coupling needs a step of n, never seen beyond the training
    lengths).
    """
    from .serialize import frame_positions, output_start, sequence_length

    c = coupling(task)
    if c.index is None:
        raise ValueError(f"task {task.name!r} has no positional coupling ({c.note})")
    sizes = task.operand_sizes(n_value)
    L = sequence_length(task, n_value)
    ids = np.zeros(L, dtype=np.int64)
    frame = frame_positions(task, n_value)
    for k, size in enumerate(sizes):
        ids[frame[k] + 1: frame[k] + 1 + size] = np.arange(1, size + 1)
    fn = sp.lambdify((t, n), c.index, modules="numpy")
    for tv in range(task.r(n_value)):
        ids[output_start(task, n_value) + tv] = int(fn(tv, n_value)) + 1
    ids[output_start(task, n_value) - 1] = separator_id(task, n_value)
    return ids


def separator_id(task: Task, n_value: int) -> int:
    """The coupled id of the token that predicts y[0]: the coupling's index at t = −1, plus 1 (never
    below 0).  0 for a forward coupling (y[t] ↔ x[t]: the id it always had), n + 1 for reversal."""
    c = coupling(task)
    fn = sp.lambdify((t, n), c.index, modules="numpy")
    return max(0, int(fn(-1, n_value)) + 1)


def _bounded(sizes: dict[int, int]) -> bool:
    values = [sizes[k] for k in sorted(sizes)]
    # bounded if the support stops growing over the longer half of the probed lengths
    return len(values) < 2 or values[-1] <= values[len(values) // 2]


@functools.lru_cache(maxsize=None)
def structure_profile(task: Task, samples: int = 64, seed: int = 0) -> StructureProfile:
    """The profile of ``task``, computed once per task object and process (it samples instances)."""
    rng = np.random.default_rng(seed)
    sizes, provenance = {}, {}
    opaque = is_opaque(task)
    for nv in PROFILE_LENGTHS:
        if (task.max_length is not None and nv > task.max_length) or nv < task.min_length:
            continue
        inputs = task.sample(rng, samples, nv)
        sizes[nv] = int(task.solve(inputs, True).support.sum(axis=2).max())
        provenance[nv] = sizes[nv] if opaque else int(task.solve(inputs, "provenance").support.sum(axis=2).max())
    search = None if opaque else task.witness_search
    return StructureProfile(task.name, sizes, _bounded(sizes), dependencies(task), crasp_check(task), coupling(task),
                            opaque=opaque, provenance_sizes=provenance, provenance_bounded=_bounded(provenance),
                            witnesses=search.witnesses if search else (),
                            unresolved=search.unresolved if search else ())
