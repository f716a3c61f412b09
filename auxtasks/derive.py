"""Derive auxiliary tasks from a primary task's structure alone (docs/design.md §3).

Four families, each a first-class task with provenance and theory status:

1. **restriction** — R(z, p, m) from the support sets (only when the support stays bounded);
   for a rule that selects the successor of ``y[t-1]`` it is the task-hinting *successor* hint;
2. **intermediate** — each named intermediate as its own output sequence, and the rule with that
   intermediate removed (set to its initial value): reverse addition → carry-only and no-carry;
3. **position** — predict the input index each output is read from (the coupled position for a
   positional read, the chosen candidate's index for a content selection);
4. **longer** — intermediates and positions trained over twice the primary's length range
   (Cai et al.'s ratio window [0.5, 2]).

``derive`` returns them ranked by the strength of their theoretical support, with the reasons a
family yields nothing.  ``check_consistency`` verifies each family's instances against the primary.

An opaque primary (``theory.opaque``) has no rule, so only the restriction family applies, built
from the support its solver declares (when that stays bounded) and re-checked with its declared
support rule; the other families are reported as not analysed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pathlib import Path

import numpy as np
import sympy as sp

from theory.language import ContentOperator, FirstWhere, MaxOver, MinOver, j, t, y
from theory.opaque import NOT_ANALYSED, is_opaque
from theory.serialize import SequenceBatch, Vocab, sample_sequences, sequence_length
from theory.structure import StructureProfile, coupling, structure_profile
from theory.catalogue import ALL_TASKS, load_task
from theory.task import Task, TaskDefinitionError

from .restriction import RestrictionTask, recheck_restriction

AGK = "Awasthi, Gupta & Kumar (NeurIPS 2025): primary + restriction error bounds the length-N error (as formalised here)"
HINTING = "Awasthi & Gupta (2023), task hinting: the successor hint lifts sorting from <1% to >92% at 5x length"
CAI = "Cai et al. (NeurIPS 2025): length generalization transfers from related tasks trained longer"
PPC = "Golowich et al. (ICML 2025) predicted position coupling; Cho et al. (NeurIPS 2024) position coupling"
MAX_POSITION_LENGTH = 64  # position tasks are defined up to this n (their labels index the operand)


class NoAuxiliaries(TaskDefinitionError):
    """No family yields an auxiliary task for this primary; the message says why."""


@dataclass(frozen=True)
class Auxiliary:
    """One derived auxiliary task, trainable in a mixture like any catalogue task."""

    name: str
    family: str  # restriction | intermediate | position | longer
    provenance: str
    theory: str
    lengths: tuple[int, int]
    weight: float
    task: Task | None = None  # every family but restriction is an ordinary task
    restriction: RestrictionTask | None = None
    note: str = ""
    check: Callable | None = field(default=None, repr=False, compare=False)

    @property
    def token_name(self) -> str:
        """The task token: restrictions are sub-sequences of primary instances and share its token;
        a longer variant is the same task over more lengths and shares its twin's token."""
        return self.restriction.primary.name if self.restriction is not None else self.task.name

    @property
    def symbols(self) -> int:
        return self.restriction.primary.symbols if self.restriction is not None else self.task.symbols

    def sample(self, rng: np.random.Generator, batch: int, vocab: Vocab) -> SequenceBatch:
        if self.restriction is not None:
            return self.restriction.sample(rng, batch, vocab)
        return sample_sequences(self.task, rng, batch, self.lengths, vocab)


@dataclass
class Derivation:
    primary: Task
    profile: StructureProfile
    auxiliaries: list[Auxiliary]
    skipped: list[str]  # why a family yields nothing

    def by_name(self, name: str) -> Auxiliary:
        for aux in self.auxiliaries:
            if aux.name == name:
                return aux
        raise TaskDefinitionError(f"{self.primary.name!r} has no derived auxiliary {name!r}; derived: "
                                  f"{', '.join(a.name for a in self.auxiliaries) or 'none'}")


def _successor_like(rule: sp.Basic) -> bool:
    """A min/max selection whose predicate compares with the previous output: a successor hint."""
    for e in sp.preorder_traversal(rule):
        if isinstance(e, (MinOver, MaxOver)) and any(
                isinstance(r, sp.Indexed) and str(r.base) == str(y) for r in e.where.atoms(sp.Indexed)):
            return True
    return False


def _max_value(task_like: Task, name: str | None, lengths) -> int:
    """Largest value an intermediate (name) or the output (None) takes over sampled instances."""
    rng = np.random.default_rng(0)
    top = 0
    for nv in lengths:
        _, sol = task_like.generate(rng, 64, nv)
        values = sol.outputs if name is None else sol.intermediates[name]
        top = max(top, int(values.max()))
    return top


def _probe_lengths(task: Task) -> list[int]:
    hi = min(task.max_length or MAX_POSITION_LENGTH, MAX_POSITION_LENGTH)
    return [nv for nv in (1, 2, 3, 5, 8, 13, 21, 34, 64) if task.min_length <= nv <= hi]


OUT = sp.IndexedBase("out")  # the primary's output, carried inside a derived task as an intermediate


def _derived_task(primary: Task, name: str, description: str, rule: sp.Basic, intermediates, **extra) -> Task:
    """A task over the primary's inputs whose output is ``rule``.

    The primary's own computation travels along as intermediates, with its output renamed
    ``out`` (in a derived task ``y`` is the *derived* output), so every derived rule may read
    the primary's intermediates and outputs exactly as the primary computes them.
    """
    rename = {y: OUT}
    carried = tuple((s, e.xreplace(rename)) for s, e in intermediates)
    reads_out = any(OUT in e.atoms(sp.IndexedBase) for _, e in carried) or OUT in rule.xreplace(rename).atoms(sp.IndexedBase)
    if reads_out:
        carried = carried + ((OUT, primary.rule.xreplace(rename)),)
    initials = {str(s): primary.initial_of(str(s)) for s, _ in primary.intermediates}
    initials[str(OUT)] = primary.initial
    base = dict(name=name, description=description, length_meaning=primary.length_meaning,
                rule=rule.xreplace(rename), alphabet=primary.alphabet, operands=primary.operands,
                operand_lengths=primary.operand_lengths, output_length=primary.output_length,
                intermediates=carried, distinct=primary.distinct, intermediate_initial=initials,
                sampler=primary.sampler, min_length=primary.min_length, max_length=primary.max_length)
    base.update(extra)
    return Task(**base)


def _intermediate_auxiliaries(primary: Task, train_max: int) -> tuple[list[Auxiliary], list[str]]:
    if not primary.intermediates:
        return [], ["intermediates: the rule names no intermediate sequence"]
    out: list[Auxiliary] = []
    probe = _probe_lengths(primary)
    for seq, _ in primary.intermediates:
        name = str(seq)
        top = _max_value(primary, name, probe)
        only = _derived_task(primary, f"{primary.name}-{name}", f"the intermediate {name} of {primary.name}",
                             seq[t], primary.intermediates, output_alphabet=max(2, top + 1))
        out.append(Auxiliary(only.name, "intermediate", f"named intermediate `{name}` as its own output sequence",
                             CAI, (1, train_max), 0.5, task=only, check=_check_intermediate(primary, name)))
        # the rule with this intermediate removed: what is left of the computation without it
        zero = {seq[i]: sp.Integer(primary.initial_of(name)) for i in _indices(primary, seq)}
        rule = sp.sympify(primary.rule.xreplace(zero))  # a rule that is only the intermediate becomes a number
        rest = tuple((s, e.xreplace(zero)) for s, e in primary.intermediates if s != seq)
        if rule == primary.rule or not rule.atoms(sp.Indexed):
            continue
        try:
            without = _derived_task(primary, f"{primary.name}-without-{name}",
                                    f"{primary.name} with the intermediate {name} removed", rule, rest,
                                    output_alphabet=primary.output_alphabet)
        except TaskDefinitionError:
            continue  # removing it leaves something malformed (e.g. outside the alphabet): no such task
        if _max_value(without, None, probe) == 0:
            continue  # degenerate: a constant output teaches nothing
        out.append(Auxiliary(without.name, "intermediate", f"the primary rule with intermediate `{name}` removed",
                             CAI, (1, train_max), 0.5, task=without))
    return out, []


def _indices(task: Task, seq: sp.IndexedBase) -> set:
    found = set()
    for rule in [task.rule] + [e for _, e in task.intermediates]:
        for read in rule.atoms(sp.Indexed):
            if read.base == seq:
                found.add(read.indices[0])
    return found


def _operand_labels(primary: Task, operand: str, top: int) -> int:
    """Size of ``operand`` at the longest admissible length up to ``top``: labels 0..size-1 index it,
    and ``size`` itself means "past the input".  An operand longer than n (``operand_lengths=(2*n,)``)
    gets as many labels as it has tokens."""
    k = primary.operand_names.index(operand)
    return max(primary.operand_sizes(nv)[k] for nv in range(primary.min_length, top + 1))


def _position_auxiliary(primary: Task, train_max: int) -> tuple[list[Auxiliary], list[str]]:
    top = min(primary.max_length or MAX_POSITION_LENGTH, MAX_POSITION_LENGTH)
    c = coupling(primary)
    if c.index is not None:
        operand = c.operands[0]
        past = _operand_labels(primary, operand, top)  # label for "past the input" (a final carry)
        size = primary.operand_lengths[primary.operand_names.index(operand)]
        rule = sp.Piecewise((c.index, sp.And(c.index >= 0, c.index < size)), (past, True))
        inter = primary.intermediates
        provenance = f"the coupled source position {operand}[{c.index}] of each output"
    else:
        select = primary.rule if isinstance(primary.rule, ContentOperator) else None
        if select is None or select.pick not in ("min", "max", "first", "last") or not (
                isinstance(select.value, sp.Indexed) and select.value.indices[0] == j):
            return [], ["position: outputs are neither read at a positional index nor selected as one input token"]
        operand = str(select.value.base)
        past = _operand_labels(primary, operand, top)  # label for "no input qualified"
        rule = FirstWhere(j, j, sp.Eq(select.value, y[t]), past, select.size)
        inter = primary.intermediates
        provenance = f"the index of the input {operand}[j] that the content selection chooses"
    try:
        task = _derived_task(primary, f"{primary.name}-position", f"predict the source index of each output of "
                             f"{primary.name}", rule, inter, output_alphabet=past + 1, max_length=top)
    except TaskDefinitionError as err:
        return [], [f"position: the coupling does not give a valid label task ({err})"]
    aux = Auxiliary(task.name, "position", provenance, PPC, (1, train_max), 0.5, task=task,
                    check=_check_position(primary, operand, past))
    return [aux], []


def _longer(aux: Auxiliary, train_max: int) -> Auxiliary:
    hi = 2 * train_max
    if aux.task is not None and aux.task.max_length is not None:
        hi = min(hi, aux.task.max_length)
    return Auxiliary(f"{aux.name}-2x", "longer", f"{aux.provenance}, trained at lengths 1..{hi} (2x the primary)",
                     aux.theory + "; aux/main length ratio 2 is inside Cai et al.'s window [0.5, 2]",
                     (1, hi), aux.weight, task=aux.task, check=aux.check)


def restriction_defaults(primary: Task, train_max: int) -> tuple[int, tuple[int, int]]:
    """m and the length range of the restriction task for a primary trained at 1..train_max.

    m is the primary's longest training sequence (task token, operands with their separators,
    outputs), so restricted instances are never longer than what the primary trains on; lengths
    run to 3x the training range, where the report evaluates.
    """
    m = sequence_length(primary, train_max)
    return m, (primary.min_length, min(3 * train_max, primary.max_length or 3 * train_max))


def derive(primary: Task, train_max: int, reindex: bool = False, m: int | None = None,
           restriction_lengths: tuple[int, int] | None = None,
           profile: StructureProfile | None = None) -> Derivation:
    """Every auxiliary task the structure of ``primary`` yields, ranked, for training at 1..train_max.

    ``m`` and ``restriction_lengths`` override ``restriction_defaults``; ``profile`` passes a
    structure profile the caller already computed (it samples instances at several lengths).
    """
    primary.check_length(train_max)
    profile = profile or structure_profile(primary)
    opaque = is_opaque(primary)
    ranked: list[Auxiliary] = []
    skipped: list[str] = []
    if profile.bounded:
        default_m, default_lengths = restriction_defaults(primary, train_max)
        m, lengths = m or default_m, restriction_lengths or default_lengths
        restriction = RestrictionTask(primary, m, lengths, reindex)
        note = ("the restriction keeps y[t-1] and the input it selects next: this is the successor hint of task "
                "hinting, derived here from the rule") if not opaque and _successor_like(primary.rule) else ""
        if opaque:
            note = ("opaque task: S_t is declared by its solver, and its support rule re-checks that S_t determines "
                    "the target" if primary.support_rule is not None else
                    "opaque task without a support rule: the declared support is taken on trust, not re-checked")
        theory = AGK + (f"; {HINTING}" if note and not opaque else "")
        if opaque:
            source = "declared support sets S_t of the opaque solver"
        elif profile.witnesses:
            source = ("minimal visible support S_t of the rule ("
                      + "; ".join(f"{w.summary()}: the earlier output stands for the hidden {w.intermediate}"
                                  if any(str(r.base) == "y" for r in w.reads) else w.summary()
                                  for w in profile.witnesses) + ")")
        else:
            source = "support sets S_t of the rule"
        ranked.append(Auxiliary(restriction.name, "restriction",
                                f"{source} (k = {profile.k}), m = {m} tokens, "
                                f"{'re-indexed' if reindex else 'original'} position ids",
                                theory, lengths, 1.0, restriction=restriction, note=note))
    else:
        what = "declared support" if opaque else "support"
        skipped.append(f"restriction: the {what} grows with n ({profile.sparsity()}), so the AGK bound does not apply")
    if opaque:
        skipped += [f"intermediates: {NOT_ANALYSED}: an opaque task names no intermediate sequence",
                    f"position: {NOT_ANALYSED}: an opaque task has no rule to read source positions from"]
        return Derivation(primary, profile, ranked, skipped)
    intermediates, why = _intermediate_auxiliaries(primary, train_max)
    skipped += why
    positions, why = _position_auxiliary(primary, train_max)
    skipped += why
    # rank: the proven bound first, then transfer from longer related tasks, then same-length ones
    ranked += [_longer(a, train_max) for a in intermediates] + intermediates
    ranked += [_longer(a, train_max) for a in positions] + positions
    return Derivation(primary, profile, ranked, skipped)


# ------------------------------------------------------------------------------ consistency


def _check_intermediate(primary: Task, name: str):
    def check(aux: Auxiliary, rng: np.random.Generator, n_value: int, batch: int) -> list[str]:
        inputs, sol = primary.generate(rng, batch, n_value)
        derived = aux.task.solve(inputs).outputs
        bad = np.argwhere(derived != sol.intermediates[name])
        return [f"{aux.name}: instance {r}, t={c}: derived {derived[r, c]} != primary's {name} "
                f"{sol.intermediates[name][r, c]}" for r, c in bad[:3]]
    return check


def _check_position(primary: Task, operand: str, past: int):
    def check(aux: Auxiliary, rng: np.random.Generator, n_value: int, batch: int) -> list[str]:
        # provenance, not the visible support: a label names the input the rule reads, and a final
        # carry reads all of the operand by provenance even where an earlier output witnesses it
        inputs = primary.sample(rng, batch, n_value)
        sol = primary.solve(inputs, "provenance")
        labels = aux.task.solve(inputs).outputs
        layout = primary.layout(n_value)
        errors = []
        for row, tv in np.ndindex(labels.shape):
            label = labels[row, tv]
            if label == past:
                # allowed where no single input token is the source: the output reads none of the
                # operand (a final carry) or all of it (no candidate qualified)
                span = sol.support[row, tv, layout.offsets[operand]: layout.offsets[operand] + layout.operand_sizes[operand]]
                if span.any() and not span.all():
                    errors.append(f"{aux.name}: instance {row}, t={tv}: labelled past the input but reads it")
            elif not sol.support[row, tv, layout.offsets[operand] + label]:
                errors.append(f"{aux.name}: instance {row}, t={tv}: label {label} is not in S_t")
        return errors[:3]
    return check


def check_consistency(aux: Auxiliary, primary: Task, rng: np.random.Generator, n_value: int,
                      batch: int = 16) -> list[str]:
    """Problems found on ``batch`` instances of length ``n_value`` (empty list: consistent).

    restriction: every restricted instance re-solved from the definition gives the primary target
    (for an opaque primary: recomputed by its declared support rule; skipped if it declares none);
    intermediate: the derived sequence equals the intermediate the primary's solver used;
    position: each label points at an input token in the output's support set;
    every derived task: its vectorized solver agrees with the scalar interpreter.
    """
    if aux.restriction is not None:
        if is_opaque(primary) and primary.support_rule is None:
            return []  # nothing to re-check against: the derivation's note says the support is taken on trust
        vocab = Vocab(primary.symbols, (primary.name,))
        full, restricted = aux.restriction.sample_at(rng, batch, n_value, vocab)
        return [f"{aux.name}: row {row} does not re-solve to its target"
                for row in range(batch) if not recheck_restriction(primary, full, restricted, n_value, row)][:3]
    errors = aux.check(aux, rng, n_value, batch) if aux.check is not None else []
    if is_opaque(aux.task):
        return errors  # no scalar interpreter to compare with
    inputs, sol = aux.task.generate(rng, 4, n_value)
    for row in range(4):
        instance = np.concatenate([inputs[o][row] for o in aux.task.operand_names] + [sol.outputs[row]])
        view = dict(enumerate(instance.tolist()))
        for tv in range(aux.task.r(n_value)):
            if aux.task.evaluate(view, tv, n_value) != sol.outputs[row, tv]:
                errors.append(f"{aux.name}: the scalar interpreter disagrees at t={tv}")
    return errors


def resolve_task(name_or_path: str) -> Task:
    """A catalogue task, a task file, or a task derived from a catalogue task by name.

    Derived tasks are named as ``lengthgen propose`` lists them (``reverse_addition-carry``,
    ``sort-position``), so they can be shown, trained and reported like catalogue tasks.
    Restrictions are not tasks of their own (they are sub-sequences of the primary's instances).
    """
    try:
        return load_task(name_or_path)
    except TaskDefinitionError as err:
        for primary in sorted(ALL_TASKS, key=len, reverse=True):
            if name_or_path.startswith(primary + "-"):
                task = ALL_TASKS[primary]
                for aux in derive(task, max(8, task.min_length)).auxiliaries:
                    if aux.task is not None and aux.task.name == name_or_path:
                        return aux.task
        if Path(name_or_path).suffix == ".py":
            raise
        raise TaskDefinitionError(f"{err}; derived tasks are named as `lengthgen propose TASK` lists them, "
                                  "e.g. reverse_addition-carry") from None
