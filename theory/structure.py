"""The structure profile of a task, computed from its definition (never written per task).

* sparsity: the largest support set |S_t| seen at each length, and whether it stays bounded
  as n grows (the k of k-sparse);
* dependency kinds: each sequence read of the rule is a fixed offset from ``t``, depends on
  ``n``, or is chosen by content (inside a content operator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .language import ContentOperator, n, t
from .task import Task

PROFILE_LENGTHS = (4, 8, 16, 32)


@dataclass(frozen=True)
class Dependency:
    read: str  # e.g. "x[n - t - 1]"
    kind: str  # "fixed offset from t" | "depends on n" | "chosen by content" | "data-dependent index"


@dataclass(frozen=True)
class StructureProfile:
    task: str
    support_sizes: dict[int, int]  # n -> max |S_t| over sampled instances
    bounded: bool
    dependencies: tuple[Dependency, ...]

    @property
    def k(self) -> int:
        return max(self.support_sizes.values())

    def summary(self) -> str:
        kinds = sorted({d.kind for d in self.dependencies})
        bound = f"k = {self.k}" if self.bounded else f"unbounded (|S_t| up to {self.k})"
        return f"{self.task}: sparsity {bound}; dependencies: {', '.join(kinds) or 'none'}"


def dependencies(rule: sp.Basic) -> tuple[Dependency, ...]:
    found: list[Dependency] = []

    def visit(e: sp.Basic, inside: bool) -> None:
        if isinstance(e, ContentOperator):
            for arg in e.args[1:]:
                visit(arg, True)
            return
        if isinstance(e, sp.Indexed):
            (idx,) = e.indices
            if inside and e.free_symbols & {sp.Symbol("j", integer=True)}:
                kind = "chosen by content"
            elif idx.atoms(sp.Indexed):
                kind = "data-dependent index"
            elif n in idx.free_symbols:
                kind = "depends on n"
            else:
                kind = "fixed offset from t" if (idx - t).is_number else "depends on t non-linearly"
            found.append(Dependency(str(e), kind))
        for arg in e.args:
            visit(arg, inside)

    visit(rule, False)
    return tuple(found)


def structure_profile(task: Task, samples: int = 64, seed: int = 0) -> StructureProfile:
    rng = np.random.default_rng(seed)
    sizes = {}
    for nv in PROFILE_LENGTHS:
        if task.max_length is not None and nv > task.max_length:
            continue
        sol = task.solve(task.sample(rng, samples, nv))
        sizes[nv] = int(sol.support.sum(axis=2).max())
    values = [sizes[k] for k in sorted(sizes)]
    # bounded if the support stops growing over the longer half of the probed lengths
    bounded = len(values) < 2 or values[-1] <= values[len(values) // 2]
    return StructureProfile(task.name, sizes, bounded, dependencies(task.rule))
