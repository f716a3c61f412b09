"""`lengthgen propose TASK --related`: companions ranked by definition-level relatedness, text and JSON."""

import json

from verify.cli import main


def test_related_json_ranks_cais_auxiliaries_above_copy(capsys):
    assert main(["propose", "reverse_addition", "--related", "--format", "json"]) == 0
    related = json.loads(capsys.readouterr().out)["related"]
    assert related["threshold"] == 0.5 and abs(sum(related["weights"].values()) - 1) < 1e-9
    rows = {r["aux"]: r for r in related["companions"]}
    assert [r["rank"] for r in related["companions"]] == list(range(1, len(rows) + 1))
    for aux in ("no_carry_sum", "carry_only", "reverse_subtraction", "reverse_addition-without-carry"):
        assert rows[aux]["predicts_transfer"] and rows[aux]["rank"] < rows["copy"]["rank"]
    assert not rows["copy"]["predicts_transfer"]
    assert "reverse_addition-carry-2x" not in rows  # a longer variant is the same task, listed once
    assert rows["no_carry_sum"]["suggested_lengths"] == [1, 16] and rows["no_carry_sum"]["ratio"] == 2
    names = {c["name"] for c in rows["carry_only"]["components"]}
    assert names == {"coupling", "dependency kinds", "sub-rule", "support shape", "layout"}
    assert all(c["reason"] for c in rows["carry_only"]["components"])
    assert rows["maze_dfs"]["analysed"] is False and rows["maze_dfs"]["score"] is None


def test_related_text_shows_score_and_a_reason_per_component(capsys):
    assert main(["propose", "capitalize_reverse", "--related"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Related companions"):]
    first = section.splitlines()[1]
    assert "reverse" in first and "transfer predicted" in first and "score 0.9" in first
    assert "sub-rule" in section and "value map of reverse's rule" in section
    assert "maze_dfs: not analysed (opaque)" in section


def test_without_the_flag_there_is_no_related_section(capsys):
    assert main(["propose", "copy", "--format", "json"]) == 0
    assert "related" not in json.loads(capsys.readouterr().out)
