"""Bad suite files using the per-task plans, per-condition settings and transfer claims (issues 11-13)
are refused while the suite loads, in one line ``lengthgen: error: file:line: problem; fix``, exit 2.

docs/robustness.md ("Suite files with per-task plans and the transfer claims") has the table.
No test here trains a model: every input is refused before anything is trained or written.
"""

import json
import subprocess
import sys

import pytest

from verify.cli import main
from verify.store import COPIED, StoreError, read_copied
from verify.suite import SuiteError, load_suite

PLAN = 'TaskPlan("reverse", "rope", "w")'
CONDITIONS = 'Condition("alone"), Condition("+copy", (Item("copy", lengths=(1, 8)),))'
SWEEP = ('Condition("a", (Item("copy", lengths=(1, 2)),)), Condition("b", (Item("copy", lengths=(1, 4)),)), '
         'Condition("c", (Item("copy", lengths=(1, 8)),))')


def suite_text(plans=PLAN, conditions=CONDITIONS, claims="", extra=""):
    return f"""from verify.suite import *

SUITE = Suite(
    name="bad",
    description="bad-input probe",
    plans=({plans},),
    seeds=(0, 1),
    train_max=4,
    test_factor=2,
    steps=10,
    conditions=({conditions},),
    claims=({claims}),{extra}
)
"""


CASES = {
    # per-task plans
    "plan names an unknown condition": (
        dict(plans='TaskPlan("reverse", "rope", "w", conditions=("alone", "nope"))'),
        "task 'reverse' trains unknown condition 'nope'; known: alone, +copy"),
    "plan trains a stage without its parent": (
        dict(plans='TaskPlan("reverse", "rope", "w", conditions=("alone", "ft"))',
             conditions=CONDITIONS + ', Condition("ft", init_from="+copy", steps=5)'),
        "task 'reverse' trains 'ft', which starts from '+copy'; add '+copy' to its conditions"),
    "plan d_model not a multiple of its heads": (
        dict(plans='TaskPlan("reverse", "rope", "w", d_model=60, heads=8)'),
        "task 'reverse': d_model (60) must be a multiple of heads (8)"),
    "plan with test_lengths and test_factor": (
        dict(plans='TaskPlan("reverse", "rope", "w", test_lengths=(8, 16), test_factor=3)'),
        "task 'reverse': give test_lengths or test_factor, not both"),
    "plan test_lengths (0, 8)": (
        dict(plans='TaskPlan("reverse", "rope", "w", test_lengths=(0, 8))'),
        "test_lengths must be a non-empty tuple of integers >= 1 or None, got (0, 8)"),
    "plan test_lengths all inside the training range": (
        dict(plans='TaskPlan("reverse", "rope", "w", test_lengths=(2, 3))'),
        "test_lengths (2, 3) hold no length beyond train_max (4), so no claim could be judged; add longer lengths"),
    "plan seeds repeat": (
        dict(plans='TaskPlan("reverse", "rope", "w", seeds=(0, 0))'),
        "seeds must be a non-empty tuple of distinct integers >= 0 or None, got (0, 0)"),
    "plan section=5": (
        dict(plans='TaskPlan("reverse", "rope", "w", section=5)'),
        "task 'reverse': section (a report heading) must be a string, got 5"),
    # per-condition settings
    "condition seeds not among the plan's": (
        dict(conditions='Condition("alone"), Condition("+copy", ("copy",), seeds=(5,))'),
        "condition '+copy': none of the plan's seeds is in the condition's seeds (5,)"),
    "condition train_max at the plan's longest test length": (
        dict(conditions='Condition("alone"), Condition("long", train_max=8)'),
        "condition 'long': train_max 8 leaves no test length beyond it (task 'reverse' is tested up to 8)"),
    "condition train_max beyond the plan's test range": (
        dict(conditions='Condition("alone"), Condition("long", train_max=20)'),
        "condition 'long': train_max 20 leaves no test length beyond it"),
    "condition train_max 40 on sort": (
        dict(plans='TaskPlan("sort", "none", "w", test_factor=20)', conditions='Condition("alone"), Condition("long", train_max=40)'),
        "condition 'long', train_max = 40: task 'sort': length 40 needs more distinct tokens than the alphabet's 32; use n <= 32"),
    "primary_weight 0 with only the restriction": (
        dict(conditions='Condition("alone"), Condition("pre", ("restriction",), primary_weight=0)'),
        "condition 'pre': primary_weight 0 trains on the mixture alone; give it at least one task to train on"),
    "primary_weight -1": (
        dict(conditions='Condition("alone"), Condition("p", ("copy",), primary_weight=-1)'),
        "condition 'p': primary_weight must be a number in [0, 100], got -1"),
    "unknown mixer": (
        dict(conditions='Condition("alone"), Condition("m", mixer="mamba")'),
        "condition 'm': unknown mixer 'mamba'; choose one of attention, hsa, recurrent, recurrent+hsa"),
    "recurrent mixer under the plan's rope": (
        dict(conditions='Condition("alone"), Condition("rnn", mixer="recurrent")'),
        "the recurrent mixer takes no position scheme, and the plan's is 'rope'; give the condition position_scheme='none'"),
    "recurrent mixer with its own rope": (
        dict(conditions='Condition("alone"), Condition("rnn", mixer="recurrent", position_scheme="rope")'),
        "takes no position scheme; set position_scheme='none' (got 'rope')"),
    "hsa chunk_size 0": (
        dict(conditions='Condition("alone"), Condition("h", mixer="hsa", chunk_size=0)'),
        "condition 'h': chunk_size and top_k must be integers >= 1, got 0, 2"),
    # claim fields
    "claim tasks names a task whose plan lacks a condition": (
        dict(plans=PLAN + ', TaskPlan("copy", "rope", "w", conditions=("alone",))', claims='Beats("+copy", "alone", tasks=("copy",)),'),
        "claim Beats is about task 'copy', whose plan does not train +copy; add them to its conditions"),
    "claim tasks names an unplanned task": (
        dict(claims='Beats("+copy", "alone", tasks=("sort",)),'),
        "claim Beats names task 'sort', which no plan trains; planned: reverse"),
    "claim tasks is a string": (
        dict(claims='Extrapolates("alone", tasks="reverse"),'),
        "claim Extrapolates: tasks must be a tuple of task names, got 'reverse'"),
    "Extrapolates predictor magic": (
        dict(claims='Extrapolates("alone", predictor="magic"),'),
        "claim Extrapolates('alone'): predictor must be one of crasp, coupling, got 'magic'"),
    "Beats published better": (
        dict(claims='Beats("+copy", "alone", published="better"),'),
        "claim Beats: published must be one of improvement, none (the direction the cited paper reports) or None, got 'better'"),
    "Beats source blank": (
        dict(claims='Beats("+copy", "alone", source="  "),'),
        "source must be a non-empty string (the paper) or None, got '  '"),
    # transfer claims
    "RatioWindow with 2 conditions": (
        dict(claims='RatioWindow(("alone", "+copy"), aux="copy"),'),
        "claim RatioWindow: conditions must be a tuple of at least 3 distinct condition names, got ('alone', '+copy')"),
    "RatioWindow window (3, 4)": (
        dict(conditions=SWEEP, claims='RatioWindow(("a", "b", "c"), aux="copy", window=(3, 4)),'),
        "claim RatioWindow: window must be (lo, hi) with 0 < lo <= 1 <= hi, got (3, 4)"),
    "RatioWindow aux not trained": (
        dict(conditions=SWEEP, claims='RatioWindow(("a", "b", "c"), aux="sort"),'),
        "claim RatioWindow: condition 'a' does not train the auxiliary 'sort'"),
    "RatioWindow aux a list": (
        dict(conditions=SWEEP, claims='RatioWindow(("a", "b", "c"), aux=["copy"]),'),
        "claim RatioWindow: aux must be the auxiliary's mixture source (a string such as 'reverse'), got ['copy']"),
    "HeadReuse condition in both groups": (
        dict(claims='HeadReuse(("+copy",), ("+copy", "alone")),'),
        "claim HeadReuse: a condition is both transfer and control: ['+copy']"),
    "HeadReuse groups a string": (
        dict(claims='HeadReuse("+copy", ("alone",)),'),
        "claim HeadReuse: transfer_conditions must be a tuple of at least 1 distinct condition names, got '+copy'"),
    "GapTracksReuse unknown condition": (
        dict(claims='GapTracksReuse(("nope",)),'),
        "claim GapTracksReuse names unknown condition 'nope'; known: alone, +copy"),
    "AuxPredicts also_suites a string": (
        dict(claims='AuxPredicts(also_suites="default"),'),
        "claim AuxPredicts: also_suites must be a tuple of suite names, got 'default'"),
    "AuxPredicts published yes": (
        dict(claims='AuxPredicts(published="yes"),'),
        "claim AuxPredicts: published must be one of positive, none"),
    # suite fields
    "reuse_from names the suite itself": (
        dict(extra='\n    reuse_from=("bad",),'),
        "reuse_from names this suite itself ('bad'); name other suites' report folders"),
    "reuse_from a string": (
        dict(extra='\n    reuse_from="default",'),
        "reuse_from must be a tuple of other suites' names (their report folders), got 'default'"),
    "about=5": (
        dict(extra='\n    about=5,'),
        "about (the report's opening paragraph) must be a string, got 5"),
    # precision and rule prefixes (issue 13; docs/robustness.md)
    "precision fp16": (dict(extra='\n    precision="fp16",'), "unknown precision 'fp16'; choose one of fp32, bf16"),
    "precision None": (dict(extra='\n    precision=None,'), "unknown precision None; choose one of fp32, bf16"),
    "precision 1": (dict(extra='\n    precision=1,'), "unknown precision 1; choose one of fp32, bf16"),
    "skip_padding a string": (dict(extra='\n    skip_padding="yes",'), "skip_padding must be True or False, got 'yes'"),
    "skip_padding 1": (dict(extra='\n    skip_padding=1,'), "skip_padding must be True or False, got 1"),
    "rule_prefix a string": (
        dict(conditions='Condition("alone"), Condition("r", rule_prefix="yes")'),
        "condition 'r': rule_prefix must be True or False, got 'yes'"),
    "rule_prefix with an opaque mixture task": (
        dict(conditions='Condition("alone"), Condition("r", (Item("maze_dfs", lengths=(2, 3)),), rule_prefix=True)'),
        "condition 'r' has rule_prefix=True, but task 'maze_dfs' is opaque: its outputs come from a Python solver "
        "(theory.opaque), so it has no symbolic rule to write as rule tokens; drop rule_prefix from the condition"),
    "rule_prefix with an opaque primary": (
        dict(plans='TaskPlan("maze_dfs", "rope", "w")', conditions='Condition("alone"), Condition("r", rule_prefix=True)'),
        "condition 'r' has rule_prefix=True, but task 'maze_dfs' is opaque"),
    "rule_prefix stage from a parent without one": (
        dict(conditions='Condition("pre", ("copy",), primary_weight=0), '
                        'Condition("ft", init_from="pre", steps=5, rule_prefix=True)'),
        "condition 'ft' finetunes from 'pre', which has no rule prefix; a stage keeps its parent's vocabulary: "
        "give both the same rule_prefix"),
    "stage without a rule prefix from a parent with one": (
        dict(conditions='Condition("pre", ("copy",), primary_weight=0, rule_prefix=True), '
                        'Condition("ft", init_from="pre", steps=5)'),
        "condition 'ft' finetunes from 'pre', which has rule prefix; a stage keeps its parent's vocabulary"),
    "rule_prefix with coupled ids": (
        dict(conditions='Condition("alone"), Condition("r", rule_prefix=True, position_scheme="coupled")'),
        "condition 'r': rule_prefix does not combine with position scheme 'coupled'"),
    "rule_prefix with the hsa mixer": (
        dict(conditions='Condition("alone"), Condition("r", rule_prefix=True, mixer="hsa")'),
        "condition 'r': rule_prefix does not combine with the hsa mixer"),
}

#: a user task file whose rule reads through sympy's Abs, a node the rule vocabulary has no token for
ABS_TASK = """from sympy import Abs, Mod
from theory.language import x, t, n
from theory.task import Task

TASK = Task(name="absy", description="x at |n-1-2t| mod n", length_meaning="input tokens",
            rule=x[Mod(Abs(n - 1 - 2 * t), n)], alphabet=10)
"""


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_suite_field_is_one_line_before_anything_is_written(tmp_path, capsys, case):
    fields, phrase = CASES[case]
    path = tmp_path / "bad.py"
    path.write_text(suite_text(**fields))
    out = tmp_path / "out"
    try:
        code = main(["report", "--suite", str(path), "--out", str(out), "--no-train", "--quiet"])
    except SystemExit as done:  # argparse-style exits count as exit codes
        code = done.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith(f"lengthgen: error: {path}:") and phrase in err[0], err
    assert not out.exists()  # refused while loading: nothing written


def test_the_command_line_exits_2_without_a_traceback(tmp_path):
    """As a real process (a RatioWindow aux given as a list was a TypeError from the suite file)."""
    path = tmp_path / "bad.py"
    path.write_text(suite_text(**CASES["RatioWindow aux a list"][0]))
    done = subprocess.run([sys.executable, "-m", "verify.cli", "report", "--suite", str(path), "--out",
                           str(tmp_path / "out"), "--no-train"], capture_output=True, text=True, timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(err) == 1 and "claim RatioWindow: aux must be the auxiliary's mixture source" in err[0], err


@pytest.mark.parametrize("content, phrase", [
    ('{"abc": {"from": ', "is not readable JSON"),
    ("[]", "is not a key -> {from, finished_at} map; delete it"),
    ('{"2d7d9cddbaa72796": {}}', "run 2d7d9cddbaa72796: the entry needs a folder name under 'from'"),
    ('{"2d7d9cddbaa72796": {"from": 5, "finished_at": null}}', "the entry needs a folder name under 'from'"),
    ('{"2d7d9cddbaa72796": {"from": "/r/default", "finished_at": 7}}', "a time or null under 'finished_at'"),
])
def test_a_damaged_copied_json_is_one_clear_error_and_left_as_it_is(tmp_path, content, phrase):
    """``copied.json`` entries were read as ``entry["from"]`` (KeyError) and ``Path(entry["from"])``
    (TypeError) by the report: every shape is checked where the file is read."""
    (tmp_path / COPIED).write_text(content)
    with pytest.raises(StoreError, match="delete") as caught:
        read_copied(tmp_path)
    assert phrase in str(caught.value) and "\n" not in str(caught.value)
    assert (tmp_path / COPIED).read_text() == content


def test_a_well_formed_copied_json_is_read(tmp_path):
    record = {"2d7d9cddbaa72796": {"from": "/r/default", "finished_at": "2026-12-01T22:03:48+00:00"},
              "5cc36afc2b11e346": {"from": "/r/default", "finished_at": None}}
    (tmp_path / COPIED).write_text(json.dumps(record))
    assert read_copied(tmp_path) == record
    assert read_copied(tmp_path / "nothing-here") == {}


@pytest.mark.parametrize("as_primary", [False, True])
def test_rule_prefix_on_a_task_file_outside_the_rule_vocabulary_names_the_node_and_the_fix(tmp_path, capsys, as_primary):
    task = tmp_path / "absy.py"
    task.write_text(ABS_TASK)
    fields = (dict(plans=f'TaskPlan("{task}", "rope", "w")', conditions='Condition("alone"), Condition("r", rule_prefix=True)')
              if as_primary else
              dict(conditions=f'Condition("alone"), Condition("r", (Item("{task}", lengths=(1, 3)),), rule_prefix=True)'))
    path = tmp_path / "bad.py"
    path.write_text(suite_text(**fields))
    out = tmp_path / "out"
    code = main(["report", "--suite", str(path), "--out", str(out), "--no-train", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith(f"lengthgen: error: {path}:11: "), err
    assert ("condition 'r' has rule_prefix=True, but task 'absy': the expression Abs(-n + 2*t + 1) (a Abs) has no "
            "token in the rule vocabulary" in err[0] and "drop rule_prefix from the condition" in err[0]), err
    assert not out.exists()


@pytest.mark.parametrize("case", ["precision None", "rule_prefix with an opaque mixture task"])
def test_the_new_fields_exit_2_without_a_traceback_as_a_process(tmp_path, case):
    fields, phrase = CASES[case]
    path = tmp_path / "bad.py"
    path.write_text(suite_text(**fields))
    done = subprocess.run([sys.executable, "-m", "verify.cli", "report", "--suite", str(path), "--out",
                           str(tmp_path / "out"), "--no-train"], capture_output=True, text=True, timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(err) == 1 and phrase in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field", ['precision="fp16"', "precision=None", 'skip_padding="yes"'])
def test_a_bad_suite_level_setting_points_at_its_own_line(tmp_path, field):
    path = tmp_path / "bad.py"
    path.write_text(suite_text(extra=f"\n    {field},"))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == f"{field},")
    with pytest.raises(SuiteError) as caught:
        load_suite(str(path))
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
