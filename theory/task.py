"""A task definition: the rule, its length parameter and alphabet, validated when it is made.

``Task`` is the one object every other layer consumes.  From it come instances (``sample``),
the outputs and support sets of a batch (``solve``), a scalar re-evaluation of one output over a
partial instance (``evaluate``), and the checks that reject a malformed definition at load time
with a message naming the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import sympy as sp

from .language import ContentOperator, a, b, j, n, t, x, y
from .solver import RuleEvaluationError, Solution, compile_rule, evaluate_partial, solve

#: lengths at which a definition is checked symbolically-by-example when it is loaded
VALIDATION_LENGTHS = tuple(range(1, 65))


class TaskDefinitionError(ValueError):
    """A task definition is malformed; the message names the problem and the fix."""


Oracle = Callable[[dict[str, list[int]]], list[int]]


@dataclass(frozen=True, eq=False)
class Task:
    """A sequence-to-sequence task ``y[t] = rule`` for ``t < output_length(n)``.

    Attributes:
        name: catalogue name (lower case, no spaces).
        description: one line a reader understands without the rule.
        length_meaning: what ``n`` counts (e.g. "input tokens").
        rule: sympy expression for ``y[t]`` (see ``theory.language``).
        alphabet: input symbols are ``0 .. alphabet-1``.
        operands: the input operands, each of length ``n``.
        output_length: ``r(n)``, a sympy expression in ``n``.
        distinct: inputs are drawn without repetition (requires ``n <= alphabet``).
        output_alphabet: outputs must lie in ``0 .. output_alphabet-1`` (default: alphabet).
        initial: the value read for ``y[s]`` with ``s < 0`` (before the first output).
        oracle: an independent plain-Python solver, used to cross-check the rule.
    """

    name: str
    description: str
    length_meaning: str
    rule: sp.Basic
    alphabet: int
    operands: tuple[sp.IndexedBase, ...] = (x,)
    output_length: sp.Expr = n
    distinct: bool = False
    output_alphabet: int | None = None
    initial: int = -1
    oracle: Oracle | None = field(default=None, repr=False)
    min_length: int = 1

    def __post_init__(self) -> None:
        _validate(self)

    # ------------------------------------------------------------------ sizes
    @property
    def max_length(self) -> int | None:
        """Largest admissible n (only distinct-token tasks have one)."""
        return self.alphabet if self.distinct else None

    @property
    def out_alphabet(self) -> int:
        return self.output_alphabet or self.alphabet

    def r(self, n_value: int) -> int:
        """Number of output positions at length n."""
        return int(self.output_length.subs(n, n_value))

    def input_size(self, n_value: int) -> int:
        return len(self.operands) * n_value

    def check_length(self, n_value: int) -> None:
        """Raise a clear error if instances of length ``n_value`` cannot exist."""
        if n_value < self.min_length:
            raise TaskDefinitionError(
                f"task {self.name!r}: length {n_value} is below its minimum {self.min_length}; use n >= {self.min_length}"
            )
        if self.max_length is not None and n_value > self.max_length:
            raise TaskDefinitionError(
                f"task {self.name!r}: length {n_value} needs {n_value} distinct tokens but the alphabet has "
                f"{self.alphabet}; use n <= {self.max_length} or a larger alphabet"
            )

    # ------------------------------------------------------------------ instances
    @cached_property
    def _compiled(self):
        return compile_rule(self.rule)

    def sample(self, rng: np.random.Generator, batch: int, n_value: int) -> dict[str, np.ndarray]:
        """Draw ``batch`` inputs of length ``n_value``: operand name -> (batch, n) int64."""
        self.check_length(n_value)
        out = {}
        for op in self.operands:
            if self.distinct:
                # argsort of uniform noise = a random permutation per row, vectorized
                perm = np.argsort(rng.random((batch, self.alphabet)), axis=1)[:, :n_value]
                out[str(op)] = perm.astype(np.int64)
            else:
                out[str(op)] = rng.integers(0, self.alphabet, size=(batch, n_value), dtype=np.int64)
        return out

    def solve(self, inputs: dict[str, np.ndarray]) -> Solution:
        """Outputs and support sets of a batch of inputs (all of one length)."""
        n_value = next(iter(inputs.values())).shape[1]
        order = tuple(str(op) for op in self.operands)
        return solve(self._compiled, inputs, order, n_value, self.r(n_value), self.initial)

    def evaluate(self, view: dict[int, int], t_value: int, n_value: int) -> int:
        """Re-evaluate output ``t`` from the definition over a partial instance (index -> token)."""
        offsets = {str(op): k * n_value for k, op in enumerate(self.operands)}
        return evaluate_partial(self.rule, view, offsets, self.input_size(n_value), t_value, n_value, self.initial)

    def oracle_outputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Run the plain-Python oracle on every row (slow; for cross-checks only)."""
        if self.oracle is None:
            raise TaskDefinitionError(f"task {self.name!r} has no oracle")
        B = next(iter(inputs.values())).shape[0]
        rows = [self.oracle({k: v[i].tolist() for k, v in inputs.items()}) for i in range(B)]
        return np.asarray(rows, dtype=np.int64).reshape(B, -1)


# ---------------------------------------------------------------------------- validation

_ALLOWED_BASES = {str(x), str(a), str(b), str(y)}


def _validate(task: Task) -> None:
    where = f"task {task.name!r}"
    if not task.name or not task.name.replace("_", "").replace("-", "").isalnum():
        raise TaskDefinitionError(f"{where}: the name must be letters, digits, '-' or '_'")
    if not isinstance(task.alphabet, int) or task.alphabet < 2:
        raise TaskDefinitionError(f"{where}: alphabet must be an integer >= 2, got {task.alphabet!r}")
    if not isinstance(task.rule, sp.Basic):
        raise TaskDefinitionError(f"{where}: the rule must be a sympy expression, got {type(task.rule).__name__}")
    operand_names = {str(o) for o in task.operands}
    for base in task.rule.atoms(sp.IndexedBase):
        if str(base) not in _ALLOWED_BASES:
            raise TaskDefinitionError(f"{where}: unknown sequence {base}; rules read x, a, b (inputs) and y (outputs)")
        if str(base) != str(y) and str(base) not in operand_names:
            raise TaskDefinitionError(
                f"{where}: the rule reads {base} but the operands are {sorted(operand_names)}; declare operands=(...)"
            )
    allowed = {t, n, j}
    unknown = {s for s in task.rule.free_symbols if isinstance(s, sp.Symbol) and s not in allowed}
    unknown -= {s for s in task.rule.atoms(sp.IndexedBase)} | {s.label for s in task.rule.atoms(sp.IndexedBase)}
    if unknown:
        raise TaskDefinitionError(f"{where}: unknown symbol(s) {sorted(map(str, unknown))}; rules may use t, n and j")
    _validate_bound_index(task, where)
    if not isinstance(task.output_length, sp.Basic):
        object.__setattr__(task, "output_length", sp.sympify(task.output_length))
    if task.output_length.free_symbols - {n}:
        raise TaskDefinitionError(f"{where}: output_length may only depend on n, got {task.output_length}")
    for nv in VALIDATION_LENGTHS:
        r = task.output_length.subs(n, nv)
        if not (r.is_integer and r >= 1):
            raise TaskDefinitionError(
                f"{where}: output_length {task.output_length} is {r} at n={nv}; it must be a positive integer for every n"
            )
    _validate_by_example(task, where)


def _validate_bound_index(task: Task, where: str) -> None:
    """``j`` may appear only inside a content operator, and operators may not nest."""
    def visit(e: sp.Basic, inside: bool) -> None:
        if isinstance(e, ContentOperator):
            if inside:
                raise TaskDefinitionError(f"{where}: content operators may not be nested ({e})")
            if e.bound != j:
                raise TaskDefinitionError(f"{where}: content operators bind j, got {e.bound}")
            for arg in e.args[1:]:
                visit(arg, True)
            return
        if e == j and not inside:
            raise TaskDefinitionError(f"{where}: j is used outside a content operator; j is bound by MinOver/FirstWhere/...")
        for arg in e.args:
            visit(arg, inside)

    visit(task.rule, False)


def _validate_by_example(task: Task, where: str) -> None:
    """Run the rule on random instances of several lengths: index ranges, causality, alphabet."""
    rng = np.random.default_rng(0)
    lengths = [nv for nv in (1, 2, 3, 5, 8, 13, 21, 34, 64) if nv >= task.min_length]
    if task.max_length is not None:
        lengths = [nv for nv in lengths if nv <= task.max_length]
    for nv in lengths:
        try:
            sol = task.solve(task.sample(rng, 8, nv))
        except RuleEvaluationError as err:
            raise TaskDefinitionError(f"{where}: at n={nv}: {err}") from None
        bad = (sol.outputs < 0) | (sol.outputs >= task.out_alphabet)
        if bad.any():
            value = int(sol.outputs[bad][0])
            raise TaskDefinitionError(
                f"{where}: at n={nv} the rule produces {value}, outside the output alphabet 0..{task.out_alphabet - 1}; "
                "fix the rule or declare output_alphabet"
            )
