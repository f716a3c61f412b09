"""How related two tasks are, predicted from their two definitions alone (no training).

Cai et al. (NeurIPS 2025, docs/theory.md §8.5) find that a main task trained short extrapolates to the
length of a *related* auxiliary task trained longer, and that unrelated auxiliaries do not
transfer; the paper gives no definition of "related".  This module proposes one, fixed before
any transfer run: five named components, each a value in [0, 1] (or ``None`` where it does not
apply) with a reason string, and one score.

Components, with their weights in the score:

* ``coupling`` (0.25): the position coupling of both rules (``theory.structure.coupling``): 1 when
  output t reads the same index expression in t and n of the corresponding operands (reverse
  addition and no-carry both couple y[t] with a[t], b[t]); 0.5 when the index is the same but the
  coupled operands only overlap; 0 otherwise, or when only one task has a positional coupling;
  not applicable when neither has one (both select by content).
* ``dependency kinds`` (0.15): the Jaccard index of the sets of dependency kinds
  (``theory.structure.dependencies``: fixed offset from t, depends on n, chosen by content, ...).
* ``sub-rule`` (0.25): one rule is part of the other's computation, compared as sympy
  expressions after renaming (intermediates by definition order, operands by position when the
  two layouts have as many operands): 1 when one task's rule is (a t-shift of) the other's
  intermediate (carry_only is reverse addition's carry), both compute an intermediate with the
  same rule, one rule with an intermediate removed is the other's (no-carry is reverse addition
  without its carry; ``auxtasks.derive`` builds the same task), one rule is a value map of the
  other's output or contains it as a compound sub-expression, or both are the same value map read
  at different positions (capitalize and capitalize-reverse); 0.5 when both carry a recurrence
  over an intermediate that reads the same operands at the same offsets with a different rule
  (reverse subtraction's borrow beside addition's carry); 0 otherwise.  A bare read (copy's
  x[t]) never counts as a sub-rule: sharing a read position is what ``coupling`` measures.
* ``support shape`` (0.20): the Jaccard index of the two *footprints* of the minimal visible
  support (``Task.solve(..., True)``, what ``structure_profile`` reports): the (sequence, offset
  from t) pairs that are in S_t for every interior output of every sampled instance at n = 8,
  plus one "moving" mark per sequence whose support also holds tokens at no fixed offset (a read
  at n−1−t, or one chosen by content).
* ``layout`` (0.15): the fraction of four layout facts the tasks share: operand count and
  lengths, input alphabet, output alphabet, output length.

**Score** = Σ wᵢ·vᵢ / Σ wᵢ over the applicable components (a weighted fraction of the
definition-level structure the two tasks share), in [0, 1].  The weights put the mechanism-level
components (what a head must attend to: coupling and support shape; what it must compute:
sub-rule) at 0.70 and the coarse ones (dependency kinds and layout, shared by many unrelated
tasks, e.g. any two tasks over ten digits that read at a fixed offset) at 0.30.

**Prediction** (``predict_transfer``): transfer is predicted when the score is at least
``TRANSFER_THRESHOLD`` = 0.5, fixed here before any transfer run and never tuned on outcomes.
Why 0.5: it asks that at least half of the weighted structure be shared, and since the coarse
components weigh 0.30 together, no pair crosses it on shared alphabet and read kinds alone: it
needs a shared mechanism-level component.

Opaque tasks (``theory.opaque``: the maze DFS trace and path) have no rule, so nothing here
applies: their relatedness is "not analysed (opaque)", unless the pair is listed in
``DECLARED`` with its source, in which case the declaration (not an analysis) decides.

What the measure says about Cai et al.'s pairs (docs/theory.md §8.5), before any of our training:

* reverse addition with no-carry, carry-only, reverse subtraction: related (≈ 0.84 each); with
  ×3 multiply barely (≈ 0.51: same coupling index over only operand a, no shared sub-rule);
* reverse addition with copy (the paper's copy-first-op control is the nearest catalogue task):
  unrelated (≈ 0.23: only the read kind and the digit alphabet are shared); copy with reverse
  (the string control): unrelated (≈ 0.15);
* capitalize-reverse with reverse: related (≈ 0.93: same coupling and support, and it is a value
  map of reverse's output); with capitalize: *not* (≈ 0.40): the value map is shared but the read
  position, which is what must extrapolate, is not.  The paper trains both together and reports
  (its Appendix A.2) that reverse alone helps more than capitalize alone, the same order;
* copy with MQAR: unrelated (≈ 0.11), although the paper found transfer.  The definitions share
  nothing positional: copy reads x[t], MQAR selects the value after a matching key by content.
  Whatever links them in a trained model (the same retrieval heads finding "the token after a
  match") is a property of the learned circuit, not of the two rules, so a definition-level
  measure cannot see it; this pair is where it is expected to be wrong;
* the sparse parities k = 1..5 score 1 with each other: their rule is the same (k lives only in
  the sampler), which this measure, reading rules, cannot tell apart.

Not detected: a rule equal to another after replacing one read by another read (sort's step and
the successor task of task hinting, whose query stands where sort reads y[t-1]).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from theory.catalogue import ALL_TASKS
from theory.language import t
from theory.opaque import NOT_ANALYSED, is_opaque
from theory.structure import coupling, dependencies
from theory.task import Task

TRANSFER_THRESHOLD = 0.5
WEIGHTS = {"coupling": 0.25, "dependency kinds": 0.15, "sub-rule": 0.25, "support shape": 0.20, "layout": 0.15}
FOOTPRINT_LENGTH = 8  # n at which the support footprint is sampled (clipped to what a task admits)
FOOTPRINT_SAMPLES = 32
SHIFTS = (-1, 0, 1)  # t-shifts under which an intermediate may equal another task's output

#: related pairs of opaque tasks, declared with their source (no symbolic analysis can find them)
DECLARED: dict[frozenset, str] = {
    frozenset(("maze_dfs", "maze_path")): "declared, not analysed: Cai et al. (2025, §5.3) train the DFS trace and "
                                          "the shortest path as a related pair on the same maze input",
}


@dataclass(frozen=True)
class Component:
    name: str
    value: float | None  # None: does not apply to this pair
    reason: str
    weight: float


@dataclass(frozen=True)
class Relatedness:
    """How related ``aux`` is to ``main`` by their definitions (see the module docstring)."""

    main: str
    aux: str
    components: tuple[Component, ...]
    score: float | None  # None when not analysed (an opaque task)
    analysed: bool = True
    declared: str | None = None  # the declaration that decides for an opaque pair

    @property
    def predicts_transfer(self) -> bool:
        if not self.analysed:
            return self.declared is not None
        return self.score >= TRANSFER_THRESHOLD

    def summary(self) -> str:
        if not self.analysed:
            return f"{self.aux} for {self.main}: {self.declared or NOT_ANALYSED}"
        verdict = "related: transfer predicted" if self.predicts_transfer else "not related enough: no transfer predicted"
        return f"{self.aux} for {self.main}: score {self.score:.2f} ({verdict}, threshold {TRANSFER_THRESHOLD})"

    def to_dict(self) -> dict:
        return {"main": self.main, "aux": self.aux, "score": self.score, "analysed": self.analysed,
                "declared": self.declared, "predicts_transfer": self.predicts_transfer,
                "threshold": TRANSFER_THRESHOLD,
                "components": [{"name": c.name, "value": c.value, "weight": c.weight, "reason": c.reason}
                               for c in self.components]}


# ------------------------------------------------------------------------------ renaming


def _operand_map(main: Task, aux: Task) -> dict[str, str]:
    """aux operand name -> the main operand it corresponds to: by position when both layouts have as
    many operands, else by name (copy's x does not correspond to addition's a)."""
    if len(main.operand_names) == len(aux.operand_names):
        return dict(zip(aux.operand_names, main.operand_names))
    return {o: o for o in aux.operand_names}


def _canonical(task: Task, operands: dict[str, str]) -> tuple[sp.Basic, list[sp.Basic], list[str]]:
    """The rule and intermediate rules with intermediates renamed _h0, _h1... (definition order) and
    operands renamed by ``operands``; with the original intermediate names for messages."""
    names = [str(s) for s, _ in task.intermediates]
    rename = {s: sp.IndexedBase(f"_h{i}") for i, (s, _) in enumerate(task.intermediates)}
    rename.update({sp.IndexedBase(o): sp.IndexedBase(f"_op_{m}") for o, m in operands.items()})
    return (task.rule.xreplace(rename), [e.xreplace(rename) for _, e in task.intermediates], names)


def _operand_reads(expr: sp.Basic) -> set:
    return {r for r in expr.atoms(sp.Indexed) if str(r.base).startswith("_op_")}


def _pieces(expr: sp.Basic) -> list[sp.Basic]:
    """The expression and, for a top-level Piecewise, each branch value that reads an operand."""
    out = [expr]
    if isinstance(expr, sp.Piecewise):
        out += [pair.expr for pair in expr.args if _operand_reads(pair.expr)]
    return out


def _compound(expr: sp.Basic) -> bool:
    """Reads an operand and is more than one bare read."""
    return bool(_operand_reads(expr)) and not isinstance(expr, sp.Indexed)


# ------------------------------------------------------------------------------ components


def _coupling(main: Task, aux: Task, operands: dict[str, str]) -> Component:
    cm, ca = coupling(main), coupling(aux)
    w = WEIGHTS["coupling"]
    if cm.index is None and ca.index is None:
        return Component("coupling", None, "neither reads its inputs at a positional index of t: both select by "
                                           "content or through intermediates", w)
    if cm.index is None or ca.index is None:
        return Component("coupling", 0.0, f"{main.name}: {cm.summary()}; {aux.name}: {ca.summary()}", w)
    same_index = sp.simplify(cm.index - ca.index) == 0
    mine, theirs = set(cm.operands), {operands.get(o, o) for o in ca.operands}
    text = f"{main.name}: {cm.summary()}; {aux.name}: {ca.summary()}"
    if not same_index:
        return Component("coupling", 0.0, f"different index ({text})", w)
    if mine == theirs:
        return Component("coupling", 1.0, f"same index over corresponding operands ({text})", w)
    if mine & theirs:
        return Component("coupling", 0.5, f"same index, coupled operands only overlap ({text})", w)
    return Component("coupling", 0.0, f"same index over operands that do not correspond ({text})", w)


def _kinds(main: Task, aux: Task) -> Component:
    km, ka = {d.kind for d in dependencies(main)}, {d.kind for d in dependencies(aux)}
    w = WEIGHTS["dependency kinds"]
    if not km and not ka:
        return Component("dependency kinds", None, "neither rule reads a sequence", w)
    value = len(km & ka) / len(km | ka)
    return Component("dependency kinds", value, f"{main.name}: {', '.join(sorted(km)) or 'none'}; "
                                                f"{aux.name}: {', '.join(sorted(ka)) or 'none'}", w)


def _shifted(expr: sp.Basic, s: int) -> sp.Basic:
    return expr if s == 0 else expr.xreplace({t: t + s})


def _as_intermediate(rule_b, inter_a, names_a) -> tuple[str, int] | None:
    """(intermediate name, shift) when a piece of ``rule_b`` equals a shifted piece of an intermediate."""
    for piece in _pieces(rule_b):
        if not _compound(piece):
            continue
        for expr, name in zip(inter_a, names_a):
            for candidate in _pieces(expr):
                for s in SHIFTS:
                    if _shifted(candidate, s) == piece:
                        return name, s
    return None


def _removed(rule_a, inter_a, names_a, task_a: Task, rule_b) -> str | None:
    """The intermediate whose removal (reads set to its initial value, as ``auxtasks.derive`` does)
    turns a piece of ``rule_a`` into a piece of ``rule_b``."""
    targets = [p for p in _pieces(rule_b) if _compound(p)]
    for i, name in enumerate(names_a):
        base = sp.IndexedBase(f"_h{i}")
        zero = {r: task_a.initial_of(name) for r in rule_a.atoms(sp.Indexed) if r.base == base}
        if not zero:
            continue
        reduced = rule_a.xreplace(zero)
        if any(p == q for p in _pieces(reduced) if _compound(p) for q in targets):
            return name
    return None


def _value_map_of(rule_a, rule_b) -> bool:
    """``rule_a`` is a function of ``rule_b``'s value alone (a value map of the other's output), or
    contains it as a compound sub-expression."""
    if not _operand_reads(rule_b) or rule_a == rule_b:
        return False
    hole = sp.Symbol("_hole")
    replaced = rule_a.xreplace({rule_b: hole})
    if replaced == rule_a:
        return False
    return not replaced.atoms(sp.Indexed) or _compound(rule_b)


def _reindexed(rule_a, rule_b) -> bool:
    """Both rules are the same non-trivial value map, each of a single read, at different positions."""
    ra, rb = _operand_reads(rule_a), _operand_reads(rule_b)
    if len(ra) != 1 or len(rb) != 1 or rule_a.atoms(sp.Indexed) != ra or rule_b.atoms(sp.Indexed) != rb:
        return False
    hole = sp.Symbol("_hole")
    ha, hb = rule_a.xreplace({next(iter(ra)): hole}), rule_b.xreplace({next(iter(rb)): hole})
    (read_a,), (read_b,) = ra, rb
    return ha == hb and ha != hole and read_a.base == read_b.base


def _used(rule, inters) -> set[int]:
    """Positions of the intermediates the (canonical) rule depends on, directly or through others
    (a derived task carries its primary's intermediates whether its rule reads them or not)."""
    bases = {sp.IndexedBase(f"_h{i}"): i for i in range(len(inters))}
    found, todo = set(), [rule]
    while todo:
        for r in todo.pop().atoms(sp.Indexed):
            i = bases.get(r.base)
            if i is not None and i not in found:
                found.add(i)
                todo.append(inters[i])
    return found


def _recurrence_reads(inter, position: int) -> frozenset | None:
    """The operand reads of a self-recurrent intermediate (it reads itself at t-1), else None."""
    base = sp.IndexedBase(f"_h{position}")
    reads = inter.atoms(sp.Indexed)
    if not any(r.base == base for r in reads):
        return None
    return frozenset(_operand_reads(inter))


def _sub_rule(main: Task, aux: Task, operands: dict[str, str]) -> Component:
    w = WEIGHTS["sub-rule"]
    identity = {o: o for o in main.operand_names}
    rule_m, inter_m, names_m = _canonical(main, identity)
    rule_a, inter_a, names_a = _canonical(aux, operands)
    for (ta, ra, ia, na), (tb, rb, ib, nb) in (((main, rule_m, inter_m, names_m), (aux, rule_a, inter_a, names_a)),
                                               ((aux, rule_a, inter_a, names_a), (main, rule_m, inter_m, names_m))):
        found = _as_intermediate(rb, ia, na)
        if found:
            name, s = found
            shift = "" if s == 0 else f" (at t{s:+d})"
            return Component("sub-rule", 1.0, f"{tb.name}'s rule is {ta.name}'s intermediate {name}{shift}", w)
    used_m, used_a = _used(rule_m, inter_m), _used(rule_a, inter_a)
    for i, ea in enumerate(inter_m):
        for k, eb in enumerate(inter_a):
            if ea == eb and _operand_reads(ea) and i in used_m and k in used_a:
                return Component("sub-rule", 1.0, f"{main.name}'s intermediate {names_m[i]} and {aux.name}'s "
                                                  f"{names_a[k]} have the same rule", w)
    for (ta, ra, ia, na), (tb, rb) in (((main, rule_m, inter_m, names_m), (aux, rule_a)),
                                       ((aux, rule_a, inter_a, names_a), (main, rule_m))):
        name = _removed(ra, ia, na, ta, rb)
        if name:
            return Component("sub-rule", 1.0, f"{tb.name}'s rule is {ta.name}'s with the intermediate {name} removed", w)
    for (ta, ra), (tb, rb) in (((main, rule_m), (aux, rule_a)), ((aux, rule_a), (main, rule_m))):
        if _value_map_of(ra, rb):
            how = "contains" if _compound(rb) else "is a value map of"
            return Component("sub-rule", 1.0, f"{ta.name}'s rule {how} {tb.name}'s rule ({tb.rule})", w)
    if _reindexed(rule_m, rule_a):
        return Component("sub-rule", 1.0, f"the same value map read at a different position ({main.name}: "
                                          f"{main.rule}; {aux.name}: {aux.rule})", w)
    rec_m = {r: names_m[i] for i, e in enumerate(inter_m) if i in used_m and (r := _recurrence_reads(e, i)) is not None}
    rec_a = {r: names_a[i] for i, e in enumerate(inter_a) if i in used_a and (r := _recurrence_reads(e, i)) is not None}
    for reads in rec_m.keys() & rec_a.keys():
        if reads:
            return Component("sub-rule", 0.5, f"{main.name}'s {rec_m[reads]} and {aux.name}'s {rec_a[reads]} are "
                                              "recurrences over the same operand reads with different rules", w)
    return Component("sub-rule", 0.0, "neither rule is an intermediate, a reduction, a value map or a compound part "
                                      "of the other", w)


@functools.lru_cache(maxsize=None)
def footprint(task: Task) -> frozenset:
    """The (sequence, offset from t) pairs in S_t (minimal visible support) of every interior output of
    every sampled instance, plus ("moving", sequence) for a sequence with support at no fixed offset."""
    nv = max(task.min_length, min(FOOTPRINT_LENGTH, task.max_length or FOOTPRINT_LENGTH))
    inputs = task.sample(np.random.default_rng(0), FOOTPRINT_SAMPLES, nv)
    support = task.solve(inputs, True).support
    layout = task.layout(nv)
    regions = [(o, layout.offsets[o], layout.operand_sizes[o]) for o in task.operand_names]
    regions.append(("y", layout.out_offset, layout.r))
    r = layout.r
    outputs = range(1, r - 1) if r >= 3 else range(r)
    fixed, seen = None, set()
    for row in range(support.shape[0]):
        for tv in outputs:
            here = set()
            for name, start, size in regions:
                for i in np.flatnonzero(support[row, tv, start:start + size]):
                    here.add((name, int(i) - tv))
            seen |= here
            fixed = here if fixed is None else fixed & here
    fixed = fixed or set()
    moving = {("moving", name) for name, _ in seen - fixed}
    return frozenset(fixed | moving)


def _renamed(print_: frozenset, operands: dict[str, str]) -> frozenset:
    return frozenset((operands.get(a, a), b) if a != "moving" else (a, operands.get(b, b)) for a, b in print_)


def _describe(print_: frozenset) -> str:
    def one(a, b):
        return f"{b} (moving)" if a == "moving" else f"{a}[t{b:+d}]" if b else f"{a}[t]"
    return "{" + ", ".join(one(a, b) for a, b in sorted(print_, key=str)) + "}"


def _shape(main: Task, aux: Task, operands: dict[str, str]) -> Component:
    w = WEIGHTS["support shape"]
    fm, fa = footprint(main), _renamed(footprint(aux), operands)
    if not fm and not fa:
        return Component("support shape", None, "neither output has a visible support", w)
    value = len(fm & fa) / len(fm | fa)
    return Component("support shape", value, f"{main.name}: {_describe(fm)}; {aux.name}: {_describe(fa)}", w)


def _layout(main: Task, aux: Task) -> Component:
    facts = {
        "operands": (tuple(main.operand_lengths) == tuple(aux.operand_lengths),
                     f"{len(main.operand_names)} of length {', '.join(map(str, main.operand_lengths))} vs "
                     f"{len(aux.operand_names)} of length {', '.join(map(str, aux.operand_lengths))}"),
        "alphabet": (main.alphabet == aux.alphabet, f"{main.alphabet} vs {aux.alphabet}"),
        "output alphabet": (main.out_alphabet == aux.out_alphabet, f"{main.out_alphabet} vs {aux.out_alphabet}"),
        "output length": (sp.simplify(sp.sympify(main.output_length) - sp.sympify(aux.output_length)) == 0,
                          f"{main.output_length} vs {aux.output_length}"),
    }
    shared = [k for k, (same, _) in facts.items() if same]
    differ = [f"{k} {why}" for k, (same, why) in facts.items() if not same]
    reason = f"shared: {', '.join(shared) or 'nothing'}" + (f"; differ: {'; '.join(differ)}" if differ else "")
    return Component("layout", len(shared) / len(facts), reason, WEIGHTS["layout"])


# ------------------------------------------------------------------------------ the measure


def relatedness(main: Task, aux: Task) -> Relatedness:
    """How related ``aux`` is to ``main``, by their definitions alone (module docstring)."""
    if is_opaque(main) or is_opaque(aux):
        declared = DECLARED.get(frozenset((main.name, aux.name)))
        return Relatedness(main.name, aux.name, (), None, analysed=False, declared=declared)
    operands = _operand_map(main, aux)
    components = (_coupling(main, aux, operands), _kinds(main, aux), _sub_rule(main, aux, operands),
                  _shape(main, aux, operands), _layout(main, aux))
    applicable = [c for c in components if c.value is not None]
    score = sum(c.weight * c.value for c in applicable) / sum(c.weight for c in applicable)
    return Relatedness(main.name, aux.name, components, round(score, 4))


def predict_transfer(main: Task, aux: Task) -> bool:
    """Whether ``aux`` trained longer should carry ``main`` to its length: score ≥ TRANSFER_THRESHOLD
    (0.5, fixed before any training; the module docstring says why), or a declaration for an opaque pair."""
    return relatedness(main, aux).predicts_transfer


def companion_candidates(main: Task, train_max: int) -> list[Task]:
    """Catalogue tasks (opaque ones included) and the tasks ``auxtasks.derive`` derives from ``main``,
    each once, ``main`` itself left out.  Restrictions are not tasks of their own and are left out."""
    from .derive import derive

    out: dict[str, Task] = {name: task for name, task in ALL_TASKS.items() if name != main.name}
    for aux in derive(main, train_max).auxiliaries:
        if aux.task is not None and aux.task.name != main.name:
            out.setdefault(aux.task.name, aux.task)
    return list(out.values())


def rank_companions(main: Task, candidates: list[Task]) -> list[Relatedness]:
    """``relatedness(main, c)`` for every candidate, best first; the not analysed last (declared first)."""
    found = [relatedness(main, c) for c in candidates]
    return sorted(found, key=lambda r: (not r.analysed, r.declared is None, -(r.score or 0.0), r.aux))
