"""Rule tokens (``theory.rule_tokens``): every catalogue rule is written within the vocabulary, equal
rules give equal tokens however they are typed, different rules different tokens, opaque tasks and
out-of-vocabulary rules are refused by name; and the rule prefix rows of ``theory.serialize``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from theory.catalogue import CATALOGUE, OPAQUE
from theory.language import Eq, Intermediate, MinOver, Mod, Piecewise, j, n, t, x, y
from theory.rule_tokens import (MAX_LITERAL, RULE_START, RULE_VOCAB, RuleTokenError, rule_lengths, rule_tokens)
from theory.serialize import Vocab, add_rule_prefix, prefix_length, serialize
from theory.task import Task

ROOT = Path(__file__).resolve().parents[2]


def _definition(task) -> tuple:
    """What a rule is, independent of its tokens: the rules, r(n) and the initial values."""
    return (sp.srepr(task.rule), tuple(sp.srepr(e) for _, e in task.intermediates), sp.srepr(task.output_length),
            task.initial, task.intermediate_initial)


def test_the_vocabulary_has_no_duplicates_and_starts_with_the_shared_rule_token():
    assert len(set(RULE_VOCAB)) == len(RULE_VOCAB)
    assert RULE_VOCAB[0] == RULE_START == "rule"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_task_is_written_within_the_vocabulary(name):
    tokens = rule_tokens(CATALOGUE[name])
    assert set(tokens) <= set(RULE_VOCAB)
    assert tokens[:2] in (("def", "y"), ("def", "h0")) and tokens[-1] == "end" and "len" in tokens
    assert RULE_START not in tokens  # the shared start token is the row's first token, never inside a rule


def test_rule_lengths_cover_the_catalogue_and_stay_short():
    lengths = rule_lengths(CATALOGUE.values())
    assert set(lengths) == set(CATALOGUE)
    longest = max(lengths, key=lengths.get)
    print(f"longest rule: {longest} ({lengths[longest]} tokens); shortest: {min(lengths.values())}")
    # the longest catalogue rule (multiply by 3: two intermediates) is 70 tokens; reverse is 13
    assert (longest, lengths[longest]) == ("multiply_by_3", 70) and lengths["reverse"] == 13
    assert rule_lengths(OPAQUE.values()) == {}  # refused tasks are left out, not counted as 0


def test_distinct_catalogue_rules_give_distinct_tokens_and_equal_rules_equal_tokens():
    by_tokens = defaultdict(set)
    for task in CATALOGUE.values():
        by_tokens[rule_tokens(task)].add(task.name)
    for names in by_tokens.values():  # a shared sequence only where the definitions are the same rule
        assert len({_definition(CATALOGUE[name]) for name in names}) == 1, names
    shared = sorted(sorted(names) for names in by_tokens.values() if len(names) > 1)
    # the catalogue's tasks that differ only in their inputs (alphabet or sampler), not in the rule
    assert shared == [["copy", "repeat_copy"], ["retrieve_first", "retrieve_right"],
                      [f"sparse_parity_k{k}" for k in range(1, 6)]]
    assert len({_definition(t) for t in CATALOGUE.values()}) == len(by_tokens)


def _task(rule, name="t", **kw):
    return Task(name=name, description="d", length_meaning="tokens", rule=rule, alphabet=10, **kw)


def test_the_same_rule_typed_differently_gives_the_same_tokens():
    reverse = rule_tokens(CATALOGUE["reverse"])
    assert rule_tokens(_task(x[n - t - 1])) == rule_tokens(_task(x[-1 - t + n])) == reverse
    # Eq's sides, a comparison written either way, defaults of a content operator given or not
    assert rule_tokens(_task(Piecewise((x[t], Eq(t, 0)), (y[t - 1], True)))) == \
        rule_tokens(_task(Piecewise((x[t], Eq(0, t)), (y[t - 1], True))))
    sort = dict(alphabet=32, distinct=True)
    assert rule_tokens(Task(name="s", description="d", length_meaning="l", rule=MinOver(j, x[j], x[j] > y[t - 1]), **sort)) \
        == rule_tokens(Task(name="s", description="d", length_meaning="l", rule=MinOver(j, x[j], y[t - 1] < x[j], -1, n),
                            **sort)) == rule_tokens(CATALOGUE["sort"])


def test_intermediates_are_named_by_order_not_by_their_names():
    def with_state(name):
        h = Intermediate(name)
        return _task(Mod(x[t] + h[t], 2), intermediates={h: Piecewise((0, Eq(t, 0)), (x[t - 1], True))})

    assert rule_tokens(with_state("carry")) == rule_tokens(with_state("borrow"))
    assert rule_tokens(with_state("carry"))[:2] == ("def", "h0")


def test_what_changes_outputs_changes_the_tokens():
    base = rule_tokens(CATALOGUE["running_parity"])
    assert ("init", "y", "0") == base[-4:-1]  # y[-1] = 0 is part of the rule: it changes every output
    other_start = Task(name="rp", description="d", length_meaning="bits", alphabet=2, initial=1,
                       rule=Mod(x[t] + y[t - 1], 2))
    assert rule_tokens(other_start) != base
    assert rule_tokens(_task(x[t], output_length=n + 1 - 1)) == rule_tokens(CATALOGUE["copy"])
    assert rule_tokens(_task(Piecewise((x[t] + 1, x[t] < 9), (x[t], True)))) != \
        rule_tokens(_task(Piecewise((x[t] + 1, x[t] < 8), (x[t], True))))


def test_tokens_do_not_depend_on_the_process():
    """Deterministic: another interpreter with another hash seed writes every rule the same."""
    code = ("import json; from theory.catalogue import CATALOGUE; from theory.rule_tokens import rule_tokens; "
            "print(json.dumps({k: list(rule_tokens(v)) for k, v in CATALOGUE.items()}))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    assert json.loads(out.stdout) == {k: list(rule_tokens(v)) for k, v in CATALOGUE.items()}


@pytest.mark.parametrize("name", sorted(OPAQUE))
def test_an_opaque_task_is_refused_by_name(name):
    with pytest.raises(RuleTokenError, match=f"task '{name}' is opaque.*no symbolic rule"):
        rule_tokens(OPAQUE[name])


def test_a_literal_outside_the_vocabulary_is_refused_with_the_limits():
    big = MAX_LITERAL + 8
    task = Task(name="big", description="d", length_meaning="l", alphabet=64, rule=Piecewise((x[t], x[t] < big), (0, True)))
    with pytest.raises(RuleTokenError, match=f"task 'big': the literal {big} \\(integers -32..{MAX_LITERAL} only\\)"):
        rule_tokens(task)


def test_a_node_outside_the_vocabulary_is_refused():
    task = _task(x[t], output_length=sp.floor(n / 2) + 1)  # r(n) = floor(n/2) + 1: n/2 has a rational 1/2
    with pytest.raises(RuleTokenError, match="task 't': the expression 1/2 \\(a Half\\) has no token in the rule vocabulary"):
        rule_tokens(task)


# ------------------------------------------------------------------------------ rows with the rule prefix


def test_a_rule_vocabulary_grows_by_the_rule_tokens_only_when_asked():
    plain, ruled = Vocab(10, ("copy", "reverse")), Vocab(10, ("copy", "reverse"), rules=True)
    assert plain.size == 10 + 2 + 2 and ruled.size == plain.size + len(RULE_VOCAB)
    assert (ruled.sep, ruled.pad) == (plain.sep, plain.pad)
    ids = [ruled.sep, ruled.pad] + [ruled.rule_token(r) for r in RULE_VOCAB] + [ruled.task_token(k) for k in ruled.task_names]
    assert ids == list(range(10, ruled.size))  # rule tokens before task tokens: a stage appends task tokens
    with pytest.raises(ValueError, match="no rule tokens"):
        plain.rule_token("def")


@pytest.mark.parametrize("name", ["reverse", "no_carry_sum", "running_parity"])
def test_rule_rows_carry_the_rule_unsupervised_and_shift_the_instance(name):
    task = CATALOGUE[name]
    vocab, plain_vocab = Vocab(task.symbols, (name,), rules=True), Vocab(task.symbols, (name,))
    inputs = task.sample(np.random.default_rng(0), 4, 5)
    outputs = task.solve(inputs).outputs
    plain = serialize(task, inputs, outputs, plain_vocab)
    ruled = serialize(task, inputs, outputs, vocab)
    K = prefix_length(task, vocab)
    assert K == len(rule_tokens(task)) and prefix_length(task, plain_vocab) == 0
    assert (ruled.tokens[:, 0] == vocab.rule_token(RULE_START)).all()
    assert (ruled.tokens[:, 1:K + 1] == [vocab.rule_token(r) for r in rule_tokens(task)]).all()
    assert not ruled.mask[:, :K + 1].any()  # the rule is read, never predicted
    np.testing.assert_array_equal(ruled.tokens[:, K + 1:], plain.tokens[:, 1:])  # same symbol ids after it
    np.testing.assert_array_equal(ruled.mask[:, K + 1:], plain.mask[:, 1:])
    assert (ruled.positions == np.arange(ruled.tokens.shape[1])).all()
    # the prefix can be added afterwards to rows made in instance coordinates (how restrictions get it)
    later = add_rule_prefix(serialize(task, inputs, outputs, vocab, plain=True), task, vocab)
    for field in ("tokens", "positions", "mask"):
        np.testing.assert_array_equal(getattr(later, field), getattr(ruled, field))


def test_a_padded_restricted_row_keeps_its_ids_and_padding():
    from theory.serialize import SequenceBatch

    task, vocab = CATALOGUE["copy"], Vocab(10, ("copy",), rules=True)
    K = prefix_length(task, vocab)
    row = SequenceBatch(np.array([[vocab.task_token("copy"), 3, vocab.sep, 3, vocab.pad]]), np.array([[0, 2, 5, 7, 0]]),
                        np.array([[False, False, False, True, False]]))
    out = add_rule_prefix(row, task, vocab)
    assert out.positions[0].tolist() == [0, *range(1, K + 1), 2 + K, 5 + K, 7 + K, 0]
    assert out.tokens[0, -1] == vocab.pad and out.mask[0].tolist() == [False] * (K + 3) + [True, False]


def test_rule_rows_and_coupled_ids_do_not_combine():
    task = CATALOGUE["copy"]
    inputs = task.sample(np.random.default_rng(0), 2, 3)
    with pytest.raises(ValueError, match="coupled position ids"):
        serialize(task, inputs, task.solve(inputs).outputs, Vocab(10, ("copy",), rules=True), coupled=True)
