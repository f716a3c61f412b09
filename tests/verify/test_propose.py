"""`lengthgen propose`: derived auxiliaries per family, JSON schema, errors, and a tiny screen."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auxtasks.derive import check_consistency, derive
from theory.catalogue import CATALOGUE
from verify.cli import main
from verify.propose import ScreenError, proposal, screen


def names(task, n=8):
    return [a.name for a in derive(CATALOGUE[task], n).auxiliaries]


def test_reverse_gets_restriction_first_and_position_prediction():
    got = names("reverse")
    assert got[0] == "reverse-restriction"
    assert "reverse-position" in got and "reverse-position-2x" in got


def test_sort_restriction_is_named_as_the_successor_hint():
    aux = derive(CATALOGUE["sort"], 8).auxiliaries[0]
    assert aux.family == "restriction"
    assert "successor hint" in aux.note and "task hinting" in aux.theory


def test_reverse_addition_yields_carry_only_and_no_carry():
    d = derive(CATALOGUE["reverse_addition"], 8)
    carry = d.by_name("reverse_addition-carry").task
    no_carry = d.by_name("reverse_addition-without-carry").task
    assert "Cai" in d.by_name("reverse_addition-carry").theory
    rng = np.random.default_rng(0)
    for n_value in (1, 4, 9):
        inputs = CATALOGUE["reverse_addition"].sample(rng, 32, n_value)
        # the derived tasks are exactly Cai et al.'s no-carry and carry-only (carry into / out of a digit)
        np.testing.assert_array_equal(no_carry.solve(inputs).outputs[:, :n_value],
                                      CATALOGUE["no_carry_sum"].solve(inputs).outputs)
        assert (no_carry.solve(inputs).outputs[:, n_value] == 0).all()  # the trailing 0
        np.testing.assert_array_equal(carry.solve(inputs).outputs[:, 1:],
                                      CATALOGUE["carry_only"].solve(inputs).outputs)
    # by provenance the support grows with n, but the minimal visible support is bounded (k = 5): the
    # carry is witnessed by the earlier output y[t-1] with a[t-1], b[t-1], so a restriction is offered
    restriction = d.auxiliaries[0]
    assert restriction.family == "restriction"
    assert "carry[t] ← y[t - 1], a[t - 1], b[t - 1]" in restriction.provenance
    assert "earlier output stands for the hidden carry" in restriction.provenance


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_family_is_consistent_for_every_catalogue_task(name):
    task = CATALOGUE[name]
    train_max = max(8, task.min_length)
    derivation = derive(task, train_max)

    @settings(max_examples=6, deadline=None)
    @given(seed=st.integers(0, 2**32 - 1), n_value=st.integers(task.min_length, min(16, task.max_length or 16)))
    def check(seed, n_value):
        for aux in derivation.auxiliaries:
            assert check_consistency(aux, task, np.random.default_rng(seed), n_value, batch=8) == []

    check()


def test_consistency_check_catches_a_wrong_label():
    """The position check is not vacuous: labels shifted by one point outside the support."""
    from dataclasses import replace

    from theory.language import t

    d = derive(CATALOGUE["reverse"], 8)
    aux = d.by_name("reverse-position")
    shifted = replace(aux, task=replace(aux.task, rule=aux.task.rule.subs(t, t + 1), name="shifted"))
    errors = check_consistency(shifted, CATALOGUE["reverse"], np.random.default_rng(0), 6)
    assert errors and "not in S_t" in errors[0]


def test_json_schema(capsys):
    assert main(["propose", "reverse_addition", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"task", "rule", "profile", "primary_alone", "auxiliaries", "not_derived", "train_lengths"}
    assert set(data["profile"]) >= {"sparsity", "k", "bounded", "dependencies", "crasp", "crasp_reasons", "coupling"}
    for aux in data["auxiliaries"]:
        assert set(aux) >= {"rank", "name", "family", "derived_from", "theory", "weight", "lengths", "example"}
        assert len(aux["example"]["tokens"]) == len(aux["example"]["positions"]) == len(aux["example"]["loss_mask"])
    assert [a["rank"] for a in data["auxiliaries"]] == list(range(1, len(data["auxiliaries"]) + 1))


def test_text_output_explains_the_primary_alone(capsys):
    assert main(["propose", "reverse"]) == 0
    out = capsys.readouterr().out
    assert "not C-RASP at definition level" in out and "do not expect extrapolation without auxiliaries" in out
    assert "1. reverse-restriction" in out


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "verify.cli", *args], capture_output=True, text=True)


def test_no_derivable_auxiliaries_is_a_clear_error():
    out = run_cli("propose", "parity")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no derivable auxiliary" in out.stderr and "support grows with n" in out.stderr


def test_user_file_round_trip_and_broken_file(tmp_path):
    good = tmp_path / "shift.py"
    good.write_text(textwrap.dedent("""\
        from sympy import Mod
        from theory.language import x, t, n
        from theory.task import Task
        TASK = Task(name="shift", description="rotate by one", length_meaning="tokens",
                    rule=x[Mod(t + 1, n)], alphabet=10)
        """))
    prop = proposal(__import__("theory.catalogue", fromlist=["load_task"]).load_task(str(good)), 6)
    assert prop["task"] == "shift" and prop["auxiliaries"][0]["name"] == "shift-restriction"
    bad = tmp_path / "bad.py"
    bad.write_text("from theory.task import Task\nTASK = Task(name='bad', description='', length_meaning='',\n"
                   "            rule=None, alphabet=10)\n")
    out = run_cli("propose", str(bad))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "bad.py:2" in out.stderr


def test_budget_too_small_is_refused():
    with pytest.raises(ScreenError, match="use --budget"):
        screen("reverse", 3, budget=0.5, seeds=2, workers=1, top=1, show_progress=False, model=(1, 16, 2))


@pytest.mark.slow
def test_tiny_screen_ranks_candidates(tmp_path):
    rows = screen("reverse", 3, budget=8, seeds=2, workers=1, top=1, out=tmp_path, show_progress=False,
                  model=(1, 16, 2), min_steps=10, eval_instances=32)
    assert [r["condition"] for r in rows] == ["primary", "+reverse-restriction"]
    for r in rows:
        assert r["seeds"] == 2 and r["ci"][0] <= r["ood_exact_match"] <= r["ci"][1]
        assert r["test_lengths"] == [4, 6]


def test_a_derived_task_trains_and_is_measured_like_a_catalogue_task():
    from verify.run import RunSpec, execute
    from verify.train import TrainConfig

    spec = RunSpec(task="reverse_addition-carry", condition="primary", seed=0, train_lengths=(1, 3),
                   test_lengths=(1, 2, 3, 4), restriction_m=12, restriction_lengths=(1, 6), layers=1, d_model=16,
                   heads=2, position_scheme="rope", train=TrainConfig(steps=20, eval_every=10, warmup=5),
                   eval_instances=16, validation_instances=16)
    result = execute(spec)
    assert result.status == "ok" and [m["length"] for m in result.measurements] == [1, 2, 3, 4]
    # the derived carry sequence is a hidden recurrence witnessed by its own previous output, so its
    # visible support is bounded and restrictions are measured
    assert all(m["restrictions"] > 0 for m in result.measurements)


def _tiny(task, scheme, auxiliaries=()):
    from verify.run import RunSpec
    from verify.spec import MixtureItem
    from verify.train import TrainConfig

    mixture = tuple(MixtureItem("restriction", "restriction", (1, 6), 1.0, task) if name == f"{task}-restriction"
                    else MixtureItem(name, "derived", (1, 3), 1.0, name) for name in auxiliaries)
    return RunSpec(task=task, condition="c", seed=0, mixture=mixture, train_lengths=(1, 3), test_lengths=(1, 2, 4),
                   restriction_m=8, restriction_lengths=(1, 6), layers=1, d_model=16, heads=2, position_scheme=scheme,
                   train=TrainConfig(steps=20, eval_every=10, warmup=5, max_position_offset=4),
                   eval_instances=16, validation_instances=16)


def test_coupled_runs_train_and_measure_on_coupled_ids(monkeypatch):
    from theory.structure import coupled_position_ids
    from verify import measure
    from verify.run import execute

    seen = []
    real = measure.predictions

    def spy(model, batch, chunk=512):
        seen.append(batch.positions[0].copy())
        return real(model, batch, chunk)

    monkeypatch.setattr(measure, "predictions", spy)
    result = execute(_tiny("reverse", "coupled", ("reverse-restriction",)))
    assert result.status == "ok" and len(result.measurements) == 3
    full_length_4 = [p for p in seen if len(p) == len(coupled_position_ids(CATALOGUE["reverse"], 4))]
    assert any((p == coupled_position_ids(CATALOGUE["reverse"], 4)).all() for p in full_length_4)


def test_unsupported_position_schemes_are_refused_clearly():
    from verify.run import build
    from verify.suite import SuiteError

    with pytest.raises(SuiteError, match="'predicted' needs a rule with a positional coupling"):
        build(_tiny("sort", "predicted"))  # predicted coupling predicts coupled ids: none to predict
    with pytest.raises(SuiteError, match="no"):
        build(_tiny("sort", "coupled"))  # content-selected: no positional coupling
    with pytest.raises(SuiteError, match="restriction items only"):
        build(_tiny("reverse", "coupled", ("reverse-position",)))
