"""Opaque tasks (maze DFS trace and path): generator vs oracle, declared supports, and every consumer."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auxtasks.derive import check_consistency, derive
from auxtasks.restriction import RestrictionTask, recheck_restriction
from theory.catalogue import ALL_TASKS, CATALOGUE, OPAQUE, load_task
from theory.opaque import (MAZE_HEIGHT, MAZE_WIDTH, NOT_ANALYSED, OpaqueTask, OpaqueTaskError, is_opaque,
                           neighbour_table)
from theory.serialize import Vocab, frame_positions, output_start, sample_sequences, serialize
from theory.solver import MissingRead, Solution
from theory.structure import PROFILE_LENGTHS, coupled_position_ids, structure_profile
from theory.task import TaskDefinitionError

DFS, PATH = OPAQUE["maze_dfs"], OPAQUE["maze_path"]
CELLS = MAZE_WIDTH * MAZE_HEIGHT
END = CELLS
seeds = st.integers(0, 2**32 - 1)
lengths = st.integers(1, CELLS)
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tree(inputs, row):
    e = inputs["edges"][row].tolist()
    pairs = list(zip(e[0::2], e[1::2]))
    adj: dict[int, set[int]] = {}
    for p, q in pairs:
        adj.setdefault(p, set()).add(q)
        adj.setdefault(q, set()).add(p)
    return pairs, adj


def _instance(task, inputs, sol, row):
    return np.concatenate([inputs[o][row] for o in task.operand_names] + [sol.outputs[row]]).tolist()


# ----------------------------------------------------------------------------- registry


def test_registered_apart_from_the_symbolic_catalogue():
    assert set(OPAQUE) == {"maze_dfs", "maze_path"}
    assert not set(OPAQUE) & set(CATALOGUE) and set(ALL_TASKS) == set(CATALOGUE) | set(OPAQUE)
    for name, task in OPAQUE.items():
        assert load_task(name) is task and is_opaque(task) and task.rule is None and task.intermediates == ()
    assert not any(is_opaque(t) for t in CATALOGUE.values())
    with pytest.raises(TaskDefinitionError, match="maze_dfs"):
        load_task("nosuch")  # the unknown-task message lists the opaque tasks too


def test_interface_sizes():
    for nv in (1, 2, 7, CELLS):
        assert DFS.operand_sizes(nv) == PATH.operand_sizes(nv) == (2 * nv - 2, 2)
        assert DFS.r(nv) == 2 * nv - 1 and PATH.r(nv) == nv
        assert DFS.input_size(nv) == 2 * nv
        layout = DFS.layout(nv)
        assert layout.offsets == {"edges": 0, "query": 2 * nv - 2} and layout.U == 2 * nv + 2 * nv - 1
    assert DFS.symbols == CELLS and PATH.out_alphabet == PATH.symbols == CELLS + 1
    assert len(DFS.operands) == 2 and DFS.operand_names == ("edges", "query")
    assert DFS.min_length == 1 and DFS.max_length == CELLS
    with pytest.raises(OpaqueTaskError, match="use n <= 32"):
        DFS.check_length(CELLS + 1)
    with pytest.raises(OpaqueTaskError, match="use n >= 1"):
        DFS.sample(np.random.default_rng(0), 2, 0)


def test_evaluate_is_refused_with_a_clear_error():
    with pytest.raises(OpaqueTaskError, match="opaque.*cannot be re-evaluated.*support_rule"):
        DFS.evaluate({0: 1}, 0, 3)


# ----------------------------------------------------------------------------- generator and solvers


@pytest.mark.parametrize("task", [DFS, PATH], ids=lambda t: t.name)
def test_solver_matches_the_oracle(task):
    @SETTINGS
    @given(seed=seeds, n_value=lengths)
    def check(seed, n_value):
        inputs, sol = task.generate(np.random.default_rng(seed), 8, n_value)
        np.testing.assert_array_equal(sol.outputs, task.oracle_outputs(inputs))
        # outputs without support are the same outputs
        assert (task.solve(inputs, support=False).outputs == sol.outputs).all()

    check()


@SETTINGS
@given(seed=seeds, n_value=lengths)
def test_mazes_are_random_trees_of_n_grid_cells(seed, n_value):
    inputs = DFS.sample(np.random.default_rng(seed), 8, n_value)
    assert inputs["edges"].shape == (8, 2 * n_value - 2) and inputs["query"].shape == (8, 2)
    board = neighbour_table(MAZE_WIDTH, MAZE_HEIGHT)
    for row in range(8):
        pairs, adj = _tree(inputs, row)
        start, goal = inputs["query"][row].tolist()
        nodes = set(adj) or {start}
        assert len(nodes) == n_value and len(pairs) == n_value - 1
        assert all(q in board[p] for p, q in pairs), "every edge joins grid neighbours"
        seen, todo = {start}, [start]  # connected + n-1 edges = a tree
        while todo:
            for v in adj.get(todo.pop(), ()):
                if v not in seen:
                    seen.add(v)
                    todo.append(v)
        assert seen == nodes and goal in nodes
        assert (start != goal) == (n_value > 1)


@SETTINGS
@given(seed=seeds, n_value=lengths)
def test_dfs_trace_is_the_euler_tour(seed, n_value):
    inputs, sol = DFS.generate(np.random.default_rng(seed), 8, n_value)
    for row in range(8):
        pairs, adj = _tree(inputs, row)
        tour = sol.outputs[row].tolist()
        start = int(inputs["query"][row, 0])
        assert len(tour) == 2 * n_value - 1 and tour[0] == tour[-1] == start
        steps = [frozenset(s) for s in zip(tour, tour[1:])]
        assert sorted(map(sorted, steps)) == sorted(sorted(p) for p in pairs for _ in range(2)), "each edge twice"
        firsts = list(dict.fromkeys(tour))
        for u in firsts:  # children are entered in increasing id order
            children = [v for i, v in enumerate(tour[1:], 1) if tour[i - 1] == u and firsts.index(v) > firsts.index(u)]
            assert children == sorted(children)


@SETTINGS
@given(seed=seeds, n_value=lengths)
def test_path_runs_from_start_to_goal_padded_with_end(seed, n_value):
    inputs, sol = PATH.generate(np.random.default_rng(seed), 8, n_value)
    for row in range(8):
        _, adj = _tree(inputs, row)
        start, goal = inputs["query"][row].tolist()
        out = sol.outputs[row].tolist()
        path = [v for v in out if v != END]
        assert out == path + [END] * (n_value - len(path)) and path[0] == start and path[-1] == goal
        assert len(set(path)) == len(path) and all(b in adj[a] for a, b in zip(path, path[1:]))


# ----------------------------------------------------------------------------- declared supports


@pytest.mark.parametrize("task", [DFS, PATH], ids=lambda t: t.name)
def test_declared_support_shape_and_positions(task):
    rng = np.random.default_rng(3)
    for n_value in (1, 2, 5, 12, CELLS):
        inputs, sol = task.generate(rng, 6, n_value)
        layout, r = task.layout(n_value), task.r(n_value)
        assert isinstance(sol, Solution) and sol.support.shape == (6, r, layout.U) and sol.support.dtype == bool
        assert sol.support.any(axis=2).all(), "every output has a support"
        q0, out = layout.offsets["query"], layout.out_offset
        for row in range(6):
            instance = _instance(task, inputs, sol, row)
            assert np.flatnonzero(sol.support[row, 0]).tolist() == [q0], "S_0 is the start"
            for tv in range(r):
                s = set(np.flatnonzero(sol.support[row, tv]).tolist())
                assert all(u < out + tv for u in s), "only inputs and earlier outputs"
                edge_pos = {u for u in s if u < q0}
                assert {u ^ 1 for u in edge_pos} == edge_pos, "edges are marked whole (both tokens)"
                if tv >= 1:
                    assert out + tv - 1 in s  # the previous output
                if task is DFS and tv >= 1:
                    assert len(s) <= 12
                    u, v = instance[out + tv - 1], instance[out + tv]
                    traversed = [k for k in range(n_value - 1) if {instance[2 * k], instance[2 * k + 1]} == {u, v}]
                    assert {2 * traversed[0], 2 * traversed[0] + 1} <= s, "the traversed edge is in S_t"
                if task is PATH and tv >= 1 and instance[out + tv - 1] not in (END, instance[q0 + 1]):
                    assert q0 + 1 in s  # the goal


@pytest.mark.parametrize("task", [DFS, PATH], ids=lambda t: t.name)
def test_support_rule_recovers_each_output_from_its_support_with_or_without_fillers(task):
    @SETTINGS
    @given(seed=seeds, n_value=lengths)
    def check(seed, n_value):
        rng = np.random.default_rng(seed)
        inputs, sol = task.generate(rng, 4, n_value)
        out = task.layout(n_value).out_offset
        for row in range(4):
            instance = _instance(task, inputs, sol, row)
            for tv in range(task.r(n_value)):
                support = np.flatnonzero(sol.support[row, tv]).tolist()
                fillers = np.flatnonzero(rng.random(out + tv) < 0.5).tolist()  # any earlier tokens
                for kept in (support, support + fillers):
                    view = {u: instance[u] for u in kept}
                    assert task.check_support(view, tv, n_value) == instance[out + tv]

    check()


def test_support_rule_needs_the_support():
    """Dropping a support token breaks the rule (a missing read or a wrong answer) somewhere: not vacuous."""
    for task in (DFS, PATH):
        inputs, sol = task.generate(np.random.default_rng(5), 8, 12)
        broken = 0
        for row in range(8):
            instance = _instance(task, inputs, sol, row)
            for tv in range(1, task.r(12)):
                support = np.flatnonzero(sol.support[row, tv]).tolist()
                for drop in support:
                    view = {u: instance[u] for u in support if u != drop}
                    try:
                        broken += task.check_support(view, tv, 12) != instance[task.layout(12).out_offset + tv]
                    except MissingRead:
                        broken += 1
        assert broken > 0


# ----------------------------------------------------------------------------- consumers


def test_serialization_and_mixed_length_batches():
    vocab = Vocab(CELLS + 1, ("maze_dfs", "maze_path"))
    for task in (DFS, PATH):
        inputs, sol = task.generate(np.random.default_rng(0), 3, 5)
        seq = serialize(task, inputs, sol.outputs, vocab)
        assert frame_positions(task, 5) == (0, 9, 12) and output_start(task, 5) == 13
        assert seq.tokens.shape == (3, 13 + task.r(5))
        np.testing.assert_array_equal(seq.tokens[:, 1:9], inputs["edges"])
        np.testing.assert_array_equal(seq.tokens[:, 10:12], inputs["query"])
        assert (seq.tokens[:, [9, 12]] == vocab.sep).all() and (seq.tokens[:, 0] == vocab.task_token(task.name)).all()
        np.testing.assert_array_equal(seq.tokens[:, 13:], sol.outputs)
        batch = sample_sequences(task, np.random.default_rng(1), 32, (1, 8), vocab)
        lengths = batch.mask.sum(axis=1)
        assert set(lengths.tolist()) <= {task.r(nv) for nv in range(1, 9)} and len(set(lengths.tolist())) > 1


def test_structure_profile_reports_declared_support_and_marks_the_rest_not_analysed():
    dfs, path = structure_profile(DFS), structure_profile(PATH)
    assert dfs.opaque and dfs.bounded and set(dfs.support_sizes) == set(PROFILE_LENGTHS)
    assert 10 <= dfs.k <= 12  # degree <= 4 on a grid
    # the sizes are the declared ones
    rng = np.random.default_rng(0)
    for nv in PROFILE_LENGTHS:
        assert dfs.support_sizes[nv] == int(DFS.generate(rng, 64, nv)[1].support.sum(axis=2).max())
    assert path.opaque and not path.bounded and path.support_sizes[32] > path.support_sizes[8]
    for prof in (dfs, path):
        assert prof.dependencies == () and not prof.crasp.analysed and not prof.coupling.analysed
        assert prof.crasp.summary() == prof.coupling.summary() == NOT_ANALYSED
        assert "opaque: no symbolic analysis" in prof.summary() and NOT_ANALYSED in prof.summary()
    assert "k = " in dfs.summary() and "unbounded" in path.summary()
    with pytest.raises(ValueError, match="not analysed"):
        coupled_position_ids(DFS, 4)


def test_derive_offers_the_restriction_for_dfs_and_says_why_not_for_path():
    d = derive(DFS, 8)
    assert [a.name for a in d.auxiliaries] == ["maze_dfs-restriction"]
    aux = d.auxiliaries[0]
    assert "declared support" in aux.provenance and "support rule re-checks" in aux.note
    assert any("intermediates: not analysed" in why for why in d.skipped)
    assert any("position: not analysed" in why for why in d.skipped)
    p = derive(PATH, 8)
    assert p.auxiliaries == [] and any("declared support grows with n" in why for why in p.skipped)


def test_dfs_restrictions_recheck_through_the_declared_support_rule():
    aux = derive(DFS, 8).auxiliaries[0]

    @settings(max_examples=10, deadline=None)
    @given(seed=seeds, n_value=st.integers(1, 24))
    def check(seed, n_value):
        assert check_consistency(aux, DFS, np.random.default_rng(seed), n_value, batch=16) == []

    check()
    # not vacuous: a wrong target does not re-check
    vocab = Vocab(DFS.symbols, (DFS.name,))
    full, restricted = RestrictionTask(DFS, 34, (1, 24)).sample_at(np.random.default_rng(0), 8, 16, vocab)
    for row in range(8):
        assert recheck_restriction(DFS, full, restricted, 16, row)
        src, p = int(restricted.source_row[row]), int(restricted.target_position[row])
        full.tokens[src, p] = (full.tokens[src, p] + 1) % CELLS
        assert not recheck_restriction(DFS, full, restricted, 16, row)


def test_opaque_task_without_support_rule_is_taken_on_trust():
    bare = OpaqueTask(name="bare_dfs", description="dfs without a support rule", length_meaning="nodes",
                      alphabet=DFS.alphabet, operand_names=DFS.operand_names, operand_lengths=DFS.operand_lengths,
                      output_length=DFS.output_length, sampler=DFS.sampler, solver=DFS.solver, max_length=DFS.max_length)
    aux = derive(bare, 6).auxiliaries[0]
    assert "taken on trust" in aux.note
    assert check_consistency(aux, bare, np.random.default_rng(0), 6) == []
    with pytest.raises(OpaqueTaskError, match="declares no support_rule"):
        bare.check_support({}, 0, 3)


def _variant(**changes):
    fields = dict(name="variant", description="a variant", length_meaning="nodes", alphabet=DFS.alphabet,
                  operand_names=DFS.operand_names, operand_lengths=DFS.operand_lengths,
                  output_length=DFS.output_length, sampler=DFS.sampler, solver=DFS.solver,
                  support_rule=DFS.support_rule, max_length=DFS.max_length)
    fields.update(changes)
    return OpaqueTask(**fields)


def test_malformed_opaque_definitions_are_refused_at_load():
    def future(inputs, layout, track):
        sol = DFS.solver(inputs, layout, track)
        sol.support[:, 0, layout.out_offset] = True  # y[0] "depends on" itself
        return sol

    def no_support(inputs, layout, track):
        return Solution(DFS.solver(inputs, layout, False).outputs, np.zeros((1, 1, 1), bool))

    def crash(rng, batch, n_value):
        raise RuntimeError("boom")

    cases = [(dict(solver=future), "not an earlier output"), (dict(solver=no_support), "bool support"),
             (dict(sampler=crash), "sampler or solver failed.*boom"), (dict(alphabet=8), "tokens outside 0..7"),
             (dict(support_rule=lambda view, tv, layout: 0), "support_rule gives"),
             (dict(output_length=2 * DFS.output_length), "solver failed at n=1"), (dict(name="bad name"), "the name must be")]
    for changes, phrase in cases:
        with pytest.raises(OpaqueTaskError, match=phrase):
            _variant(**changes)


def test_a_user_file_may_define_an_opaque_task(tmp_path):
    path = tmp_path / "small_maze.py"
    path.write_text(textwrap.dedent("""\
        from theory.opaque import maze_task
        TASK = maze_task("path", width=3, height=3, name="small_path")
        """))
    task = load_task(str(path))
    assert task.name == "small_path" and task.max_length == 9 and task.out_alphabet == 10
    inputs, sol = task.generate(np.random.default_rng(0), 16, 9)
    np.testing.assert_array_equal(sol.outputs, task.oracle_outputs(inputs))


def test_cli_lists_shows_and_proposes(capsys):
    from verify.cli import main

    assert main(["tasks"]) == 0
    listing = capsys.readouterr().out
    lines = listing.splitlines()
    for name in OPAQUE:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{name} "))
        assert "opaque: no symbolic analysis" in lines[at + 1]  # the profile line under the name
    assert main(["tasks", "show", "maze_dfs"]) == 0
    shown = capsys.readouterr().out
    assert "opaque: no symbolic analysis" in shown and "support:   declared" in shown and "positions:" in shown
    assert main(["propose", "maze_dfs"]) == 0
    assert "1. maze_dfs-restriction" in capsys.readouterr().out
    assert main(["propose", "maze_path"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no derivable auxiliary" in err[0] and "grows with n" in err[0]
