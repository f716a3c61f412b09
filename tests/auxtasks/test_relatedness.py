"""Relatedness predicted from two definitions (auxtasks.relatedness): known pairs and each component."""

import pytest

from auxtasks.derive import derive
from auxtasks.relatedness import (TRANSFER_THRESHOLD, WEIGHTS, companion_candidates, footprint, predict_transfer,
                                  rank_companions, relatedness)
from theory.catalogue import ALL_TASKS, CATALOGUE
from theory.language import a, b, t
from theory.opaque import NOT_ANALYSED
from theory.task import Task


def rel(main, aux):
    return relatedness(ALL_TASKS[main], ALL_TASKS[aux])


def component(r, name):
    return next(c for c in r.components if c.name == name)


@pytest.mark.parametrize("aux", ["no_carry_sum", "carry_only", "reverse_subtraction"])
def test_reverse_addition_is_related_to_cais_auxiliaries(aux):
    r = rel("reverse_addition", aux)
    assert r.predicts_transfer and r.score >= TRANSFER_THRESHOLD
    assert component(r, "coupling").value == 1.0  # y[t] with a[t], b[t] in both


def test_copy_is_not_related_to_reverse_addition():
    r = rel("reverse_addition", "copy")
    assert not predict_transfer(CATALOGUE["reverse_addition"], CATALOGUE["copy"])
    assert r.score < TRANSFER_THRESHOLD
    assert component(r, "coupling").value == 0.0 and component(r, "sub-rule").value == 0.0


def test_the_papers_string_control_copy_with_reverse_is_unrelated():
    r = rel("copy", "reverse")
    assert not r.predicts_transfer
    assert component(r, "coupling").value == 0.0 and component(r, "layout").value == 1.0


def test_sub_rule_names_how_one_rule_sits_in_the_other():
    assert "with the intermediate carry removed" in component(rel("reverse_addition", "no_carry_sum"), "sub-rule").reason
    assert "intermediate carry (at t+1)" in component(rel("reverse_addition", "carry_only"), "sub-rule").reason
    assert "value map of reverse's rule" in component(rel("capitalize_reverse", "reverse"), "sub-rule").reason
    assert "same value map read at a different position" in component(
        rel("capitalize_reverse", "capitalize"), "sub-rule").reason
    borrow = component(rel("reverse_addition", "reverse_subtraction"), "sub-rule")
    assert borrow.value == 0.5 and "borrow" in borrow.reason


def test_a_bare_read_is_never_a_sub_rule():
    # copy's x[t] and reverse's x[n-1-t] are the same "value map" (identity) at two positions: not a sub-rule
    assert component(rel("copy", "reverse"), "sub-rule").value == 0.0


def test_the_derived_no_carry_task_is_recognised_as_the_catalogue_one():
    derived = derive(CATALOGUE["reverse_addition"], 8).by_name("reverse_addition-without-carry").task
    r = relatedness(CATALOGUE["no_carry_sum"], derived)
    assert component(r, "sub-rule").value == 1.0 and component(r, "coupling").value == 1.0


def test_relatedness_is_symmetric_in_its_score():
    for m, x in [("reverse_addition", "no_carry_sum"), ("reverse_addition", "carry_only"), ("copy", "mqar"),
                 ("capitalize_reverse", "capitalize")]:
        assert rel(m, x).score == pytest.approx(rel(x, m).score)


def test_copy_and_mqar_share_no_definition_level_structure():
    # Cai et al. found transfer here; the definitions share no coupling, sub-rule or support shape
    r = rel("copy", "mqar")
    assert not r.predicts_transfer
    assert component(r, "coupling").value == 0.0 and component(r, "support shape").value == 0.0


def test_support_footprint_is_offsets_from_t_with_moving_marks():
    assert footprint(CATALOGUE["copy"]) == {("x", 0)}
    assert footprint(CATALOGUE["reverse"]) == {("moving", "x")}
    assert footprint(CATALOGUE["reverse_addition"]) == {("a", 0), ("b", 0), ("a", -1), ("b", -1), ("y", -1)}


def test_operands_correspond_by_position_when_layouts_match():
    swapped = Task(name="swapped_sum", description="digit-wise sum, operands named the other way",
                   length_meaning="digits", alphabet=10, operands=(b, a), rule=(b[t] + a[t]) % 10)
    r = relatedness(CATALOGUE["no_carry_sum"], swapped)
    assert component(r, "coupling").value == 1.0 and component(r, "support shape").value == 1.0


def test_score_is_the_weighted_mean_of_applicable_components():
    r = rel("sort", "unique_copy")  # neither has a positional coupling: that component does not apply
    assert component(r, "coupling").value is None
    used = [c for c in r.components if c.value is not None]
    expected = sum(c.weight * c.value for c in used) / sum(c.weight for c in used)
    assert r.score == pytest.approx(expected, abs=1e-4)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_coarse_components_alone_cannot_cross_the_threshold():
    coarse = WEIGHTS["dependency kinds"] + WEIGHTS["layout"]
    assert coarse < TRANSFER_THRESHOLD


def test_opaque_tasks_are_not_analysed_unless_declared():
    r = rel("maze_dfs", "copy")
    assert not r.analysed and r.score is None and not r.predicts_transfer and r.components == ()
    assert NOT_ANALYSED in r.summary()
    declared = rel("maze_dfs", "maze_path")
    assert not declared.analysed and declared.predicts_transfer and "declared" in declared.declared


def test_ranking_puts_related_companions_first_and_opaque_last():
    main = CATALOGUE["reverse_addition"]
    candidates = companion_candidates(main, 8)
    names = [c.name for c in candidates]
    assert "reverse_addition" not in names and "reverse_addition-carry" in names and "maze_dfs" in names
    assert len(names) == len(set(names))
    ranked = rank_companions(main, candidates)
    top = [r.aux for r in ranked[:6]]
    assert {"no_carry_sum", "carry_only", "reverse_subtraction"} <= set(top)
    analysed = [r.analysed for r in ranked]
    assert analysed == sorted(analysed, reverse=True) and {r.aux for r in ranked if not r.analysed} == {
        "maze_dfs", "maze_path"}  # the opaque tasks, after every analysed one
    scores = [r.score for r in ranked if r.analysed]
    assert scores == sorted(scores, reverse=True)
    assert ranked[[r.aux for r in ranked].index("copy")].score < TRANSFER_THRESHOLD
