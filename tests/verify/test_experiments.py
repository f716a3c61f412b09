"""Experiments as data: suite files (round trip, malformed files), conditions with any mixture,
finetuning stages from saved weights, the Python API, complete results.csv, weights on disk,
quick-look overrides and --fresh.  Training here is tiny (1 layer, d = 16, a few dozen steps)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import verify.run
from verify import api
from verify.cli import main
from verify.run import EVALUATION_SEED, build, weights_path
from verify.runner import run_all
from verify.spec import MixtureItem, RunSpec, StoredRun
from verify.store import RunStore
from verify.suite import SUITES_DIR, Condition, Item, Suite, SuiteError, TaskPlan, load_suite

TINY = dict(seeds=(0,), train_max=3, test_factor=2, steps=20, layers=1, d_model=16, heads=2, eval_instances=32,
            eval_every=10)


def write(tmp_path, body: str, name: str = "my_suite.py"):
    path = tmp_path / name
    path.write_text("from verify.suite import Suite, TaskPlan, Condition, Item, Beats, BoundHolds\n"
                    + textwrap.dedent(body))
    return path


# ---------------------------------------------------------------------------------- suite files


def test_committed_suites_are_files_with_their_runs_unchanged_in_meaning():
    assert {p.stem for p in SUITES_DIR.glob("*.py")} >= {"default", "smoke"}
    default = load_suite("default")
    specs = default.runs()
    assert len(specs) == 12 and default.condition_names == ("primary", "primary+restriction")
    for spec in specs:
        assert spec.position_scheme == {"reverse": "rope", "sort": "none"}[spec.task]
        assert spec.train_lengths == (1, 8) and spec.test_lengths[-1] == 24 and spec.train.steps == 2000
        if spec.condition == "primary":
            assert spec.mixture == ()
        else:  # the restriction family at its default lengths, weight 1, the primary's token
            assert spec.mixture == (MixtureItem("restriction", "restriction", spec.restriction_lengths, 1.0, spec.task),)
    assert [c.name for c in __import__("verify.claims", fromlist=["x"]).suite_claims(default)] == [
        "reverse: restriction auxiliaries improve extrapolation", "sort: restriction auxiliaries improve extrapolation",
        "the bound holds where the model is restriction-consistent"]


def test_suite_file_round_trip(tmp_path):
    path = write(tmp_path, """
        SUITE = Suite(
            name="mine", description="a custom mixture and a finetuning stage",
            plans=(TaskPlan("reverse", "rope", "positional read"),),
            seeds=(0, 3), train_max=3, test_factor=2, steps=20, layers=1, d_model=16, heads=2,
            eval_instances=32, eval_every=10,
            conditions=(Condition("base"),
                        Condition("with-copy", (Item("copy", lengths=(2, 5), weight=0.5),)),
                        Condition("tuned", ("restriction",), init_from="base", steps=10)),
            claims=(Beats("with-copy", "base"), BoundHolds(("tuned",))),
        )
    """)
    suite = load_suite(str(path))
    same = Suite(name="mine", description="a custom mixture and a finetuning stage",
                 plans=(TaskPlan("reverse", "rope", "positional read"),), **{**TINY, "seeds": (0, 3)},
                 conditions=(Condition("base"), Condition("with-copy", (Item("copy", lengths=(2, 5), weight=0.5),)),
                             Condition("tuned", (Item("restriction"),), init_from="base", steps=10)),
                 claims=suite.claims)
    assert suite == same
    specs = suite.runs()
    assert [(s.condition, s.seed) for s in specs] == [(c, seed) for c in ("base", "with-copy", "tuned") for seed in (0, 3)]
    copy_item = specs[2].mixture[0]
    assert (copy_item.source, copy_item.kind, copy_item.lengths, copy_item.weight, copy_item.token) == \
           ("copy", "task", (2, 5), 0.5, "copy") and copy_item.digest
    tuned = specs[4]
    assert tuned.init_from == specs[0] and tuned.train.steps == 10
    # a spec survives its stored form: the same key, the whole mixture and the parent included
    for spec in specs:
        back = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert back == spec and back.key == spec.key
    # the key hashes the mixture: another weight is another run
    other = load_suite(str(write(tmp_path, path.read_text().split("\n", 1)[1].replace("weight=0.5", "weight=0.25"),
                                 "other.py")))
    assert other.runs()[2].key != specs[2].key and other.runs()[0].key == specs[0].key


MALFORMED = [
    ('plans=(TaskPlan("no_such_task", "rope", "x"),)', "unknown task", 'TaskPlan("no_such_task"'),
    ('conditions=(Condition("a"), Condition("b", init_from="nope"))', "unknown condition 'nope'", "conditions="),
    ('conditions=(Condition("a", init_from="b"), Condition("b", init_from="a"))', "cycle", "conditions="),
    ('seeds=(0, "1")', "seeds must be", "SUITE = Suite("),
    ('steps=0', "steps must be an integer >= 1", "SUITE = Suite("),
    ('conditions=(Condition("a", (Item("copy", lengths=(5, 2)),)),)', "lengths must be", "conditions="),
    ('conditions=(Condition("a", (Item("no_such_aux"),)),)', "unknown task 'no_such_aux'", 'Item("no_such_aux")'),
    ('claims=(Beats("x", "primary"),)', "unknown condition 'x'", "claims="),
    ('conditions=(Condition("a", (Item("sort", lengths=(1, 40)),)),)', "length 40", 'Item("sort"'),
    ('conditions=(Condition("a", (Item("restriction", token="other"),)),)', "keep its task token", "conditions="),
    ('name="default"', "taken by the committed suite", 'name="default"'),
    ('heads=3', "multiple of heads", "SUITE = Suite("),
    ('plans=(TaskPlan("parity", "rope", "why"),), conditions=(Condition("a", ("restriction",)),)',
     "no restriction family", '"restriction"'),
]


@pytest.mark.parametrize("change, phrase, where", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_suite_files_are_one_line_with_file_and_line(tmp_path, capsys, change, phrase, where):
    fields = {"name": 'name="bad"', "plans": 'plans=(TaskPlan("reverse", "rope", "why"),)', "seeds": "seeds=(0,)",
              "steps": "steps=20", "heads": "heads=2", "claims": "claims=()"}
    key = change.split("=", 1)[0]
    fields[key] = change
    body = "\n".join(["SUITE = Suite(", '    description="d",', *(f"    {v}," for v in fields.values()),
                      "    train_max=3, test_factor=2, layers=1, d_model=16,", ")", ""])
    path = write(tmp_path, body)
    with pytest.raises(SuiteError) as err:
        load_suite(str(path))
    message = str(err.value)
    expected_line = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if where in line)
    assert "\n" not in message and phrase in message and message.startswith(f"{path}:{expected_line}: "), message
    assert main(["report", "--suite", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lengthgen: error: ") and phrase in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("body, phrase", [
    ("x = 1\n", "SUITE is nothing"),
    ("SUITE = Suite(\n", "syntax error"),
    ("raise SystemExit(3)\n", r"exits while being loaded \(SystemExit\(3\)"),
    ("SUITE = Suit()\n", "name 'Suit' is not defined"),
])
def test_suite_files_that_are_not_suites(tmp_path, body, phrase):
    path = write(tmp_path, body)
    with pytest.raises(SuiteError, match=phrase) as err:
        load_suite(str(path))
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_unknown_suite_name_and_missing_file():
    with pytest.raises(SuiteError, match="unknown suite 'nope'.*default.*smoke"):
        load_suite("nope")
    with pytest.raises(SuiteError, match="no suite file at"):
        load_suite("/no/such/suite.py")


# ---------------------------------------------------------------------------------- conditions


def test_a_plain_task_item_trains_at_its_own_lengths_with_its_own_token(tmp_path):
    suite = Suite(name="mix", description="d", plans=(TaskPlan("reverse", "rope", "x"),),
                  **{**TINY, "steps": 50, "eval_every": 25},  # the loss is recorded every 50 steps
                  conditions=(Condition("with-copy", (Item("copy", lengths=(4, 6), weight=0.5),)),), claims=())
    (spec,) = suite.runs()
    task, _, vocab, _, sources = build(spec)
    assert vocab.task_names == ("reverse", "copy") and [s.name for s in sources] == ["reverse", "copy"]
    batch = sources[1].sample(np.random.default_rng(0), 64)
    assert (batch.tokens[:, 0] == vocab.task_token("copy")).all()
    lengths = batch.mask.sum(axis=1)  # copy: r(n) = n supervised outputs
    assert lengths.min() >= 4 and lengths.max() <= 6 and len(set(lengths.tolist())) > 1
    run = run_all([spec], tmp_path, workers=1, show_progress=False)[spec.key]
    assert run.ok and [m.length for m in run.measurements] == list(range(1, 7))
    assert [s for s, _ in run.loss_curve] == [50] and [p[0] for p in run.validation_curve] == [25, 50]


def test_a_finetune_stage_starts_from_its_parents_saved_weights(tmp_path, monkeypatch):
    suite = Suite(name="stages", description="d", plans=(TaskPlan("reverse", "rope", "x"),), **TINY,
                  conditions=(Condition("base"), Condition("tuned", ("restriction",), init_from="base", steps=10),
                              Condition("grown", (Item("copy"),), init_from="base", steps=10)), claims=())
    base, tuned, grown = suite.runs()
    at_start = {}
    real_train = verify.run.train

    def spy(model, sources, cfg, *args, **kwargs):
        at_start[cfg.steps, len(sources), sources[-1].name] = {k: v.clone() for k, v in model.state_dict().items()}
        return real_train(model, sources, cfg, *args, **kwargs)

    monkeypatch.setattr(verify.run, "train", spy)
    runs = run_all(suite.runs(), tmp_path, workers=1, show_progress=False)
    assert all(r.ok for r in runs.values())
    saved = torch.load(weights_path(tmp_path, base.key), weights_only=True)
    start_tuned = at_start[10, 2, "reverse-restriction"]
    assert set(start_tuned) == set(saved) and all(torch.equal(start_tuned[k], saved[k]) for k in saved)
    fresh_init = at_start[20, 1, "reverse"]
    assert not all(torch.equal(fresh_init[k], saved[k]) for k in saved)  # training changed the parent
    # a stage that adds a task token: the parent's rows are copied, the new token's row is new
    start_grown = at_start[10, 2, "copy"]
    assert start_grown["embed.weight"].shape[0] == saved["embed.weight"].shape[0] + 1
    assert torch.equal(start_grown["embed.weight"][:-1], saved["embed.weight"])
    assert torch.equal(start_grown["head.weight"][:-1], saved["head.weight"])

    # a fresh clone has no weights: the parent is recomputed first, then the new stage runs
    weights_path(tmp_path, base.key).unlink()
    before = RunStore(tmp_path).runs()[base.key].finished_at
    longer = Suite(**{**suite.__dict__, "conditions": (suite.conditions[0],
                                                        Condition("tuned", ("restriction",), init_from="base", steps=12))})
    again = run_all(longer.runs(), tmp_path, workers=1, show_progress=False)
    assert weights_path(tmp_path, base.key).exists() and again[base.key].finished_at > before
    assert again[base.key].measurements == runs[base.key].measurements  # the same run, recomputed
    assert all(r.ok for r in again.values())


def test_a_stage_whose_parent_failed_is_stored_as_failed(tmp_path):
    suite = Suite(name="stages", description="d", plans=(TaskPlan("reverse", "rope", "x"),), **TINY,
                  conditions=(Condition("base"), Condition("tuned", ("restriction",), init_from="base")), claims=())
    base, tuned = suite.runs()
    RunStore(tmp_path).put(verify.run.RunResult(base.to_dict(), base.key, "failed", reason="loss blew up | tb").to_dict())
    run = run_all([tuned], tmp_path, workers=1, show_progress=False)[tuned.key]
    assert run.status == "failed" and f"parent run {base.key} (base) failed: loss blew up" in run.reason


# ---------------------------------------------------------------------------------- API, results, weights


@pytest.fixture(scope="module")
def smoke_pair(tmp_path_factory):
    """The smoke suite run once through the API and once through the command line (1 worker each)."""
    root = tmp_path_factory.mktemp("smoke")
    result = api.run_suite("smoke", out=root / "api", workers=1)
    assert main(["report", "--suite", "smoke", "--out", str(root / "cli"), "--workers", "1", "--quiet"]) == 0
    return root, result


def numbers(runs):
    return {r.key: (r.status, r.best_step, r.validation_exact, r.measurements) for r in runs}


def test_api_runs_the_smoke_suite_with_the_numbers_of_the_command_line(smoke_pair):
    root, result = smoke_pair
    assert isinstance(result.runs[0], StoredRun) and len(result.runs) == 4
    from_cli = api.load_results(root / "cli" / "smoke")
    assert numbers(result.runs) == numbers(from_cli.runs)
    assert result.verdicts == from_cli.verdicts and from_cli.suite == "smoke"
    rows = api.table(result.runs)
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert len(rows) == sum(len(r.measurements) for r in result.runs)
    assert {"condition", "seed", "length", "exact", "instances", "exact_match", "status"} <= set(rows[0])


def test_saved_weights_load_with_weights_only_and_reproduce_the_measurements(smoke_pair):
    from verify.measure import measure_length

    root, result = smoke_pair
    run = next(r for r in result.runs if r.spec.mixture)
    state = torch.load(weights_path(root / "api" / "smoke", run.key), weights_only=True)
    task, restriction, vocab, model, _ = build(run.spec)
    model.load_state_dict(state)
    torch.set_num_threads(2)  # as the in-process worker of --workers 1 on this machine
    for stored in run.measurements[-2:]:
        m = measure_length(model, task, restriction, vocab, stored.length, run.spec.eval_instances,
                           EVALUATION_SEED + stored.length)
        assert (m.exact, m.restriction_errors, m.consistent) == (stored.exact, stored.restriction_errors, stored.consistent)


def test_failed_runs_appear_in_results_csv(smoke_pair, tmp_path):
    import csv
    import shutil

    root, result = smoke_pair
    folder = tmp_path / "smoke"
    shutil.copytree(root / "api" / "smoke", folder)
    victim = result.runs[1]
    RunStore(folder).put(verify.run.RunResult(victim.spec.to_dict(), victim.key, "failed",
                                              reason="loss blew up to 9 at step 21 | traceback").to_dict())
    api.produce_report(load_suite("smoke"), folder, no_train=True)
    rows = list(csv.DictReader((folder / "results.csv").open()))
    failed = [r for r in rows if r["run_key"] == victim.key]
    assert len(failed) == 1 and failed[0]["status"] == "failed" and failed[0]["reason"] == "loss blew up to 9 at step 21"
    assert failed[0]["exact_match"] == "" and failed[0]["length"] == ""
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == sum(len(r.measurements) for r in result.runs if r.key != victim.key)
    assert {"scheme", "layers", "d_model", "steps", "train_lo", "train_hi", "condition", "instances", "exact",
            "restrictions", "restriction_errors", "consistent", "mixture"} <= set(rows[0])
    assert "**failed**: loss blew up to 9 at step 21" in (folder / "report.md").read_text()


def test_importing_the_api_prints_nothing_and_leaves_matplotlib_alone():
    code = ("import sys, matplotlib\nbefore = dict.__getitem__(matplotlib.rcParams, 'backend')\n"
            "import verify.api, verify.plots, verify.report\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
            "assert dict.__getitem__(matplotlib.rcParams, 'backend') == before, 'backend switched'\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


# ---------------------------------------------------------------------------------- overrides, --fresh


def test_quick_look_overrides_are_marked_and_fresh_moves_the_store_aside(tmp_path, capsys):
    args = ["report", "--suite", "smoke", "--out", str(tmp_path), "--workers", "1", "--quiet", "--seeds", "1",
            "--steps", "5"]
    assert main(args) == 0
    folder = tmp_path / "smoke-quick"
    assert not (tmp_path / "smoke").exists() and (folder / "report.md").exists()
    text = (folder / "report.md").read_text()
    assert "Quick look, not the suite as committed" in text and "seeds 1 (suite: 0,1)" in text and "steps 5 (suite: 30)" in text
    assert "trained 2 of 2 runs and reused 0" in text
    assert main(args) == 0
    assert "trained 0 of 2 runs and reused 2 from the store" in (folder / "report.md").read_text()
    old = (folder / "runs.sqlite").read_bytes()
    assert main(args + ["--fresh"]) == 0
    assert "moved the old store aside" in capsys.readouterr().out
    (previous,) = folder.glob("previous-*")
    assert (previous / "runs.sqlite").read_bytes() == old and len(list((previous / "weights").glob("*.pt"))) == 2
    assert "trained 2 of 2 runs" in (folder / "report.md").read_text()


def test_a_derived_task_item_resolves_to_its_derivation():
    from auxtasks.derive import derive
    from theory.catalogue import CATALOGUE

    suite = Suite(name="derived", description="d", plans=(TaskPlan("reverse_addition", "rope", "x"),), **TINY,
                  conditions=(Condition("carry", (Item("reverse_addition-carry", weight=0.5),)),), claims=())
    (spec,) = suite.runs()
    aux = derive(CATALOGUE["reverse_addition"], 3).by_name("reverse_addition-carry")
    (item,) = spec.mixture
    assert (item.kind, item.lengths, item.weight, item.token) == ("derived", aux.lengths, 0.5, aux.task.name)
    _, _, vocab, _, sources = build(spec)
    assert [s.name for s in sources] == ["reverse_addition", "reverse_addition-carry"]
    assert (sources[1].sample(np.random.default_rng(0), 8).tokens[:, 0] == vocab.task_token(aux.task.name)).all()
