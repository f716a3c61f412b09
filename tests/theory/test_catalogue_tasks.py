"""Every catalogue task: rules vs oracle, the two evaluators agree, supports suffice, profiles."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from theory.catalogue import CATALOGUE, load_task
from theory.structure import structure_profile
from theory.task import TaskDefinitionError

NAMES = sorted(CATALOGUE)


def _lengths(task, top=20):
    hi = min(task.max_length or top, top)
    return st.integers(task.min_length, hi)


@pytest.mark.parametrize("name", NAMES)
def test_rules_match_the_oracle(name):
    task = CATALOGUE[name]

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(seed=st.integers(0, 2**32 - 1), n_value=_lengths(task))
    def check(seed, n_value):
        inputs, sol = task.generate(np.random.default_rng(seed), 16, n_value)
        np.testing.assert_array_equal(sol.outputs, task.oracle_outputs(inputs))

    check()


@pytest.mark.parametrize("name", NAMES)
def test_scalar_interpreter_agrees_and_supports_suffice(name):
    """Evaluate every output over the full instance and over its support set alone."""
    task = CATALOGUE[name]
    rng = np.random.default_rng(11)
    for n_value in sorted({task.min_length, min(7, task.max_length or 7)}):
        inputs, sol = task.generate(rng, 4, n_value)
        for row in range(4):
            instance = np.concatenate([inputs[o][row] for o in task.operand_names] + [sol.outputs[row]])
            full = dict(enumerate(instance.tolist()))
            for tv in range(task.r(n_value)):
                assert task.evaluate(full, tv, n_value) == sol.outputs[row, tv]
                kept = {u: full[u] for u in np.flatnonzero(sol.support[row, tv])}
                assert task.evaluate(kept, tv, n_value) == sol.outputs[row, tv], (name, n_value, tv)


# (k when bounded else None, C-RASP member, a dependency kind that must appear)
PROFILES = {
    "copy": (1, False, "fixed offset from t"),
    "reverse": (1, False, "depends on n"),
    "unique_copy": (3, True, "chosen by content"),
    "repeat_copy": (1, False, "fixed offset from t"),
    "sort": (2, True, "chosen by content"),
    "sort_repeats": (None, True, "chosen by content"),
    # bounded only on the minimal visible support: the carry is witnessed by y[t-1], a[t-1], b[t-1]
    "reverse_addition": (5, False, "fixed offset from t"),
    "carry_only": (3, False, "fixed offset from t"),
    "reverse_subtraction": (5, False, "fixed offset from t"),
    "multiply_by_3": (3, False, "fixed offset from t"),
    "binary_increment": (3, False, "fixed offset from t"),
    "no_carry_sum": (2, False, "fixed offset from t"),
    "parity": (None, False, "chosen by content"),
    "running_parity": (2, False, "fixed offset from t"),
    "majority": (None, True, "chosen by content"),
    "binary_majority": (None, True, "chosen by content"),
    "sparse_parity_k3": (3, False, "chosen by content"),
    "capitalize_reverse": (1, False, "depends on n"),
    "retrieve_right": (3, True, "chosen by content"),
    "retrieve_first": (3, True, "chosen by content"),
    "retrieve_last": (3, True, "chosen by content"),
    "passkey": (2, True, "chosen by content"),
    "mqar": (3, False, "chosen by content"),
}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_structure_profile(name):
    k, crasp, kind = PROFILES[name]
    profile = structure_profile(CATALOGUE[name])
    assert profile.bounded == (k is not None)
    if k is not None:
        assert profile.k == k
    assert profile.crasp.member == crasp, profile.crasp.summary()
    assert kind in {d.kind for d in profile.dependencies}


@pytest.mark.parametrize("n_value", [4, 5, 9, 20, 34])
def test_retrieve_first_and_last_disagree_on_a_query_that_occurs_twice(n_value):
    """Born a Transformer (2025): the same instances, answered at the first vs the last occurrence."""
    first, last = CATALOGUE["retrieve_first"], CATALOGUE["retrieve_last"]
    inputs = first.sample(np.random.default_rng(n_value), 64, n_value)
    again = last.sample(np.random.default_rng(n_value), 64, n_value)
    np.testing.assert_array_equal(inputs["x"], again["x"])  # one sampler, deterministic from the rng
    xs = inputs["x"]
    body, query = xs[:, :-1], xs[:, -1:]
    assert xs.shape == (64, n_value)
    hits = body == query
    assert (hits.sum(axis=1) == 2).all()  # the query occurs exactly twice in the body
    assert (~hits[:, -1]).all()  # ... both times before the body's last token, so x[p + 1] is in the body
    assert all(len(set(row.tolist())) == n_value - 2 for row in body)  # n - 2 distinct tokens in the body
    out_first, out_last = first.solve(inputs).outputs, last.solve(inputs).outputs
    np.testing.assert_array_equal(out_first, first.oracle_outputs(inputs))
    np.testing.assert_array_equal(out_last, last.oracle_outputs(inputs))
    assert (out_first != out_last).all()
    p1, p2 = hits.argmax(axis=1), n_value - 2 - hits[:, ::-1].argmax(axis=1)
    rows = np.arange(64)
    np.testing.assert_array_equal(out_first[:, 0], xs[rows, p1 + 1])
    np.testing.assert_array_equal(out_last[:, 0], xs[rows, p2 + 1])


def test_retrieve_first_and_last_lengths():
    for name in ("retrieve_first", "retrieve_last"):
        task = CATALOGUE[name]
        assert (task.min_length, task.max_length) == (4, 34)
        with pytest.raises(TaskDefinitionError):
            task.check_length(3)
        with pytest.raises(TaskDefinitionError):
            task.check_length(35)


#: tasks written through a hidden recurrence: unbounded by provenance, bounded on the visible support,
#: with the witness (which earlier output stands for which intermediate)
WITNESSED = {
    "reverse_addition": "carry[t] ← y[t - 1], a[t - 1], b[t - 1]",
    "carry_only": "carry[t] ← y[t - 1]",
    "reverse_subtraction": "borrow[t] ← y[t - 1], a[t - 1], b[t - 1]",
    "multiply_by_3": "carry[t] ← y[t - 1], a[t - 1]",
    "binary_increment": "carry[t] ← y[t - 1], x[t - 1]",
}


@pytest.mark.parametrize("name", sorted(WITNESSED))
def test_hidden_recurrences_are_witnessed_by_earlier_outputs(name):
    profile = structure_profile(CATALOGUE[name])
    assert not profile.provenance_bounded and profile.bounded
    assert [w.summary() for w in profile.witnesses] == [WITNESSED[name]]
    assert profile.unresolved == ()


@pytest.mark.parametrize("name", ["parity", "majority", "binary_majority", "sort_repeats"])
def test_counting_tasks_stay_unbounded(name):
    profile = structure_profile(CATALOGUE[name])
    assert not profile.bounded and profile.witnesses == ()


def test_crasp_reasons_name_the_construct():
    assert "modular sum over all positions" in structure_profile(CATALOGUE["parity"]).crasp.summary()
    assert "depends on t" in structure_profile(CATALOGUE["reverse"]).crasp.summary()
    assert "recurrence over intermediate carry" in structure_profile(CATALOGUE["reverse_addition"]).crasp.summary()


def test_sparse_parity_support_grows_with_k_not_n():
    sizes = [structure_profile(CATALOGUE[f"sparse_parity_k{k}"]).k for k in (1, 2, 3)]
    assert sizes == [1, 2, 3]  # the marked ones


def test_coupling_follows_positional_reads():
    from theory.structure import coupled_position_ids, coupling

    assert str(coupling(CATALOGUE["reverse"]).index) == "n - t - 1"
    assert coupling(CATALOGUE["sort"]).index is None
    # addition: digits of equal significance share ids in both operands and the sum (Cho et al.)
    ids = coupled_position_ids(CATALOGUE["reverse_addition"], 3)
    assert ids.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 4]


BAD_FILES = [
    ("rule=x[t + 1], alphabet=10", "reads outside the input"),
    ("rule=x[t + k], alphabet=10", "name 'k' is not defined"),
    ("rule=y[t], alphabet=10", "before it exists"),
    ("rule=x[t] + 5, alphabet=10", "outside the output alphabet"),
    ("rule=x[t], alphabet=10, output_length=n / 2", "must be a positive integer"),
    ("rule=x[t], alphabet=10, intermediates={carry: carry[t]}", "depends on itself"),
    ("rule=x[j], alphabet=10", "j is used outside a content operator"),
    ("rule=x[t], alphabet=1", "alphabet must be an integer >= 2"),
    ("rule=z[t], alphabet=10", "unknown sequence z"),
    ("rule=MinOver(j, MinOver(j, x[j], True), True), alphabet=10", "may not be nested"),
    ("rule=b[t], alphabet=10", "declare operands"),
    ("rule=x[t], alphabet=10, operand_lengths=(n - 1,)", "must be a positive integer"),
]


@pytest.mark.parametrize("body, phrase", BAD_FILES)
def test_malformed_task_files_name_the_line_and_problem(tmp_path, body, phrase):
    path = tmp_path / "bad_task.py"
    path.write_text(textwrap.dedent(f"""\
        import sympy as sp
        from theory.language import x, y, t, n, j, b, MinOver, Intermediate
        from theory.task import Task
        z = sp.IndexedBase("z")
        carry = Intermediate("carry")
        TASK = Task(name="bad", description="malformed", length_meaning="tokens",
                    {body})
        """))
    with pytest.raises(TaskDefinitionError) as info:
        load_task(str(path))
    message = str(info.value)
    assert phrase in message, message
    assert f"{path}:6" in message or f"{path}:7" in message, message  # the line of the definition


def test_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("from theory.task import Task\nTASK = Task(name='x',\n")
    with pytest.raises(TaskDefinitionError, match=r"broken\.py:\d+: syntax error"):
        load_task(str(path))


def test_the_token_before_the_first_output_keeps_the_coupling_step():
    """The token that predicts y[0] sits one coupling step from y[0]'s source, like every later
    predicting token: id 0 before a forward coupling (as always), n + 1 before a reversed one (with
    id 0 the first reversed output needed a step of n, never seen beyond the training lengths)."""
    from theory.structure import coupled_position_ids, separator_id
    from theory.serialize import output_start

    for name in ("reverse", "capitalize_reverse", "reverse_addition", "copy", "multiply_by_3"):
        task = CATALOGUE[name]
        for n_value in (2, 5, 11):
            ids = coupled_position_ids(task, n_value)
            start = output_start(task, n_value)
            step = ids[start + 1] - ids[start]
            assert ids[start - 1] == ids[start] - step == separator_id(task, n_value), (name, n_value, ids)
    assert separator_id(CATALOGUE["reverse"], 7) == 8 and separator_id(CATALOGUE["reverse_addition"], 7) == 0
