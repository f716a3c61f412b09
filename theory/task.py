"""A task definition: the rules, length parameter, operands and alphabet, validated when made.

``Task`` is the one object every other layer consumes.  From it come instances (``sample``),
outputs, intermediates and support sets of a batch (``solve``), a scalar re-evaluation of one
output over a partial instance (``evaluate``), and the checks that reject a malformed
definition at load time with a message naming the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import functools
import hashlib
from functools import cached_property
from typing import Callable

import numpy as np
import sympy as sp

from .language import INPUT_NAMES, ContentOperator, j, n, t, x, y
from .solver import Compiler, Layout, MissingRead, RuleEvaluationError, Solution, evaluate_partial, make_layout, solve
from .witness import WitnessSearch, evaluate_by_elimination, find_witnesses, witness_mask

#: lengths at which a definition is run by example when it is loaded
VALIDATION_LENGTHS = (1, 2, 3, 4, 5, 8, 13, 21, 34, 64)
#: lengths scanned for integrality of output and operand lengths
INTEGRALITY_LENGTHS = tuple(range(1, 65))
#: largest alphabet a task may declare: the model embeds every symbol, and a distinct-token sampler
#: draws a (batch, alphabet) array per operand, so 10**9 symbols would allocate tens of GiB per batch
MAX_ALPHABET = 4096


class TaskDefinitionError(ValueError):
    """A task definition is malformed; the message names the problem and the fix."""


Oracle = Callable[[dict[str, list[int]]], list[int]]
Sampler = Callable[[np.random.Generator, int, int], dict[str, np.ndarray]]


#: fields that do not change what instances or targets a task produces (text, the oracle cross-check)
_DIGEST_EXCLUDED = {"description", "length_meaning", "oracle", "solver_note", "support_note"}


def _fingerprint(value) -> str:
    """A canonical text for a definition field: sympy by ``srepr``, functions by their code and the
    values they close over, containers element-wise (so a sampler edited in a task file changes it)."""
    if isinstance(value, sp.Basic):
        return sp.srepr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_fingerprint(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_fingerprint(k)}:{_fingerprint(v)}" for k, v in sorted(value.items(), key=str)) + "}"
    if isinstance(value, functools.partial):
        return f"partial({_fingerprint(value.func)},{_fingerprint(value.args)},{_fingerprint(value.keywords)})"
    code = getattr(value, "__code__", None)
    if code is not None:
        cells = tuple(c.cell_contents for c in (value.__closure__ or ()))
        return (f"fn({value.__module__}.{value.__qualname__},{_code_fingerprint(code)},"
                f"{_fingerprint(value.__defaults__ or ())},{_fingerprint(cells)})")
    if isinstance(value, np.ndarray):
        return f"array({value.dtype},{value.shape},{hashlib.sha256(value.tobytes()).hexdigest()})"
    return repr(value)


def _code_fingerprint(code) -> str:
    consts = ",".join(_code_fingerprint(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts)
    return hashlib.sha256(code.co_code + consts.encode() + repr(code.co_names).encode()).hexdigest()[:16]


def definition_digest(task) -> str:
    """A hash of everything that determines a task's instances and targets: rules, intermediates,
    alphabets, lengths, sampler and solver code (not its description or oracle).  Run keys include
    it, so editing a task file makes its stored runs stop matching instead of being silently reused."""
    parts = [f"{type(task).__name__}"]
    for f in fields(task):
        if f.name not in _DIGEST_EXCLUDED:
            parts.append(f"{f.name}={_fingerprint(getattr(task, f.name))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class SizedTask:
    """What every task — symbolic or opaque — shares: sizes per n, the instance layout, length
    checks, generation and the oracle cross-check.  Subclasses provide ``name``, ``alphabet``,
    ``output_alphabet``, ``operand_names``, ``operand_lengths``, ``output_length``,
    ``min_length``, ``max_length``, ``oracle``, ``sample`` and ``solve``."""

    #: the error a task raises for impossible requests (opaque tasks raise a subclass)
    error: type[TaskDefinitionError] = TaskDefinitionError

    @property
    def out_alphabet(self) -> int:
        return self.output_alphabet or self.alphabet

    @property
    def symbols(self) -> int:
        """Number of token symbols any instance uses (inputs and outputs)."""
        return max(self.alphabet, self.out_alphabet)

    def r(self, n_value: int) -> int:
        """Number of output positions at length n."""
        return self._sizes(int(n_value))[1]

    @functools.lru_cache(maxsize=256)
    def _sizes(self, n_value: int) -> tuple[tuple[int, ...], int]:
        # sympy's subs is slow and these sizes are needed for every batch: compute once per n
        return (tuple(int(e.subs(n, n_value)) for e in self.operand_lengths), int(self.output_length.subs(n, n_value)))

    def operand_sizes(self, n_value: int) -> tuple[int, ...]:
        return self._sizes(int(n_value))[0]

    def input_size(self, n_value: int) -> int:
        return sum(self.operand_sizes(n_value))

    @functools.lru_cache(maxsize=256)
    def layout(self, n_value: int) -> Layout:
        return make_layout(self.operand_names, self.operand_sizes(n_value), n_value, self.r(n_value))

    def _too_long(self) -> str:
        return "is beyond what its input distribution allows"

    def check_length(self, n_value: int) -> None:
        """Raise a clear error if instances of length ``n_value`` cannot exist."""
        if not isinstance(n_value, (int, np.integer)):
            raise self.error(f"task {self.name!r}: length must be an integer, got {n_value!r}")
        if n_value < self.min_length:
            raise self.error(
                f"task {self.name!r}: length {n_value} is below its minimum {self.min_length}; use n >= {self.min_length}"
            )
        if self.max_length is not None and n_value > self.max_length:
            raise self.error(f"task {self.name!r}: length {n_value} {self._too_long()}; use n <= {self.max_length}")

    def generate(self, rng: np.random.Generator, batch: int, n_value: int,
                 support: bool = True) -> tuple[dict[str, np.ndarray], Solution]:
        inputs = self.sample(rng, batch, n_value)
        return inputs, self.solve(inputs, support)

    def length_of(self, inputs: dict[str, np.ndarray]) -> int:
        """Recover n from the first operand's size."""
        return self._length_for_size(inputs[self.operand_names[0]].shape[1])

    @functools.lru_cache(maxsize=256)
    def _length_for_size(self, size: int) -> int:
        top = self.max_length or 4 * size + 4
        for nv in range(self.min_length, top + 1):
            if self.operand_sizes(nv)[0] == size:
                return nv
        raise self.error(f"task {self.name!r}: no length n gives operand {self.operand_names[0]} {size} tokens")

    def oracle_outputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run the plain-Python oracle on every row (slow; for cross-checks only)."""
        if self.oracle is None:
            raise self.error(f"task {self.name!r} has no oracle")
        B = inputs[self.operand_names[0]].shape[0]
        rows = [self.oracle({k: v[i].tolist() for k, v in inputs.items()}) for i in range(B)]
        return np.asarray(rows, dtype=np.int64).reshape(B, -1)


@dataclass(frozen=True, eq=False)
class Task(SizedTask):
    """A sequence-to-sequence task ``y[t] = rule`` for ``t < output_length(n)``.

    Attributes:
        name: catalogue name (letters, digits, '-' or '_').
        description: one line a reader understands without the rule.
        length_meaning: what ``n`` counts (e.g. "input tokens", "digits per operand").
        rule: sympy expression for ``y[t]`` (see ``theory.language``).
        alphabet: input symbols are ``0 .. alphabet-1``.
        operands: the input sequences, in serialization order.
        operand_lengths: each operand's length as an expression in ``n`` (default ``n``).
        output_length: ``r(n)``, an expression in ``n``.
        intermediates: ``(sequence, rule)`` pairs, evaluated at each ``t`` in order before ``y[t]``.
        distinct: inputs are drawn without repetition within each operand.
        output_alphabet: outputs must lie in ``0 .. output_alphabet-1`` (default: alphabet).
        initial: the value read for ``y[s]`` with ``s < 0``.
        intermediate_initial: the value read for an intermediate at a negative index (one value
            for all, or a dict name -> value).
        sampler: a custom input distribution ``(rng, batch, n) -> {operand: (batch, size)}``
            for tasks whose inputs carry planted structure (a key that occurs, k marks); the
            rules still define every output.
        oracle: an independent plain-Python solver, used to cross-check the rules.
        min_length: smallest admissible ``n``.
        max_length: largest admissible ``n`` (default: unbounded, or what ``distinct`` allows).
    """

    name: str
    description: str
    length_meaning: str
    rule: sp.Basic
    alphabet: int
    operands: tuple[sp.IndexedBase, ...] = (x,)
    operand_lengths: tuple[sp.Expr, ...] | None = None
    output_length: sp.Expr = n
    intermediates: tuple[tuple[sp.IndexedBase, sp.Basic], ...] = ()
    distinct: bool = False
    output_alphabet: int | None = None
    initial: int = -1
    intermediate_initial: int | dict[str, int] = 0
    sampler: Sampler | None = field(default=None, repr=False)
    oracle: Oracle | None = field(default=None, repr=False)
    min_length: int = 1
    max_length: int | None = None

    def __post_init__(self) -> None:
        _validate_limits(self)  # before any work that sizes or loops by these numbers
        if isinstance(self.intermediates, dict):
            object.__setattr__(self, "intermediates", tuple(self.intermediates.items()))
        if self.operand_lengths is None:
            object.__setattr__(self, "operand_lengths", tuple(n for _ in self.operands))
        object.__setattr__(self, "operand_lengths", tuple(sp.sympify(e) for e in self.operand_lengths))
        object.__setattr__(self, "output_length", sp.sympify(self.output_length))
        if self.max_length is None and self.distinct:
            object.__setattr__(self, "max_length", self._largest_distinct_length())
        _validate(self)

    # ------------------------------------------------------------------ sizes
    @cached_property  # sympy's str() per generate() was a fifth of sampling; the task is frozen
    def operand_names(self) -> tuple[str, ...]:
        return tuple(str(op) for op in self.operands)

    def _largest_distinct_length(self) -> int:
        best = 0
        for nv in range(1, 4 * self.alphabet + 2):
            if max(int(e.subs(n, nv)) for e in self.operand_lengths) > self.alphabet:
                break
            best = nv
        return best

    def _too_long(self) -> str:
        return (f"needs more distinct tokens than the alphabet's {self.alphabet}" if self.distinct
                else "is beyond what its input distribution allows")

    # ------------------------------------------------------------------ instances
    @cached_property
    def _compiled(self):
        compiler = Compiler(self.operand_names, tuple(str(s) for s, _ in self.intermediates))
        return compiler.compile(self.rule), [(str(s), compiler.compile(e)) for s, e in self.intermediates]

    @cached_property  # as operand_names (callers only read it)
    def _initials(self) -> dict[str, int]:
        return {str(y): self.initial, **{str(s): self.initial_of(str(s)) for s, _ in self.intermediates}}

    def initial_of(self, intermediate: str) -> int:
        """The value an intermediate reads at a negative index."""
        if isinstance(self.intermediate_initial, dict):
            return int(self.intermediate_initial.get(intermediate, 0))
        return int(self.intermediate_initial)

    def sample(self, rng: np.random.Generator, batch: int, n_value: int) -> dict[str, np.ndarray]:
        """Draw ``batch`` inputs of length ``n_value``: operand name -> (batch, size) int64."""
        self.check_length(n_value)
        if self.sampler is not None:
            return self.sampler(rng, batch, n_value)
        out = {}
        for name, size in zip(self.operand_names, self.operand_sizes(n_value)):
            if self.distinct:
                # argsort of uniform noise = a random permutation per row, vectorized
                out[name] = np.argsort(rng.random((batch, self.alphabet)), axis=1)[:, :size].astype(np.int64)
            else:
                out[name] = rng.integers(0, self.alphabet, size=(batch, size), dtype=np.int64)
        return out

    @cached_property
    def witness_search(self) -> WitnessSearch:
        """Witnesses of the recurrent intermediates (``theory.witness``), searched once per task."""
        return find_witnesses(self)

    def solve(self, inputs: dict[str, np.ndarray], support: bool | str = True) -> Solution:
        """Outputs, support sets and intermediates of a batch of inputs (all of one length).

        ``support``: ``True`` or ``"visible"`` gives each output's minimal visible support (hidden
        recurrences charged to the confirmed witnesses of ``theory.witness``; what the AGK bound and
        restrictions use); ``"provenance"`` the support by provenance through every intermediate;
        ``False`` none (training batches of the primary need only outputs).
        """
        if support not in (True, False, "visible", "provenance"):
            raise ValueError(f"support must be True, False, 'visible' or 'provenance', got {support!r}")
        n_value = self.length_of(inputs)
        layout = self.layout(n_value)
        rule, intermediates = self._compiled
        witnesses = None
        if support in (True, "visible"):
            witnesses = {w.intermediate: witness_mask(w.reads, layout) for w in self.witness_search.witnesses}
        return solve(rule, intermediates, inputs, layout, self._initials, track=bool(support), witnesses=witnesses)

    def evaluate(self, view: dict[int, int], t_value: int, n_value: int) -> int:
        """Re-evaluate output ``t`` from the definition over a partial instance (index -> token).

        Where the view lacks the history of a witnessed intermediate (a restriction keeps only the
        visible support), the hidden state is eliminated through the earlier outputs the view holds
        (``theory.witness.evaluate_by_elimination``); an undetermined output raises ``MissingRead``.
        """
        try:
            return evaluate_partial(self.rule, [(str(s), e) for s, e in self.intermediates], view,
                                    self.layout(n_value), t_value, self._initials)
        except MissingRead as missing:
            if missing.candidate or not self.witness_search.witnesses:
                raise
        return evaluate_by_elimination(self, self.witness_search, view, t_value, n_value)

# ---------------------------------------------------------------------------- validation


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _validate_limits(task: Task) -> None:
    """Types and ranges of the plain-number fields, checked before anything is sized by them."""
    where = f"task {task.name!r}"
    if not _is_int(task.alphabet) or not 2 <= task.alphabet <= MAX_ALPHABET:
        raise TaskDefinitionError(f"{where}: alphabet must be an integer >= 2 and <= {MAX_ALPHABET}, got {task.alphabet!r} "
                                  "(every symbol gets an embedding, and distinct sampling draws batch x alphabet)")
    if task.output_alphabet is not None and (not _is_int(task.output_alphabet)
                                             or not 1 <= task.output_alphabet <= MAX_ALPHABET):
        raise TaskDefinitionError(f"{where}: output_alphabet must be an integer in 1..{MAX_ALPHABET} (or None), "
                                  f"got {task.output_alphabet!r}")
    if not _is_int(task.min_length) or task.min_length < 1:
        raise TaskDefinitionError(f"{where}: min_length must be an integer >= 1, got {task.min_length!r}")
    if task.max_length is not None and (not _is_int(task.max_length) or task.max_length < task.min_length):
        raise TaskDefinitionError(f"{where}: max_length must be an integer >= min_length ({task.min_length}) or None, "
                                  f"got {task.max_length!r}")
    if not isinstance(task.distinct, (bool, np.bool_)):
        raise TaskDefinitionError(f"{where}: distinct must be True or False, got {task.distinct!r}")
    if not _is_int(task.initial):
        raise TaskDefinitionError(f"{where}: initial must be an integer, got {task.initial!r}")
    if task.operand_lengths is not None and not isinstance(task.operand_lengths, (tuple, list)):
        raise TaskDefinitionError(f"{where}: operand_lengths must be a tuple (one length per operand), "
                                  f"got {task.operand_lengths!r}")
    lengths = [("output_length", task.output_length)] + [
        (f"operand_lengths[{i}]", e) for i, e in enumerate(task.operand_lengths or ())]
    for label, expr in lengths:
        if not (_is_int(expr) or isinstance(expr, sp.Expr)):
            raise TaskDefinitionError(f"{where}: {label} must be an integer or a sympy expression in n (e.g. 2*n + 1), "
                                      f"got {type(expr).__name__} {expr!r}")


def _validate(task: Task) -> None:
    where = f"task {task.name!r}"
    if task.distinct and task.max_length is not None and task.max_length < task.min_length:
        raise TaskDefinitionError(f"{where}: distinct tokens need an alphabet of at least the input size, but the "
                                  f"alphabet {task.alphabet} is too small at n = min_length = {task.min_length}; "
                                  "enlarge the alphabet or lower min_length")
    if not task.name or not task.name.replace("_", "").replace("-", "").isalnum():
        raise TaskDefinitionError(f"{where}: the name must be letters, digits, '-' or '_'")
    if not isinstance(task.alphabet, int) or task.alphabet < 2:
        raise TaskDefinitionError(f"{where}: alphabet must be an integer >= 2, got {task.alphabet!r}")
    rules = [("y[t]", task.rule)] + [(f"{s}[t]", e) for s, e in task.intermediates]
    for label, rule in rules:
        if not isinstance(rule, sp.Basic):
            raise TaskDefinitionError(f"{where}: the rule for {label} must be a sympy expression, got {type(rule).__name__}")
    operand_names = set(task.operand_names)
    for name in operand_names:
        if name not in INPUT_NAMES:
            raise TaskDefinitionError(f"{where}: operand {name} is not an input sequence; use {', '.join(INPUT_NAMES)}")
    inter_names = [str(s) for s, _ in task.intermediates]
    for name in inter_names:
        if name in INPUT_NAMES or name == str(y):
            raise TaskDefinitionError(f"{where}: intermediate {name!r} clashes with a sequence of the language; rename it")
    if len(set(inter_names)) != len(inter_names):
        raise TaskDefinitionError(f"{where}: an intermediate is defined twice")
    known = operand_names | set(inter_names) | {str(y)}
    for label, rule in rules:
        for base in rule.atoms(sp.IndexedBase):
            if str(base) not in known:
                hint = ("declare operands=(...)" if str(base) in INPUT_NAMES
                        else "declare it in intermediates=... or use x, a, b, q (inputs) and y (outputs)")
                raise TaskDefinitionError(f"{where}: {label} reads unknown sequence {base}; {hint}")
        labels = {s.label for s in rule.atoms(sp.IndexedBase)} | set(rule.atoms(sp.IndexedBase))
        unknown = {s for s in rule.free_symbols if isinstance(s, sp.Symbol) and s not in {t, n, j} and s not in labels}
        if unknown:
            raise TaskDefinitionError(f"{where}: {label} uses unknown symbol(s) {', '.join(sorted(map(str, unknown)))}; "
                                      "rules may use t (output index), n (length) and j (bound by a content operator)")
        _validate_bound_index(rule, f"{where}: {label}")
    for label, expr in [("output_length", task.output_length)] + [
            (f"length of {name}", e) for name, e in zip(task.operand_names, task.operand_lengths)]:
        if expr.free_symbols - {n}:
            raise TaskDefinitionError(f"{where}: {label} may only depend on n, got {expr}")
        top = task.max_length or INTEGRALITY_LENGTHS[-1]
        for nv in (v for v in INTEGRALITY_LENGTHS if task.min_length <= v <= top):
            value = expr.subs(n, nv)
            if not (value.is_integer and value >= 1):
                raise TaskDefinitionError(f"{where}: {label} {expr} is {value} at n={nv}; it must be a positive "
                                          "integer for every n (use floor/ceiling or restrict n with min_length)")
    _validate_by_example(task, where)


def _validate_bound_index(rule: sp.Basic, where: str) -> None:
    """``j`` may appear only inside a content operator, and operators may not nest."""
    def visit(e: sp.Basic, inside: bool) -> None:
        if isinstance(e, ContentOperator):
            if inside:
                raise TaskDefinitionError(f"{where}: content operators may not be nested ({e}); name the inner one "
                                          "as an intermediate")
            if e.bound != j:
                raise TaskDefinitionError(f"{where}: content operators bind j, got {e.bound}")
            if j in e.size.free_symbols:
                raise TaskDefinitionError(f"{where}: the range of j in {e} may not depend on j")
            for arg in e.args[1:]:
                visit(arg, True)
            return
        if e == j and not inside:
            raise TaskDefinitionError(f"{where}: j is used outside a content operator; j is bound by "
                                      "MinOver/MaxOver/FirstWhere/LastWhere/CountWhere/SumWhere")
        for arg in e.args:
            visit(arg, inside)

    visit(rule, False)


def _validate_by_example(task: Task, where: str) -> None:
    """Run the rules on random instances of several lengths: index ranges, causality, alphabet."""
    rng = np.random.default_rng(0)
    top = task.max_length or VALIDATION_LENGTHS[-1]
    lengths = [nv for nv in VALIDATION_LENGTHS if task.min_length <= nv <= top] or [task.min_length]
    for nv in lengths:
        try:
            inputs = task.sample(rng, 8, nv)
        except TaskDefinitionError:
            raise
        except Exception as err:  # a user sampler that breaks is a definition error, named as such
            raise TaskDefinitionError(f"{where}: its sampler failed at n={nv}: {type(err).__name__}: {err}") from None
        for name, size in zip(task.operand_names, task.operand_sizes(nv)):
            arr = inputs.get(name)
            if arr is None or arr.shape != (8, size):
                raise TaskDefinitionError(f"{where}: its sampler must return {name} of shape (batch, {size}) at n={nv}")
            if arr.min() < 0 or arr.max() >= task.alphabet:
                raise TaskDefinitionError(f"{where}: its sampler produced {name} tokens outside 0..{task.alphabet - 1}")
        try:
            sol = task.solve(inputs, support="provenance")
        except RuleEvaluationError as err:
            raise TaskDefinitionError(f"{where}: at n={nv}: {err}") from None
        bad = (sol.outputs < 0) | (sol.outputs >= task.out_alphabet)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise TaskDefinitionError(
                f"{where}: at n={nv} the rule produces y[{col}] = {int(sol.outputs[row, col])}, outside the output "
                f"alphabet 0..{task.out_alphabet - 1}; fix the rule or declare output_alphabet"
            )
