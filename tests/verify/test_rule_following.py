"""Rule-prefix runs (``RunSpec.rule_prefix``, docs/design.md §13) and the prepared rule-following
suite: every row of such a run, trained or measured, carries its task's rule unsupervised after one
shared token; keys of runs without it are unchanged; impossible requests fail with the fix; the
suite builds its specs.  Training here is tiny (1 layer, d 16, 2 heads, a few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import verify.measure as vmeasure
import verify.run as vrun
from theory.catalogue import CATALOGUE
from theory.rule_tokens import RULE_FORMAT, RULE_START, RULE_VOCAB, rule_tokens
from theory.serialize import sequence_length
from verify import api
from verify.runner import run_all
from verify.spec import RunSpec
from verify.suite import RESTRICTION, Condition, Item, Suite, SuiteError, TaskPlan, load_suite

ROOT = Path(__file__).resolve().parents[2]
TINY_RUN = dict(seed=0, train_max=3, test_factor=2, steps=6, layers=1, d_model=16, heads=2, eval_every=3,
                eval_instances=16)
TINY_SUITE = dict(seeds=(0,), train_max=3, test_factor=2, steps=6, layers=1, d_model=16, heads=2, eval_instances=16,
                  eval_every=3)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/verify/conftest.py


def ruled(name="r", mixture=(Item("copy", lengths=(1, 3), weight=0.5), RESTRICTION), **kw) -> Condition:
    return Condition(name, mixture, rule_prefix=True, **kw)


def _assert_rule_rows(batch, task, vocab):
    """Every row starts with the shared token and ``task``'s rule, none of it supervised."""
    K = len(rule_tokens(task))
    assert (batch.tokens[:, 0] == vocab.rule_token(RULE_START)).all()
    assert (batch.tokens[:, 1:K + 1] == [vocab.rule_token(r) for r in rule_tokens(task)]).all()
    assert not batch.mask[:, :K + 1].any() and batch.mask.any(axis=1).all()


def test_every_training_row_carries_its_tasks_rule_unsupervised():
    spec = api.make_spec("reverse", ruled(), **TINY_RUN)
    assert spec.rule_prefix == RULE_FORMAT and spec.to_dict()["rule_prefix"] == RULE_FORMAT
    task, _, vocab, model, sources = vrun.build(spec)
    assert vocab.rules and vocab.size == task.symbols + 2 + len(RULE_VOCAB) + len(vocab.task_names)
    assert model.cfg.vocab_size == vocab.size
    rng = np.random.default_rng(0)
    by_source = {s.name: s.sample(rng, 8) for s in sources}
    assert set(by_source) == {"reverse", "copy", "reverse-restriction"}
    _assert_rule_rows(by_source["reverse"], task, vocab)
    _assert_rule_rows(by_source["copy"], CATALOGUE["copy"], vocab)  # a mixture item carries its own rule
    _assert_rule_rows(by_source["reverse-restriction"], task, vocab)  # a restriction carries its primary's
    restricted = by_source["reverse-restriction"]
    assert (restricted.mask.sum(axis=1) == 1).all()  # still one supervised token: the target z_p


def test_a_learned_position_table_holds_the_longest_row_with_its_rule():
    spec = api.make_spec("reverse", ruled(mixture=(Item("capitalize_reverse", lengths=(1, 3)),)),
                         **{**TINY_RUN, "position_scheme": "learned"})
    _, _, _, model, _ = vrun.build(spec)
    longest = max(sequence_length(CATALOGUE["reverse"], max(spec.test_lengths)) + len(rule_tokens(CATALOGUE["reverse"])),
                  sequence_length(CATALOGUE["capitalize_reverse"], 3) + len(rule_tokens(CATALOGUE["capitalize_reverse"])))
    assert model.cfg.max_positions == longest + spec.train.max_position_offset + 1


def test_a_tiny_rule_prefix_run_trains_and_measures_every_row_with_its_rule(monkeypatch):
    spec = api.make_spec("reverse", ruled(), **TINY_RUN)
    task, vocab = CATALOGUE["reverse"], vrun.build(spec)[2]
    seen = []
    real = vmeasure.predictions

    def spy(model, batch, *args, **kwargs):
        seen.append(batch)
        return real(model, batch, *args, **kwargs)

    monkeypatch.setattr(vmeasure, "predictions", spy)
    monkeypatch.setattr(vrun, "predictions", spy)
    result = vrun.execute(spec)
    assert result.status == "ok", result.reason
    assert [m["length"] for m in result.measurements] == list(spec.test_lengths)
    assert all(m["restrictions"] > 0 for m in result.measurements)  # ε(N) and c(N) measured on prefixed restrictions
    assert result.item_measurements.get("copy")  # the item's own measurement ran too
    assert seen  # validation, measurement (full and restricted) and the item's evaluation sets
    copy_rows = [b for b in seen if (b.tokens[:, 1:1 + len(rule_tokens(CATALOGUE["copy"]))]
                                     == [vocab.rule_token(r) for r in rule_tokens(CATALOGUE["copy"])]).all()]
    assert copy_rows
    for batch in seen:
        _assert_rule_rows(batch, CATALOGUE["copy"] if any(batch is b for b in copy_rows) else task, vocab)


def test_a_rule_prefix_stage_finetunes_from_its_pretraining_parent(tmp_path):
    suite = Suite(name="rules", description="d", plans=(TaskPlan("reverse", "rope", "x"),), **TINY_SUITE,
                  conditions=(ruled("pre", (Item("copy", lengths=(1, 3)), Item("capitalize", lengths=(1, 3))),
                                    primary_weight=0),
                              ruled("ft", (), init_from="pre", steps=3)), claims=())
    pre, ft = suite.runs()
    assert ft.init_from == pre and pre.rule_prefix == ft.rule_prefix == RULE_FORMAT
    runs = run_all(suite.runs(), tmp_path, workers=1, show_progress=False)
    assert all(r.ok for r in runs.values()), [r.reason for r in runs.values()]
    # zero-shot: the pretraining stage measured reverse, never trained, through reverse's rule
    assert len(runs[pre.key].measurements) == len(pre.test_lengths)
    parent_vocab, child_vocab = vrun.build(pre)[2], vrun.build(ft, tmp_path)[2]
    assert child_vocab.size >= parent_vocab.size and child_vocab.task_names[:len(parent_vocab.task_names)] == \
        parent_vocab.task_names  # the child's ids extend the parent's


def test_keys_without_a_rule_prefix_are_unchanged():
    plain = api.make_spec("reverse", Condition("c", ("copy",)), **TINY_RUN)
    assert plain.rule_prefix == 0 and "rule_prefix" not in plain.to_dict()
    with_rule = api.make_spec("reverse", Condition("c", ("copy",), rule_prefix=True), **TINY_RUN)
    assert with_rule.key != plain.key
    for spec in (plain, with_rule):
        back = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert back == spec and back.key == spec.key
    stored = json.loads((ROOT / "reports" / "default" / "runs.json").read_text())["runs"]
    for key, run in stored.items():  # a committed run read back keeps its key
        assert RunSpec.from_dict(run["spec"]).key == key


def test_a_stage_without_a_rule_prefix_keeps_its_parents_stored_fields():
    """A parent is hashed whole, as stage keys were first made; the new field must not appear in it
    (the committed transfer suite's pretraining chain is three stages deep)."""
    stages = [s for s in load_suite("transfer").runs() if s.init_from is not None]
    assert any(s.init_from.init_from is not None for s in stages)
    for spec in stages:
        parent = spec.to_dict()["init_from"]
        while parent is not None:
            assert "rule_prefix" not in parent and parent["mixer"] == "attention"  # older fields stay
            parent = parent["init_from"]
    pre = api.make_spec("reverse", ruled("pre", ("copy",), primary_weight=0), **TINY_RUN)
    ft = api.make_spec("reverse", ruled("ft", (), init_from="pre"), parent=pre, **TINY_RUN)
    assert ft.to_dict()["init_from"]["rule_prefix"] == RULE_FORMAT  # a rule-prefix parent says so
    assert RunSpec.from_dict(json.loads(json.dumps(ft.to_dict()))) == ft


def test_an_opaque_task_with_a_rule_prefix_names_the_fix():
    with pytest.raises(SuiteError, match="condition 'r' has rule_prefix=True, but task 'maze_dfs' is opaque.*"
                                         "drop rule_prefix from the condition or train only symbolic tasks"):
        api.make_spec("maze_dfs", ruled(mixture=()), **{**TINY_RUN, "train_max": 4})
    with pytest.raises(SuiteError, match="task 'maze_path' is opaque.*drop rule_prefix"):
        api.make_spec("reverse", ruled(mixture=(Item("maze_path", lengths=(2, 3)),)), **TINY_RUN)


def test_a_spec_made_without_build_spec_is_checked_by_build_too():
    """``verify.run.build`` guards specs not made by ``build_spec`` with the same check and message
    (``verify.suite.check_rule_tokens``, one copy)."""
    import dataclasses

    plain = api.make_spec("maze_dfs", Condition("c"), **{**TINY_RUN, "train_max": 4})
    with pytest.raises(SuiteError, match="condition 'c' has rule_prefix=True, but task 'maze_dfs' is opaque.*"
                                         "drop rule_prefix from the condition"):
        vrun.build(dataclasses.replace(plain, rule_prefix=RULE_FORMAT))
    with pytest.raises(SuiteError, match="was specified with rule format 99"):
        vrun.build(dataclasses.replace(api.make_spec("reverse", Condition("c"), **TINY_RUN), rule_prefix=99))
    # a stage whose parent has another setting, and coupled ids: the same check as build_spec's
    parent = api.make_spec("reverse", ruled("pre", ("copy",), primary_weight=0), **TINY_RUN)
    child = api.make_spec("reverse", Condition("ft"), **TINY_RUN)
    with pytest.raises(SuiteError, match="finetunes from 'pre', which has rule prefix.*same rule_prefix"):
        vrun.build(dataclasses.replace(child, init_from=parent))
    coupled = api.make_spec("reverse", Condition("c"), **{**TINY_RUN, "position_scheme": "coupled"})
    with pytest.raises(SuiteError, match="rule_prefix does not combine with position scheme 'coupled'"):
        vrun.build(dataclasses.replace(coupled, rule_prefix=RULE_FORMAT))


def test_prefix_length_reads_a_vocabulary_or_a_flag():
    from theory.serialize import Vocab, prefix_length

    task = CATALOGUE["reverse"]
    K = len(rule_tokens(task))
    assert prefix_length(task, Vocab(task.symbols, ("reverse",), rules=True)) == prefix_length(task, True) == K
    assert prefix_length(task, Vocab(task.symbols, ("reverse",))) == prefix_length(task, False) == 0


def test_a_suite_file_with_an_opaque_rule_task_points_at_the_condition(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("from verify.suite import Condition, Suite, TaskPlan\n"
                    "SUITE = Suite(name='bad', description='d', plans=(TaskPlan('maze_dfs', 'rope', 'x'),), seeds=(0,),\n"
                    "              train_max=4, test_factor=2, steps=5,\n"
                    "              conditions=(Condition('with-rules', rule_prefix=True),), claims=())\n")
    with pytest.raises(SuiteError, match=f"{path}:4: .*'maze_dfs' is opaque.*drop rule_prefix"):
        load_suite(str(path))


def test_rule_prefix_refuses_coupled_ids_hsa_and_a_stage_that_differs_from_its_parent():
    with pytest.raises(SuiteError, match="rule_prefix does not combine with position scheme 'coupled'"):
        api.make_spec("reverse", ruled(mixture=()), **{**TINY_RUN, "position_scheme": "coupled"})
    with pytest.raises(SuiteError, match="rule_prefix does not combine with the hsa mixer"):
        ruled(mixture=(), mixer="hsa")
    with pytest.raises(SuiteError, match="rule_prefix must be True or False"):
        Condition("c", rule_prefix=1)
    parent = api.make_spec("reverse", Condition("pre", ("copy",), primary_weight=0), **TINY_RUN)
    with pytest.raises(SuiteError, match="finetunes from 'pre', which has no rule prefix.*same rule_prefix"):
        api.make_spec("reverse", ruled("ft", (), init_from="pre"), parent=parent, **TINY_RUN)


# ------------------------------------------------------------------------------ the prepared suite


def test_the_rule_following_suite_builds_its_specs():
    suite = load_suite("rule-following")
    module = __import__("runpy").run_path(str(ROOT / "verify" / "suites" / "rule-following.py"))
    pre_steps, ft_steps = module["PRETRAIN_STEPS"], module["FINETUNE_STEPS"]
    held_out = set(module["HELD_OUT"])
    specs = suite.runs()
    assert {s.task for s in specs} == held_out and {s.seed for s in specs} == {0, 1, 2}
    assert (suite.layers, suite.d_model) == (2, 64)
    by = {(s.task, s.condition, s.seed): s for s in specs}
    assert len(by) == len(specs) == len(held_out) * 3 * len(suite.conditions)
    held_rules = {rule_tokens(CATALOGUE[t]) for t in held_out}
    for (task, condition, seed), spec in by.items():
        assert spec.position_scheme == "rope" and spec.train_lengths == (1, 8) and max(spec.test_lengths) == 24
        assert bool(spec.rule_prefix) == ("rule" in condition)
        if condition == "rules-pretrain":
            assert spec.primary_weight == 0 and spec.train.steps == pre_steps and len(spec.mixture) == 12
            sources = {item.source for item in spec.mixture}
            assert not sources & held_out  # no held-out task is ever trained in pretraining ...
            assert not {rule_tokens(CATALOGUE[s]) for s in sources} & held_rules  # ... nor any task with its rule
            assert all(item.lengths[1] == 8 for item in spec.mixture)  # nothing longer than the finetune's range
            assert abs(sum(item.weight for item in spec.mixture) - 1) < 1e-9
        elif condition == "rules-finetune":
            assert spec.init_from == by[(task, "rules-pretrain", seed)] and spec.train.steps == ft_steps
            assert not spec.mixture and spec.primary_weight == 1
        else:
            assert spec.init_from is None and not spec.mixture
            assert spec.train.steps == (pre_steps + ft_steps if condition.endswith("-total") else ft_steps)
    for claim in suite.claims:
        assert claim.differs and claim.source == "Meta-RFFT (2025)"
