"""Loading tasks by catalogue name or from a user's Python file."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from theory.catalogue import CATALOGUE, load_task
from theory.task import Task, TaskDefinitionError


def test_catalogue_names_match_tasks():
    assert {"copy", "reverse", "sort", "parity", "majority", "reverse_addition", "mqar"} <= set(CATALOGUE)
    for name, task in CATALOGUE.items():
        assert task.name == name
        assert load_task(name) is task


def test_unknown_name_lists_known_tasks():
    with pytest.raises(TaskDefinitionError, match="unknown task 'nosuch'") as info:
        load_task("nosuch")
    for name in CATALOGUE:
        assert name in str(info.value)


def test_missing_task_file(tmp_path):
    missing = tmp_path / "absent.py"
    with pytest.raises(TaskDefinitionError, match="no task file"):
        load_task(str(missing))


USER_TASK = textwrap.dedent(
    """
    import sympy as sp
    from theory.language import x, t, n
    from theory.task import Task

    TASK = Task(
        name="shift",
        description="add one to every token, modulo the alphabet",
        length_meaning="input tokens",
        rule=sp.Mod(x[n - 1 - t] + 1, 7),
        alphabet=7,
        oracle=lambda v: [(s + 1) % 7 for s in reversed(v["x"])],
    )
    """
)


def test_user_task_file_round_trip(tmp_path):
    path = tmp_path / "shift_task.py"
    path.write_text(USER_TASK)
    task = load_task(str(path))
    assert isinstance(task, Task) and task.name == "shift" and task.alphabet == 7
    inputs = task.sample(np.random.default_rng(0), 6, 11)
    sol = task.solve(inputs)
    np.testing.assert_array_equal(sol.outputs, (inputs["x"][:, ::-1] + 1) % 7)
    np.testing.assert_array_equal(sol.outputs, task.oracle_outputs(inputs))
    for tv in range(11):
        assert np.flatnonzero(sol.support[0, tv]).tolist() == [11 - 1 - tv]


def test_user_file_with_malformed_task_fails_at_load(tmp_path):
    path = tmp_path / "bad_task.py"
    path.write_text(USER_TASK.replace("x[n - 1 - t] + 1", "x[n - t] + 1"))
    with pytest.raises(TaskDefinitionError, match="reads outside the input"):
        load_task(str(path))


def test_user_file_with_two_tasks_needs_TASK(tmp_path):
    two = USER_TASK.replace("TASK = Task(", "FIRST = Task(") + USER_TASK.replace("TASK = Task(", "SECOND = Task(")
    path = tmp_path / "two_tasks.py"
    path.write_text(two)
    with pytest.raises(TaskDefinitionError, match="defines 2 tasks"):
        load_task(str(path))
    # naming one TASK resolves the ambiguity
    path.write_text(two + "\nTASK = SECOND\n")
    assert load_task(str(path)).name == "shift"


def test_user_file_with_single_unnamed_task(tmp_path):
    path = tmp_path / "one_task.py"
    path.write_text(USER_TASK.replace("TASK = Task(", "MY_TASK = Task("))
    assert load_task(str(path)).name == "shift"
