"""Suites: named, versioned lists of runs plus the settings their report needs.

A suite is code in the repository, not settings in an issue thread: every number in a committed
report comes from a suite defined here.  Choices below were made before looking at any test
length: position schemes follow the in-distribution fitting times in FEASIBILITY.md §5 (the
scheme that fits the training range fastest for each task), the step budget follows the
10-minute target for the default suite on 2 cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from auxtasks.derive import restriction_defaults
from auxtasks.derive import resolve_task

from .spec import RunSpec, TrainConfig


class SuiteError(ValueError):
    """Unknown suite or impossible suite settings."""


def run_lengths(task, train_max: int, test_max: int) -> dict:
    """The length fields of a RunSpec: train from the task's minimum to ``train_max``, test at every
    length up to ``test_max`` (capped by what the task admits), restrictions at their defaults."""
    m, restriction_lengths = restriction_defaults(task, train_max)
    top = min(test_max, task.max_length or test_max)
    return {"train_lengths": (task.min_length, train_max), "test_lengths": tuple(range(task.min_length, top + 1)),
            "restriction_m": m, "restriction_lengths": restriction_lengths}


def default_position_scheme(profile) -> str:
    """The scheme quick experiments (screens, theorems) use, chosen from the structure alone.

    Content-selected C-RASP tasks fit fastest without positions (sort with NoPE in FEASIBILITY §5);
    everything that reads by position gets RoPE.
    """
    return "none" if profile.crasp.member and profile.coupling.index is None else "rope"


@dataclass(frozen=True)
class TaskPlan:
    task: str
    position_scheme: str
    why: str


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    plans: tuple[TaskPlan, ...]
    seeds: tuple[int, ...]
    train_max: int  # n: the primary trains at lengths 1..n
    test_factor: int  # evaluate at every length 1..test_factor·n
    steps: int
    layers: int = 2
    d_model: int = 64
    heads: int = 4
    delta: float = 0.2  # error level for certified / measured extrapolation lengths
    fit_threshold: float = 0.9  # validation exact match below this = failed to fit the training range
    eval_instances: int = 512
    eval_every: int = 250

    @property
    def test_lengths(self) -> tuple[int, ...]:
        return tuple(range(1, self.test_factor * self.train_max + 1))

    #: condition label -> auxiliary families mixed in (names are derived per task: "{task}-restriction")
    conditions: tuple[tuple[str, tuple[str, ...]], ...] = (("primary", ()), ("primary+restriction", ("restriction",)))

    def runs(self) -> list[RunSpec]:
        specs = []
        for plan in self.plans:
            lengths = run_lengths(resolve_task(plan.task), self.train_max, max(self.test_lengths))
            for condition, families in self.conditions:
                for seed in self.seeds:
                    specs.append(RunSpec(
                        task=plan.task, condition=condition, seed=seed,
                        auxiliaries=tuple(f"{plan.task}-{family}" for family in families),
                        **lengths, layers=self.layers, d_model=self.d_model, heads=self.heads,
                        position_scheme=plan.position_scheme,
                        train=TrainConfig(steps=self.steps, eval_every=self.eval_every, data_seed=1000 + seed,
                                          model_seed=seed,
                                          max_position_offset=32 if plan.position_scheme in ("learned", "coupled") else 0),
                        eval_instances=self.eval_instances,
                    ))
        return specs


SUITES: dict[str, Suite] = {
    "default": Suite(
        name="default",
        description="reverse and sort, primary alone vs primary + restriction auxiliaries (AGK 2025)",
        plans=(
            TaskPlan("reverse", "rope", "RoPE fits reversal fastest in-distribution (FEASIBILITY §5); NoPE cannot fit it"),
            TaskPlan("sort", "none", "NoPE fits sorting fastest in-distribution (FEASIBILITY §5)"),
        ),
        seeds=(0, 1, 2),
        train_max=8,
        test_factor=3,
        steps=2000,
    ),
    # the smallest suite that exercises every stage; used by the end-to-end test
    "smoke": Suite(
        name="smoke",
        description="pipeline check: tiny models, few steps (numbers are not meaningful)",
        plans=(TaskPlan("reverse", "rope", "pipeline check"),),
        seeds=(0, 1),
        train_max=3,
        test_factor=2,
        steps=30,
        layers=1,
        d_model=32,
        heads=2,
        eval_instances=64,
        eval_every=15,
    ),
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise SuiteError(f"unknown suite {name!r}; available suites: {', '.join(SUITES)}")
    return SUITES[name]
