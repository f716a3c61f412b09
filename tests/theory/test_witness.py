"""Minimal visible supports (theory.witness): hidden recurrences eliminated through earlier outputs."""

from __future__ import annotations

import dataclasses
import itertools
import textwrap

import numpy as np
import pytest
import sympy as sp

import theory.witness as witness_module
from auxtasks.derive import check_consistency, derive
from theory.catalogue import CATALOGUE, load_task
from theory.language import ContentOperator
from theory.structure import structure_profile
from theory.task import definition_digest
from theory.witness import Undetermined, find_witnesses

POSITIONAL = sorted(name for name, task in CATALOGUE.items()
                    if not any(isinstance(e, ContentOperator) for rule in [task.rule, *(r for _, r in task.intermediates)]
                               for e in sp.preorder_traversal(rule)))


def _instances(task, n_value: int, rng) -> dict[str, np.ndarray]:
    """Every instance of length n when there are few, else many samples (so supports collide)."""
    if task.sampler is None and not task.distinct and task.alphabet ** task.input_size(n_value) <= 50_000:
        grid = np.array(list(itertools.product(range(task.alphabet), repeat=task.input_size(n_value))), np.int64)
        out, col = {}, 0
        for name, size in zip(task.operand_names, task.operand_sizes(n_value)):
            out[name], col = grid[:, col:col + size], col + size
        return out
    return task.sample(rng, 20_000, n_value)


@pytest.mark.parametrize("name", POSITIONAL)
def test_instances_agreeing_on_the_visible_support_agree_on_the_output(name):
    """Across instances: group by (support positions, tokens there); every group has one output.

    Only for rules without content operators: a content-selected support determines the output
    relative to its own instance (sort: another instance with the same y[t-1] and successor may hold a
    smaller successor elsewhere), which the sub-instance re-solve test in test_catalogue_tasks checks.
    """
    task = CATALOGUE[name]
    rng = np.random.default_rng(3)
    collisions = 0
    for n_value in sorted({max(task.min_length, 2), 3, 6}):
        if task.max_length is not None and n_value > task.max_length:
            continue
        inputs = _instances(task, n_value, rng)
        sol = task.solve(inputs)
        instance = np.concatenate([inputs[o] for o in task.operand_names] + [sol.outputs], axis=1)
        for tv in range(task.r(n_value)):
            mask = sol.support[:, tv]
            key = np.where(mask, instance, -1)  # tokens on the support, -1 elsewhere
            _, group, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
            group = group.reshape(-1)
            first = np.full(len(counts), -1)
            first[group[::-1]] = sol.outputs[::-1, tv]  # some member's output per group
            assert (sol.outputs[:, tv] == first[group]).all(), (name, n_value, tv)
            collisions += int((counts[group] > 1).sum())
    assert collisions > 0  # the property was actually exercised


def test_a_user_task_with_a_hidden_recurrence_gets_its_witness(tmp_path):
    path = tmp_path / "prefix_sum.py"
    path.write_text(textwrap.dedent("""
        from sympy import Eq, Mod, Piecewise
        from theory.language import Intermediate, n, t, x
        from theory.task import Task

        total = Intermediate("total")
        TASK = Task(name="prefix_sum", description="running sum mod 10", length_meaning="digits",
                    alphabet=10, intermediates={total: Piecewise((0, Eq(t, 0)), (Mod(total[t - 1] + x[t - 1], 10), True))},
                    rule=Mod(total[t] + x[t], 10))
    """))
    task = load_task(str(path))
    profile = structure_profile(task)
    assert not profile.provenance_bounded
    assert profile.bounded and profile.k == 2
    assert [w.summary() for w in profile.witnesses] == ["total[t] ← y[t - 1]"]
    restriction = derive(task, 6).auxiliaries[0]
    assert restriction.family == "restriction" and "y[t - 1]" in restriction.provenance
    assert check_consistency(restriction, task, np.random.default_rng(0), 15, batch=24) == []


def test_a_recurrence_no_visible_token_reveals_stays_unbounded():
    from theory.language import Intermediate, n, t, x
    from theory.task import Task

    hidden = Intermediate("hidden")
    task = Task(name="parity_at_end", description="copy, then the parity of everything", length_meaning="bits",
                alphabet=2, output_length=n + 1,
                intermediates={hidden: sp.Piecewise((0, sp.Eq(t, 0)), (sp.Mod(hidden[t - 1] + x[t - 1], 2), True))},
                rule=sp.Piecewise((hidden[t], sp.Eq(t, n)), (x[t], True)))
    profile = structure_profile(task)
    assert profile.witnesses == () and profile.unresolved and not profile.bounded


def test_an_unconfirmed_candidate_is_never_reported(monkeypatch):
    """With enumeration off and too few samples for any agreement to be tested, nothing is confirmed."""
    monkeypatch.setattr(witness_module, "EXHAUSTIVE_LIMIT", 0)
    monkeypatch.setattr(witness_module, "SAMPLED_INSTANCES", 12)
    task = dataclasses.replace(CATALOGUE["reverse_addition"])  # a fresh object: nothing cached
    search = find_witnesses(task)
    assert search.witnesses == () and "carry" in search.unresolved[0]


def test_a_wrong_witness_is_refuted():
    """carry[t] is not determined by y[t-1] alone in reverse addition (a[t-1], b[t-1] are needed)."""
    task = CATALOGUE["reverse_addition"]
    probes = witness_module._probes(task, np.random.default_rng(0))
    y = sp.IndexedBase("y")
    t = sp.Symbol("t", integer=True)
    assert witness_module._test((y[t - 1],), "carry", probes) is None
    assert witness_module._test(task.witness_search.witnesses[0].reads, "carry", probes) is not None


def test_elimination_refuses_a_view_that_does_not_determine_the_output():
    task = CATALOGUE["reverse_addition"]
    # a[3] + b[3] = 9: the carry into digit 4 depends on the carry into digit 3, which only y[3] reveals
    inputs = {"a": np.array([[5, 7, 1, 4, 2, 8]]), "b": np.array([[6, 3, 0, 5, 3, 1]])}
    sol = task.solve(inputs)
    layout = task.layout(6)
    tv = 4
    full = dict(enumerate(np.concatenate([inputs["a"][0], inputs["b"][0], sol.outputs[0]]).tolist()))
    kept = {u: full[u] for u in np.flatnonzero(sol.support[0, tv])}
    assert task.evaluate(kept, tv, 6) == sol.outputs[0, tv]
    del kept[layout.out_offset + tv - 1]  # drop y[t-1], the witness of the carry
    with pytest.raises(Undetermined):
        task.evaluate(kept, tv, 6)


def test_editing_a_task_file_changes_its_digest(tmp_path):
    path = tmp_path / "shift.py"
    source = textwrap.dedent("""
        from sympy import Mod
        from theory.language import x, t, n
        from theory.task import Task
        TASK = Task(name="shift", description="copy, one later", length_meaning="tokens", rule=x[Mod(t + {k}, n)], alphabet=10)
    """)
    path.write_text(source.format(k=1))
    before = definition_digest(load_task(str(path)))
    assert definition_digest(load_task(str(path))) == before  # stable
    path.write_text(source.format(k=2))
    assert definition_digest(load_task(str(path))) != before
    path.write_text(source.format(k=1).replace('"copy, one later"', '"reworded"'))
    assert definition_digest(load_task(str(path))) == before  # the description does not change instances


def test_editing_a_sampler_changes_the_digest(tmp_path):
    path = tmp_path / "planted.py"
    source = textwrap.dedent("""
        import numpy as np
        from theory.language import x, t
        from theory.task import Task
        def sampler(rng, batch, n):
            return {{"x": rng.integers(0, {hi}, size=(batch, n)).astype(np.int64)}}
        TASK = Task(name="planted", description="copy", length_meaning="tokens", rule=x[t], alphabet=10, sampler=sampler)
    """)
    path.write_text(source.format(hi=10))
    before = definition_digest(load_task(str(path)))
    path.write_text(source.format(hi=5))
    assert definition_digest(load_task(str(path))) != before


def test_position_labels_are_sized_from_the_operand():
    """A rule reading an operand of 2n tokens gets labels for all of them (not 0..64 by n)."""
    from theory.language import n, t, x
    from theory.task import Task

    task = Task(name="every_other", description="every other token", length_meaning="pairs", alphabet=10,
                operand_lengths=(2 * n,), rule=x[2 * t])
    positions = [a for a in derive(task, 8).auxiliaries if a.family == "position"]
    assert positions, "the position family must not be refused"
    label_task = positions[0].task
    assert label_task.out_alphabet == 2 * label_task.max_length + 1  # labels 0..2n-1 and "past"
    assert check_consistency(positions[0], task, np.random.default_rng(0), 40, batch=8) == []


def test_a_derived_intermediate_task_derives_its_own_auxiliaries():
    """reverse_addition-carry's rule is only the intermediate: removing it leaves a number, not a crash;
    its own recurrence is witnessed by its previous output, so it gets a restriction family."""
    from auxtasks.derive import resolve_task

    derivation = derive(resolve_task("reverse_addition-carry"), 8)
    assert derivation.auxiliaries[0].family == "restriction"
    assert [w.summary() for w in derivation.profile.witnesses] == ["carry[t] ← y[t - 1], a[t - 1], b[t - 1]"]
