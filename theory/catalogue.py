"""The catalogue of named tasks, and loading a task by name or from a user's Python file.

Every catalogue task carries an independent plain-Python oracle, so its rule is checked against
the way a person would write the task by hand.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from .language import MinOver, j, n, t, x, y
from .task import Task, TaskDefinitionError

COPY = Task(
    name="copy",
    description="copy the input sequence",
    length_meaning="input tokens",
    rule=x[t],
    alphabet=10,
    oracle=lambda v: list(v["x"]),
)

REVERSE = Task(
    name="reverse",
    description="write the input sequence backwards",
    length_meaning="input tokens",
    rule=x[n - 1 - t],
    alphabet=10,
    oracle=lambda v: list(reversed(v["x"])),
)

SORT = Task(
    name="sort",
    description="sort distinct tokens ascending (each output is the successor of the previous one)",
    length_meaning="input tokens (distinct)",
    # y[t] = the smallest input greater than y[t-1]; y[-1] reads -1, so y[0] is the minimum
    rule=MinOver(j, x[j], x[j] > y[t - 1]),
    alphabet=32,
    distinct=True,
    oracle=lambda v: sorted(v["x"]),
)

CATALOGUE: dict[str, Task] = {task.name: task for task in (COPY, REVERSE, SORT)}


def load_task(name_or_path: str) -> Task:
    """A catalogue task by name, or the task defined in a Python file (``TASK = Task(...)``)."""
    if name_or_path in CATALOGUE:
        return CATALOGUE[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".py":
        if not path.is_file():
            raise TaskDefinitionError(f"no task file at {path}; give a catalogue name ({', '.join(CATALOGUE)}) or a .py file")
        namespace = runpy.run_path(str(path))
        tasks = [v for v in namespace.values() if isinstance(v, Task)]
        if "TASK" in namespace and isinstance(namespace["TASK"], Task):
            return namespace["TASK"]
        if len(tasks) == 1:
            return tasks[0]
        raise TaskDefinitionError(f"{path} defines {len(tasks)} tasks; name the one to use TASK = Task(...)")
    raise TaskDefinitionError(f"unknown task {name_or_path!r}; known tasks: {', '.join(CATALOGUE)} (or a path to a .py file)")
