"""Pretraining stages (``Condition(primary_weight=0)``), per-condition training ranges and seeds,
per-plan test factors, the mixture counts of a run without its primary, and the committed claims
and transfer suites.  Training here is tiny (1 layer, d 16, 2 heads, a few dozen steps)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

import verify.run as vrun
from auxtasks.derive import resolve_task, restriction_defaults
from verify import api
from verify.runner import run_all
from verify.spec import RunSpec, TrainConfig
from verify.store import RunStore
from verify.suite import (RESTRICTION, Condition, Extrapolates, Item, Suite, SuiteError, TaskPlan, load_suite)
from verify.train import Source, _mixture_counts, train

ROOT = Path(__file__).resolve().parents[2]
TINY_RUN = dict(seed=0, train_max=3, test_factor=2, steps=12, layers=1, d_model=16, heads=2, eval_every=4,
                eval_instances=16)
TINY_SUITE = dict(seeds=(0,), train_max=3, test_factor=2, steps=8, layers=1, d_model=16, heads=2, eval_instances=16,
                  eval_every=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/verify/conftest.py


def pretraining(**kw) -> Condition:
    return Condition("pre", (Item("copy", lengths=(1, 3)),), primary_weight=0, **kw)


def mini(conditions, plans=None, **kw) -> Suite:
    """A small suite, never trained: reverse at 1..8, tested to 16, seeds 0-2."""
    settings = dict(name="mini", description="d", plans=plans or (TaskPlan("reverse", "rope", "r"),), seeds=(0, 1, 2),
                    train_max=8, test_factor=2, steps=10, conditions=conditions, claims=())
    return Suite(**{**settings, **kw})


# ---------------------------------------------------------------------------------- pretraining stages


def test_a_pretraining_stage_never_samples_the_primary_and_keeps_its_last_checkpoint(monkeypatch):
    spec = api.make_spec("reverse", pretraining(), **TINY_RUN)
    assert spec.primary_weight == 0.0
    _, _, vocab, _, sources = vrun.build(spec)
    assert [s.name for s in sources] == ["copy"]  # no source for the primary
    assert "reverse" in vocab.task_names  # its token is still there: validation reads the primary zero-shot

    sampled, seen = [], {}
    real_sample, real_train = vrun.sample_sequences, vrun.train

    def spy_sample(task, *args, **kwargs):
        sampled.append(task.name)
        return real_sample(task, *args, **kwargs)

    def spy_train(model, sources, cfg, pad, validate, progress=None, **kwargs):
        seen.update(kwargs, sources=[s.name for s in sources])
        calls = []

        def falling(m):  # a validation score that only falls: the best checkpoint would be the first
            validate(m)
            calls.append(1)
            return (1.0 - 0.1 * len(calls), 0.0)

        return real_train(model, sources, cfg, pad, falling, progress, **kwargs)

    monkeypatch.setattr(vrun, "sample_sequences", spy_sample)
    monkeypatch.setattr(vrun, "train", spy_train)
    result = vrun.execute(spec)
    assert result.status == "ok", result.reason
    assert seen["keep_last"] is True and seen["reference_weight"] == 1.0 and seen["sources"] == ["copy"]
    assert sampled and set(sampled) == {"copy"}  # training drew rows of the item only
    assert [step for step, _ in result.validation_curve] == [4, 8, 12]
    assert result.best_step == spec.train.steps == 12  # the last checkpoint, although the first scored best
    assert result.spec["primary_weight"] == 0.0 and len(result.measurements) == len(spec.test_lengths)


def test_train_keeps_the_best_checkpoint_unless_told_to_keep_the_last():
    spec = api.make_spec("reverse", pretraining(), **TINY_RUN)
    for keep_last, expected in ((False, 2), (True, 4)):
        _, _, vocab, model, sources = vrun.build(spec)
        scores = iter([(0.9, 0.0), (0.1, 0.0)])
        trained = train(model, sources, TrainConfig(steps=4, eval_every=2, batch=8), vocab.pad,
                        lambda m: next(scores), reference_weight=1.0, keep_last=keep_last)
        assert trained.best_step == expected and trained.best_score == ((0.9, 0.0) if expected == 2 else (0.1, 0.0))


def test_a_finetuning_child_starts_from_the_pretraining_stages_weights(tmp_path, monkeypatch):
    suite = Suite(name="stages", description="d", plans=(TaskPlan("reverse", "rope", "x"),), **TINY_SUITE,
                  conditions=(pretraining(), Condition("ft", init_from="pre", steps=4)), claims=())
    pre, ft = suite.runs()
    assert ft.init_from == pre and (pre.primary_weight, ft.primary_weight) == (0.0, 1.0)
    assert "primary_weight" not in ft.to_dict() and ft.to_dict()["init_from"]["primary_weight"] == 0.0
    at_start = {}
    real_train = vrun.train

    def spy(model, sources, cfg, *args, **kwargs):
        at_start[cfg.steps] = ([s.name for s in sources], kwargs.get("keep_last"),
                               {k: v.clone() for k, v in model.state_dict().items()})
        return real_train(model, sources, cfg, *args, **kwargs)

    monkeypatch.setattr(vrun, "train", spy)
    runs = run_all(suite.runs(), tmp_path, workers=1, show_progress=False)
    assert all(r.ok for r in runs.values()), [r.reason for r in runs.values()]
    assert runs[pre.key].best_step == 8 and runs[pre.key].spec.primary_weight == 0.0
    assert at_start[8][:2] == (["copy"], True)  # the stage: its mixture only, last checkpoint
    assert at_start[4][:2] == (["reverse"], False)  # the child: the primary, best checkpoint
    saved = torch.load(vrun.weights_path(tmp_path, pre.key), weights_only=True)
    child_start = at_start[4][2]
    assert set(child_start) == set(saved) and all(torch.equal(child_start[k], saved[k]) for k in saved)
    assert not all(torch.equal(at_start[8][2][k], saved[k]) for k in saved)  # pretraining changed the weights
    stored = RunStore(tmp_path).runs()
    assert stored[pre.key].spec == pre and stored[ft.key].spec == ft  # primary_weight survives the store


@pytest.mark.parametrize("mixture", [(), (RESTRICTION,), (Item(RESTRICTION, weight=2),)],
                         ids=["nothing", "restriction", "restriction-item"])
def test_primary_weight_zero_needs_a_task_to_train_on(mixture):
    with pytest.raises(SuiteError, match="primary_weight 0 trains on the mixture alone"):
        Condition("pre", mixture, primary_weight=0)


@pytest.mark.parametrize("weight", [-1, -0.5, 100.5, 1000, True, False, "1", None, float("nan")])
def test_primary_weight_must_be_a_number_in_0_to_100(weight):
    with pytest.raises(SuiteError, match="primary_weight must be a number in \\[0, 100\\]"):
        Condition("c", ("copy",), primary_weight=weight)


def test_primary_weights_that_are_allowed():
    assert Condition("c", ("copy", RESTRICTION), primary_weight=0).primary_weight == 0
    assert Condition("c", primary_weight=0.5).primary_weight == 0.5
    assert Condition("c", primary_weight=100).primary_weight == 100


# ---------------------------------------------------------------------------------- run keys


def test_to_dict_leaves_out_primary_weight_1_and_keeps_any_other():
    def spec(weight):
        return api.make_spec("reverse", Condition("c", ("copy",), primary_weight=weight), **TINY_RUN)

    default, as_int, half, zero = spec(1.0), spec(1), spec(0.5), spec(0)
    assert "primary_weight" not in default.to_dict() and "primary_weight" not in as_int.to_dict()
    assert as_int.key == default.key
    assert half.to_dict()["primary_weight"] == 0.5 and zero.to_dict()["primary_weight"] == 0.0
    assert len({default.key, half.key, zero.key}) == 3
    for s in (default, half, zero):
        back = RunSpec.from_dict(json.loads(json.dumps(s.to_dict())))
        assert back == s and back.key == s.key


@pytest.mark.parametrize("name", ["default", "arithmetic-restrictions", "transfer-pilot", "claims", "transfer",
                                  "rule-following", "long-context"])  # bf16 runs, and stages whose parents have rule prefixes
def test_committed_suites_keep_their_stored_run_keys(name):
    stored = json.loads((ROOT / "reports" / name / "runs.json").read_text())["runs"]
    keys = [s.key for s in load_suite(name).runs()]
    assert keys and set(keys) <= set(stored)


# ---------------------------------------------------------------------------------- train_max, seeds, test_factor


def test_a_condition_train_max_shortens_the_primarys_range_and_its_restriction_defaults():
    suite = mini((Condition("short", (RESTRICTION, "copy"), train_max=4), Condition("full", (RESTRICTION, "copy"))),
                 seeds=(0,))
    short, full = suite.runs()
    assert short.train_lengths == (1, 4) and full.train_lengths == (1, 8)
    task = resolve_task("reverse")
    assert (short.restriction_m, short.restriction_lengths) == restriction_defaults(task, 4)
    assert (full.restriction_m, full.restriction_lengths) == restriction_defaults(task, 8)
    assert short.restriction_lengths != full.restriction_lengths
    restriction, copy = short.mixture
    assert restriction.lengths == short.restriction_lengths and copy.lengths == (1, 4)  # item defaults follow
    assert short.test_lengths == full.test_lengths == tuple(range(1, 17))  # tested as far as the suite says
    assert short.key != full.key


@pytest.mark.parametrize("value", [0, -4, True, 4.0, "4"])
def test_a_condition_train_max_must_be_a_positive_integer(value):
    with pytest.raises(SuiteError, match="train_max must be an integer >= 1 or None"):
        Condition("c", train_max=value)


def test_condition_seeds_keep_only_those_of_the_plans_seeds():
    suite = mini((Condition("a", seeds=(0, 1)), Condition("b", seeds=(1, 7)), Condition("c")),
                 plans=(TaskPlan("reverse", "rope", "r"), TaskPlan("sort", "none", "s", seeds=(1, 2))))
    got = {}
    for s in suite.runs():
        got.setdefault((s.task, s.condition), []).append(s.seed)
    assert got == {("reverse", "a"): [0, 1], ("reverse", "b"): [1], ("reverse", "c"): [0, 1, 2],
                   ("sort", "a"): [1], ("sort", "b"): [1], ("sort", "c"): [1, 2]}


def test_a_stage_trains_only_seeds_its_parent_trains():
    with pytest.raises(SuiteError, match="a stage's seeds must be among its parent's") as err:
        mini((Condition("base", seeds=(0,)), Condition("tuned", init_from="base")))
    assert err.value.needle == "tuned" and "[1, 2]" in str(err.value)
    with pytest.raises(SuiteError, match="among its parent's"):
        mini((Condition("base", seeds=(0, 1)), Condition("tuned", init_from="base", seeds=(1, 2))))
    ok = mini((Condition("base", seeds=(0, 1)), Condition("tuned", init_from="base", seeds=(1,))))
    base1, tuned = [s for s in ok.runs() if s.seed == 1]
    assert tuned.init_from == base1 and [s.seed for s in ok.runs()] == [0, 1, 1]


def test_condition_seeds_that_share_nothing_with_the_plans_are_refused():
    with pytest.raises(SuiteError, match="none of the plan's seeds is in the condition's seeds"):
        mini((Condition("a", seeds=(5, 6)),))
    with pytest.raises(SuiteError, match="none of the plan's seeds"):
        mini((Condition("a", seeds=(0,)),), plans=(TaskPlan("reverse", "rope", "r", seeds=(3,)),))


@pytest.mark.parametrize("seeds", [(), (-1,), ("0",), (True,), 0, "01"])
def test_condition_seeds_must_be_non_negative_integers(seeds):
    with pytest.raises(SuiteError, match="seeds must be a non-empty tuple of integers >= 0 or None"):
        Condition("c", seeds=seeds)


def test_a_plans_test_factor_evaluates_its_runs_further():
    plans = (TaskPlan("reverse", "rope", "r", test_factor=4), TaskPlan("sort", "none", "s"))
    suite = mini((Condition("primary"),), plans=plans, seeds=(0,), train_max=4, test_factor=2)
    reverse, sort = suite.runs()
    assert reverse.test_lengths == tuple(range(1, 17)) and sort.test_lengths == tuple(range(1, 9))
    assert suite.test_lengths == tuple(range(1, 9)) and suite.longest_test == 16
    assert [p.test_max(suite) for p in suite.plans] == [16, 8]
    plain = mini((Condition("primary"),), plans=(TaskPlan("reverse", "rope", "r"), TaskPlan("sort", "none", "s")),
                 seeds=(0,), train_max=4, test_factor=2)
    assert plain.longest_test == 8
    # a claim's band may reach as far as the longest plan is tested
    mini((Condition("primary"),), plans=plans, seeds=(0,), train_max=4, test_factor=2,
         claims=(Extrapolates("primary", band=(2.0, 4.0), tasks=("reverse",)),))
    with pytest.raises(SuiteError, match="band must be"):
        mini((Condition("primary"),), plans=plain.plans, seeds=(0,), train_max=4, test_factor=2,
             claims=(Extrapolates("primary", band=(2.0, 4.0)),))


@pytest.mark.parametrize("value", [0, True, 2.0])
def test_a_plans_test_factor_must_be_a_positive_integer(value):
    with pytest.raises(SuiteError, match="test_factor must be an integer >= 1 or None"):
        mini((Condition("primary"),), plans=(TaskPlan("reverse", "rope", "r", test_factor=value),))


# ---------------------------------------------------------------------------------- mixture counts


def _source(name, weight):
    return Source(name, weight, lambda rng, k: None)


def test_mixture_counts_without_the_primary_scale_from_weight_1():
    broad = [_source(n, 0.2) for n in ("copy", "sort", "mqar", "capitalize", "running_parity")]
    assert _mixture_counts(broad, 64, reference_weight=1.0) == [round(0.2 * 64)] * 5 == [13] * 5
    assert _mixture_counts(broad, 64) == [64] * 5  # without a reference the first source is the reference
    with_primary = [_source("reverse", 1.0), _source("copy", 0.5)]
    assert _mixture_counts(with_primary, 64, reference_weight=1.0) == _mixture_counts(with_primary, 64) == [64, 32]
    assert _mixture_counts([_source("reverse", 2.0), _source("copy", 0.5)], 64, reference_weight=1.0) == [128, 32]
    assert _mixture_counts([_source("copy", 0.001)], 64, reference_weight=1.0) == [1]  # never none


def test_a_pretraining_stage_draws_a_fifth_of_a_batch_per_item():
    condition = Condition("pre", tuple(Item(t, lengths=(1, 3), weight=0.2) for t in ("copy", "sort")), primary_weight=0)
    spec = api.make_spec("reverse", condition, **TINY_RUN)
    *_, sources = vrun.build(spec)
    counts = _mixture_counts(sources, spec.train.batch, reference_weight=1.0)
    assert [s.name for s in sources] == ["copy", "sort"] and counts == [round(0.2 * spec.train.batch)] * 2
    rng = np.random.default_rng(0)
    assert all(len(s.sample(rng, c)) == c for s, c in zip(sources, counts))


# ---------------------------------------------------------------------------------- committed suites


def _transfer_suite() -> Suite:
    try:
        return load_suite("transfer")
    except SuiteError:  # its new claim kinds may not be wired yet: the file's SUITE still constructs
        return runpy.run_path(str(ROOT / "verify" / "suites" / "transfer.py"))["SUITE"]


def test_the_claims_suite_constructs_and_keeps_the_keys_it_copies():
    from_file = runpy.run_path(str(ROOT / "verify" / "suites" / "claims.py"))["SUITE"]
    suite = load_suite("claims")
    assert isinstance(from_file, Suite) and suite == from_file
    copied = ROOT / "reports" / "claims" / "copied.json"
    if copied.exists():  # runs copied from default and arithmetic-restrictions are still this suite's runs
        assert set(json.loads(copied.read_text())) <= {s.key for s in suite.runs()}


def test_transfer_pretraining_stages_hold_the_primary_out_and_are_finetuned_with_the_same_seeds():
    suite = runpy.run_path(str(ROOT / "verify" / "suites" / "transfer.py"))["SUITE"]
    assert isinstance(suite, Suite)
    suite = _transfer_suite()
    stages = [c for c in suite.conditions if c.primary_weight == 0]
    assert {c.name for c in stages} == {"pre-long-600", "pre-long-1200", "pre-long-2000", "pre-short-2000"}
    assert all(c.primary_weight == 1 for c in suite.conditions if c not in stages)
    (reverse,) = [p for p in suite.plans if p.task == "reverse"]
    runs = [s for s in suite.runs() if s.task == "reverse"]
    by = {}
    for s in runs:
        by.setdefault(s.condition, {})[s.seed] = s
    for stage in stages:
        assert stage.mixture and all(item.weight == 0.2 for item in stage.mixture)
        assert {s.primary_weight for s in by[stage.name].values()} == {0.0}
        children = [c for c in suite.conditions if c.init_from == stage.name and c.primary_weight == 1]
        assert len(children) == 1, stage.name
        (child,) = children
        assert child.mixture == () and child.seeds == stage.seeds
        assert reverse.seeds_in(suite, child) == reverse.seeds_in(suite, stage) == (0, 1, 2)
        assert set(by[child.name]) == set(by[stage.name])
        for seed, spec in by[child.name].items():
            assert spec.primary_weight == 1.0 and spec.init_from == by[stage.name][seed]
    # the long chain: each later stage starts from the earlier one
    assert suite.condition("pre-long-1200").init_from == "pre-long-600"
    assert suite.condition("pre-long-2000").init_from == "pre-long-1200"


def test_transfer_ratio_conditions_train_main_at_1_to_4_and_reverse_at_the_ratios():
    suite = _transfer_suite()
    ratio = [c for c in suite.conditions if c.name.startswith("ratio-")]
    assert [c.name for c in ratio] == ["ratio-0.5", "ratio-1", "ratio-2", "ratio-4", "ratio-8"]
    runs = [s for s in suite.runs() if s.condition.startswith("ratio-")]
    assert {s.task for s in runs} == {"capitalize_reverse"}
    tops = {}
    for s in runs:
        assert s.train_lengths == (1, 4) and s.primary_weight == 1.0
        (item,) = s.mixture
        assert item.source == "reverse" and item.kind == "task" and item.lengths[0] == 1
        tops.setdefault(s.condition, set()).add(item.lengths[1])
        assert max(s.test_lengths) >= item.lengths[1]  # every auxiliary length is measured
    assert [tops[c.name] for c in ratio] == [{2}, {4}, {8}, {16}, {32}]
    assert sorted({s.seed for s in runs}) == [0, 1] and len(runs) == 5 * 2  # 2 seeds: cut for time (suite file)
    # the other capitalize_reverse conditions keep the suite's range 1..8
    others = [s for s in suite.runs() if s.task == "capitalize_reverse" and not s.condition.startswith("ratio-")]
    assert others and {s.train_lengths for s in others} == {(1, 8)}


def test_a_condition_mixer_reaches_the_run_spec_and_is_checked():
    """Issue 13's mixers are condition settings: they reach the spec (and its key), the recurrent
    mixer refuses a position scheme, and the mixer lists of suite and model agree."""
    from verify.model import MIXERS
    from verify.suite import RUNNABLE_MIXERS

    assert set(RUNNABLE_MIXERS) == set(MIXERS)
    plain = Condition("a")
    hsa = Condition("b", mixer="hsa", chunk_size=4, top_k=1)
    suite = Suite(name="m", description="m", plans=(TaskPlan("passkey", "rope", "r"),), seeds=(0,), train_max=8,
                  test_factor=2, steps=10, conditions=(plain, hsa), claims=())
    a, b = suite.runs()
    assert (b.mixer, b.chunk_size, b.top_k) == ("hsa", 4, 1) and a.mixer == "attention"
    assert "mixer" not in a.to_dict() and b.to_dict()["mixer"] == "hsa"
    with pytest.raises(SuiteError, match="recurrent mixer"):
        Condition("c", mixer="recurrent", position_scheme="rope")
    with pytest.raises(SuiteError, match="recurrent mixer"):
        Suite(name="m", description="m", plans=(TaskPlan("passkey", "rope", "r"),), seeds=(0,), train_max=8,
              test_factor=2, steps=10, conditions=(Condition("c", mixer="recurrent"),), claims=())
    with pytest.raises(SuiteError, match="unknown mixer"):
        Condition("d", mixer="mamba")


def test_a_plan_can_name_its_test_lengths():
    """A long-context plan evaluates at the lengths it lists (64 × n at every length would cost more
    than training); they are refused together with test_factor or when not positive integers."""
    plan = TaskPlan("passkey", "rope", "r", test_lengths=(64, 4, 8, 8))
    suite = Suite(name="m", description="m", plans=(plan,), seeds=(0,), train_max=8, test_factor=2, steps=10,
                  conditions=(Condition("a"),), claims=())
    (spec,) = suite.runs()
    assert spec.test_lengths == (4, 8, 64) and suite.longest_test == 64
    for bad, message in (((), "non-empty"), ((0, 4), "integers >= 1"), ("64", "tuple")):
        with pytest.raises(SuiteError, match=message):
            Suite(name="m", description="m", plans=(TaskPlan("passkey", "rope", "r", test_lengths=bad),), seeds=(0,),
                  train_max=8, test_factor=2, steps=10, conditions=(Condition("a"),), claims=())
    with pytest.raises(SuiteError, match="not both"):
        Suite(name="m", description="m", plans=(TaskPlan("passkey", "rope", "r", test_lengths=(4,), test_factor=2),),
              seeds=(0,), train_max=8, test_factor=2, steps=10, conditions=(Condition("a"),), claims=())


def test_listed_test_lengths_the_task_cannot_take_are_refused_at_load(tmp_path):
    from verify.suite import load_suite

    path = tmp_path / "s.py"
    path.write_text("from verify.suite import Condition, Suite, TaskPlan\n"
                    "SUITE = Suite(name='s', description='d', seeds=(0,), train_max=4, test_factor=2, steps=10,\n"
                    "              plans=(TaskPlan('sort', 'rope', 'r', test_lengths=(16, 64)),),\n"
                    "              conditions=(Condition('a'),), claims=())\n")
    with pytest.raises(SuiteError, match="test length 64: .*distinct tokens"):
        load_suite(str(path))


def test_coupled_runs_whose_ids_changed_get_new_keys_and_the_others_keep_theirs():
    from verify.suite import load_suite

    claims = {(s.task, s.condition, s.seed): s for s in load_suite("claims").runs()}
    assert claims[("reverse", "coupled", 0)].coupling_ids == 2 and claims[("reverse", "predicted", 0)].coupling_ids == 2
    assert claims[("reverse_addition", "primary", 0)].coupling_ids == 1  # forward coupling: ids unchanged
    assert "coupling_ids" not in claims[("reverse_addition", "primary", 0)].to_dict()
    assert claims[("reverse", "coupled", 0)].to_dict()["coupling_ids"] == 2
    stored = set(json.loads(Path("reports/arithmetic-restrictions/runs.json").read_text())["runs"])
    assert {s.key for s in load_suite("arithmetic-restrictions").runs()} <= stored


@pytest.mark.parametrize("scheme", ["learned", "coupled"])
def test_a_position_table_holds_the_ids_of_restriction_items_longer_than_the_test_lengths(scheme):
    # restrictions keep the ids of the instance they are cut from: with test_factor 2 the restriction
    # item (up to 3n) reaches past the longest test instance, and training used to stop at the table's end
    spec = api.make_spec("reverse", Condition("r", (Item(RESTRICTION),)), seed=0, train_max=3, test_factor=2,
                         steps=20, position_scheme=scheme, eval_every=10, eval_instances=16)
    restriction_top = spec.mixture[0].lengths[1]
    assert restriction_top > max(spec.test_lengths)
    _, _, _, model, _ = vrun.build(spec)
    longest = vrun.sequence_length(resolve_task("reverse"), restriction_top)
    assert model.cfg.max_positions >= longest + spec.train.max_position_offset + 1
    assert vrun.execute(spec).status == "ok"
