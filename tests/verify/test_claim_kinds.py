"""Verdict rules of the newer claim kinds (Extrapolates, Ordering, TaskOrdering, Transfers) on
synthetic stored runs, their predictions from the task definitions, the agreement table, and a
suite file that states every kind (loaded, never trained)."""

import math

import pytest

from auxtasks.derive import resolve_task
from verify.claims import (
    agreement_table,
    extrapolates_claim,
    extrapolates_verdict,
    ordering_claim,
    task_ordering_claim,
    transfers_claim,
    transfers_verdict,
    trend_outcome,
)
from verify.report import predictions
from verify.spec import Measurement, RunSpec, StoredRun, TrainConfig
from verify.suite import SuiteError, load_suite

N = 4  # training maximum of the synthetic runs; test lengths 5..12


def fake_run(condition, seed, ood, task="t", validation=1.0, status="ok", lengths=range(1, 3 * N + 1)):
    """A stored run with exact match 1 at training lengths and ``ood`` beyond them (``ood`` may be a
    function of the length)."""
    measurements = []
    for length in lengths:
        em = 1.0 if length <= N else (ood(length) if callable(ood) else ood)
        measurements.append(Measurement(length=length, outputs=length, instances=1000, exact=int(round(em * 1000)),
                                        token_accuracy=em, restrictions=0, restriction_errors=0, consistent=0))
    spec = RunSpec(task=task, condition=condition, seed=seed, train_lengths=(1, N), test_lengths=tuple(lengths),
                   restriction_m=4, restriction_lengths=(1, 4), layers=1, d_model=16, heads=2, position_scheme="rope",
                   train=TrainConfig())
    return StoredRun(spec, f"{task}{condition}{seed}", status, validation_exact=validation,
                     measurements=tuple(measurements) if status == "ok" else ())


# ---------------------------------------------------------------------------- Extrapolates

EXPECT_EXTRAPOLATION = {"expected": "extrapolates"}
EXPECT_FAILURE = {"expected": "fails"}


def test_extrapolation_where_predicted_is_supported_and_failure_refuted():
    good = [fake_run("primary", s, 0.97 + 0.01 * s) for s in range(3)]
    v = extrapolates_verdict("t: x", good, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION)
    assert (v.verdict, v.outcome) == ("supported", "extrapolates")
    assert "lengths 5..8" in v.statistic and "seed 2: 0.990" in v.statistic
    bad = [fake_run("primary", s, 0.1 + 0.02 * s) for s in range(3)]
    v = extrapolates_verdict("t: x", bad, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION)
    assert (v.verdict, v.outcome) == ("refuted", "fails")
    # a non-member that fails supports its prediction; one that extrapolates refutes it
    assert extrapolates_verdict("t: x", bad, (N, 2 * N), 0.9, 0.9, EXPECT_FAILURE).verdict == "supported"
    assert extrapolates_verdict("t: x", good, (N, 2 * N), 0.9, 0.9, EXPECT_FAILURE).verdict == "refuted"


def test_extrapolation_band_selects_its_lengths():
    # perfect up to 2n, zero beyond: the first band extrapolates, the second fails
    runs = [fake_run("primary", s, lambda L: 1.0 if L <= 2 * N else 0.0) for s in range(3)]
    assert extrapolates_verdict("a", runs, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION).outcome == "extrapolates"
    assert extrapolates_verdict("b", runs, (2 * N, 3 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION).outcome == "fails"


def test_extrapolation_unfit_or_straddling_or_one_seed_is_inconclusive():
    unfit = [fake_run("primary", s, 0.05, validation=0.3) for s in range(2)] + [fake_run("primary", 2, 0.05)]
    v = extrapolates_verdict("t", unfit, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION)
    assert v.verdict == "inconclusive" and "fewer than half the seeds fit" in v.statistic
    # seeds on both sides of the threshold: the t interval straddles it
    mixed = [fake_run("primary", s, v) for s, v in enumerate((0.99, 0.5, 0.95))]
    v = extrapolates_verdict("t", mixed, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION)
    assert (v.verdict, v.outcome) == ("inconclusive", "unclear")
    one = [fake_run("primary", 0, 1.0)]
    assert extrapolates_verdict("t", one, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION).verdict == "inconclusive"


def test_failed_run_counts_as_zero():
    runs = [fake_run("primary", 0, 1.0), fake_run("primary", 1, 1.0), fake_run("primary", 2, 1.0, status="failed")]
    v = extrapolates_verdict("t", runs, (N, 2 * N), 0.9, 0.9, EXPECT_EXTRAPOLATION)
    assert "seed 2: 0.000" in v.statistic and v.outcome != "extrapolates"


@pytest.mark.parametrize("task,expected", [
    ("sort", "extrapolates"), ("unique_copy", "extrapolates"), ("majority", "extrapolates"),
    ("repeat_copy", "fails"), ("parity", "fails"), ("reverse_addition", "fails")])
def test_crasp_prediction_column(task, expected):
    claim = extrapolates_claim(task, "primary", (1.0, 2.0), 0.9, 8, 0.9)
    prediction = claim.predict()
    assert prediction["expected"] == expected
    assert prediction["crasp_member"] is (expected == "extrapolates")
    assert claim.name == f"{task}: primary extrapolates over lengths 9..16"


# ---------------------------------------------------------------------------- Ordering / TaskOrdering


def _ordered(task, conditions, values_by_group, validation=1.0):
    return [fake_run(c, s, v + 0.001 * s, task=task, validation=validation)
            for c, v in zip(conditions, values_by_group) for s in range(3)]


CONDITIONS = ("a", "b", "c")


def test_ordering_supported_refuted_and_too_small():
    claim = ordering_claim("t", CONDITIONS, N, 0.9)
    prediction = claim.predict()
    assert prediction["expected"] == "increasing"
    up = claim.judge(_ordered("t", CONDITIONS, (0.1, 0.5, 0.9)), prediction)
    assert up.verdict == "supported" and up.outcome == "increasing"
    down = claim.judge(_ordered("t", CONDITIONS, (0.9, 0.5, 0.1)), prediction)
    assert down.verdict == "refuted"
    # a perfect rank order of differences below MIN_EFFECT: significant, but too small to count
    tiny = claim.judge(_ordered("t", CONDITIONS, (0.500, 0.505, 0.510)), prediction)
    assert tiny.outcome == "too small" and tiny.verdict == "inconclusive" and "below 0.02" in tiny.statistic


def test_ordering_with_an_unfit_group_is_inconclusive():
    claim = ordering_claim("t", CONDITIONS, N, 0.9)
    runs = _ordered("t", CONDITIONS, (0.1, 0.5, 0.9))
    runs = [r if r.spec.condition != "a" else fake_run("a", r.spec.seed, 0.1, task="t", validation=0.2) for r in runs]
    v = claim.judge(runs, claim.predict())
    assert v.verdict == "inconclusive" and "in a " in v.statistic


def test_trend_outcome_is_what_the_theorem_uses():
    # the same numbers the sparsity theorem would see: k = 1, 2, 3 x 2 seeds, accuracy falling with k
    t = trend_outcome([1, 1, 2, 2, 3, 3], [0.9, 0.8, 0.5, 0.6, 0.1, 0.2])
    assert t["outcome"] == "decreasing" and t["rho"] < 0 and t["p"] <= 0.05
    assert math.isclose(t["change"], 0.15 - 0.85)
    assert trend_outcome([1, 2, 3], [0.5, 0.5, 0.5])["outcome"] == "flat"


def test_task_ordering_predicts_from_sparsity_and_judges():
    tasks = ("sparse_parity_k1", "sparse_parity_k2", "sparse_parity_k3")
    claim = task_ordering_claim("primary", tasks, N, 0.9)
    prediction = claim.predict()
    assert prediction["expected"] == "decreasing" and list(prediction["k"].values()) == [1, 2, 3]
    falling = [fake_run("primary", s, v + 0.001 * s, task=task) for task, v in zip(tasks, (0.9, 0.5, 0.1))
               for s in range(3)]
    assert claim.judge(falling, prediction).verdict == "supported"
    rising = [fake_run("primary", s, v + 0.001 * s, task=task) for task, v in zip(tasks, (0.1, 0.5, 0.9))
              for s in range(3)]
    assert claim.judge(rising, prediction).verdict == "refuted"
    unfit = [fake_run("primary", s, v, task=task, validation=0.5) for task, v in zip(tasks, (0.9, 0.5, 0.1))
             for s in range(3)]
    assert claim.judge(unfit, prediction).verdict == "inconclusive"


# ---------------------------------------------------------------------------- Transfers

BAND = (N, 2 * N)


def test_transfer_supported_refuted_inconclusive_and_every_seed_reported():
    related = {"expected": "transfer"}
    alone = [fake_run("primary", s, 0.05 + 0.01 * s) for s in range(3)]
    helped = [fake_run("primary+aux", s, v) for s, v in enumerate((0.7, 0.4, 0.9))]
    v = transfers_verdict("t: x", alone, helped, BAND, 0.9, related)
    assert (v.verdict, v.outcome) == ("supported", "transfer")
    # every seed, the median and the best — never only the best
    for text in ("seed 0: 0.700", "seed 1: 0.400", "seed 2: 0.900", "median 0.700, best 0.900", "median 0.060"):
        assert text in v.statistic
    same = [fake_run("primary+aux", s, 0.05 + 0.01 * s) for s in range(3)]
    assert transfers_verdict("t: x", alone, same, BAND, 0.9, related).verdict == "refuted"
    # the paper's controls: an unrelated auxiliary that does not help supports "no transfer"
    assert transfers_verdict("t: x", alone, same, BAND, 0.9, {"expected": "none"}).verdict == "supported"
    assert transfers_verdict("t: x", alone, helped, BAND, 0.9, {"expected": "none"}).verdict == "refuted"


def test_transfer_unfit_or_small_or_unstable_is_inconclusive():
    related = {"expected": "transfer"}
    alone = [fake_run("primary", s, 0.05 + 0.01 * s) for s in range(3)]
    unfit = [fake_run("primary+aux", s, 0.9, validation=0.1) for s in range(3)]
    v = transfers_verdict("t", alone, unfit, BAND, 0.9, related)
    assert v.verdict == "inconclusive" and "with the auxiliary" in v.statistic
    # one lucky seed: the difference is large but not significant
    lucky = [fake_run("primary+aux", s, v) for s, v in enumerate((0.02, 0.03, 0.95))]
    assert transfers_verdict("t", alone, lucky, BAND, 0.9, related).verdict == "inconclusive"


def test_transfer_prediction_comes_from_relatedness():
    # Cai et al.'s control pair (copy main, reverse aux) against their related pair (reverse
    # addition main, reverse subtraction aux), whatever auxtasks.relatedness says of each
    from auxtasks.relatedness import predict_transfer

    for main, aux in (("reverse_addition", "reverse_subtraction"), ("copy", "reverse")):
        claim = transfers_claim(main, "primary", "primary+aux", resolve_task(aux), (8, 16), 0.9)
        expected = "transfer" if predict_transfer(resolve_task(main), resolve_task(aux)) else "none"
        assert claim.predict()["expected"] == expected and claim.predict()["auxiliary"] == aux


# ---------------------------------------------------------------------------- agreement table


def test_agreement_table_counts_judged_claims_only():
    good = [fake_run("primary", s, 0.97 + 0.01 * s) for s in range(3)]
    bad = [fake_run("primary", s, 0.1 + 0.01 * s) for s in range(3)]
    unfit = [fake_run("primary", s, 0.1, validation=0.1) for s in range(3)]
    verdicts = [extrapolates_verdict("a", good, BAND, 0.9, 0.9, EXPECT_EXTRAPOLATION, published="extrapolates"),
                extrapolates_verdict("b", bad, BAND, 0.9, 0.9, EXPECT_FAILURE, published="fails"),
                # the prediction disagrees with the paper; the outcome agrees with the paper
                extrapolates_verdict("c", good, BAND, 0.9, 0.9, EXPECT_FAILURE, published="extrapolates"),
                extrapolates_verdict("d", bad, BAND, 0.9, 0.9, EXPECT_EXTRAPOLATION, published="extrapolates"),
                extrapolates_verdict("e", unfit, BAND, 0.9, 0.9, EXPECT_EXTRAPOLATION, published="extrapolates")]
    rows, summary = agreement_table(verdicts)
    assert [r["agrees"] for r in rows] == [True, True, True, False, None]
    assert [r["verdict"] for r in rows] == ["supported", "supported", "refuted", "refuted", "inconclusive"]
    assert (summary["agree"], summary["judged"], summary["claims"]) == (3, 4, 5)
    assert summary["lo"] < 0.75 < summary["hi"]


# ---------------------------------------------------------------------------- a suite file with every kind

SUITE_FILE = '''
from verify.suite import (Condition, Extrapolates, Item, Ordering, Suite, TaskOrdering, TaskPlan, Transfers,
                          BoundHolds)

SUITE = Suite(
    name="every-claim-kind", description="every claim kind, never trained",
    plans=(TaskPlan("sparse_parity_k1", "rope", "k = 1"), TaskPlan("sparse_parity_k2", "rope", "k = 2")),
    seeds=(0, 1, 2), train_max=4, test_factor=3, steps=10,
    conditions=(Condition("primary"), Condition("primary+copy", (Item("copy", lengths=(1, 8)),))),
    claims=(Extrapolates("primary", band=(1, 2), published="fails"), Extrapolates("primary", band=(2, 3)),
            Ordering(("primary", "primary+copy")), TaskOrdering("primary", ("sparse_parity_k1", "sparse_parity_k2")),
            Transfers("primary", "primary+copy", published="none"), BoundHolds()),
)
'''


def test_a_suite_with_every_claim_kind_loads_and_predicts(tmp_path):
    path = tmp_path / "kinds.py"
    path.write_text(SUITE_FILE)
    suite = load_suite(str(path))
    claims = predictions(suite)["claims"]
    assert len(claims) == 2 * 2 + 2 + 1 + 2 + 1
    transfer = claims["sparse_parity_k1: primary+copy transfers over lengths 5..8 vs primary"]
    assert transfer["prediction"]["auxiliary"] == "copy"
    assert claims["sparse_parity_k2: primary extrapolates over lengths 9..12"]["prediction"]["expected"] == "fails"


@pytest.mark.parametrize("claim,message", [
    ('Extrapolates("primary", band=(2, 5))', "1 <= lo < hi <= test_factor"),
    ('Extrapolates("nope")', "unknown condition 'nope'"),
    ('Ordering(("primary",))', "at least 2 distinct"),
    ('Ordering(("primary", "primary+copy"), metric="loss")', "unknown metric"),
    ('TaskOrdering("primary", ("sparse_parity_k1", "sort"))', "which no plan trains"),
    ('Transfers("primary", "primary")', "with itself"),
    ('Transfers("primary+copy", "primary")', "adds 0 tasks"),
    ('Extrapolates("primary", published="yes")', "published must be one of"),
])
def test_bad_claims_are_one_clear_line(tmp_path, claim, message):
    path = tmp_path / "bad.py"
    path.write_text(SUITE_FILE.replace('claims=(Extrapolates("primary", band=(1, 2), published="fails")',
                                       f'claims=({claim}'))
    with pytest.raises(SuiteError, match=message) as err:
        load_suite(str(path))
    assert "\n" not in str(err.value)


def test_a_transfer_without_a_band_is_refused(tmp_path):
    path = tmp_path / "short.py"
    path.write_text(SUITE_FILE.replace('Item("copy", lengths=(1, 8))', 'Item("copy")'))
    with pytest.raises(SuiteError, match="no band to transfer into"):
        load_suite(str(path))


def test_the_report_shows_the_agreement_table_first_and_every_verdict(tmp_path):
    from verify.claims import suite_claims
    from verify.report import _document

    path = tmp_path / "kinds.py"
    path.write_text(SUITE_FILE)
    suite = load_suite(str(path))
    preds = predictions(suite)
    # sparse parity alone fails beyond n; with copy the k=1 task is carried to 2n (the k=2 one is not)
    runs = [fake_run(c, s, (lambda L: 0.95 if L <= 2 * N else 0.0) if (c, task) == ("primary+copy", "sparse_parity_k1")
                     else 0.02 * s, task=task)
            for task in ("sparse_parity_k1", "sparse_parity_k2") for c in ("primary", "primary+copy") for s in range(3)]
    claims = suite_claims(suite)
    judged = {c.name: c.judge(runs, preds["claims"][c.name]["prediction"]) for c in claims}
    verdicts = list(judged.values())
    text = _document(suite, runs, preds, [], verdicts, [judged[c.name] for c in claims if c.task is None], {})
    assert text.index("## Agreement with the published claims") < text.index("## Verdicts")
    for v in verdicts:
        assert f"| {v.claim} | **{v.verdict}** |" in text
    k1 = judged["sparse_parity_k1: primary+copy transfers over lengths 5..8 vs primary"]
    assert k1.outcome == "transfer"  # whichever verdict relatedness's prediction makes of it
    assert "## Primary: OOD exact match falls with sparsity k" in text
    assert text.count("Cells are (run, test length) pairs") == 1  # the bound's own section, once


def test_a_design_that_cannot_reach_significance_says_so():
    # 2 groups x 3 seeds: even a perfect order has two-sided p = 2/20 = 0.1
    claim = ordering_claim("t", ("a", "b"), N, 0.9)
    v = claim.judge(_ordered("t", ("a", "b"), (0.1, 0.9)), claim.predict())
    assert v.verdict == "inconclusive" and "cannot show a trend" in v.statistic and "p = 0.100" in v.statistic
    claim = ordering_claim("t", CONDITIONS, N, 0.9)
    three = claim.judge(_ordered("t", CONDITIONS, (0.1, 0.5, 0.9)), claim.predict())
    assert three.verdict == "supported" and "cannot show" not in three.statistic
