"""Verdict rules of the claims, on synthetic stored runs (no training)."""

from verify.claims import bound_holds_where_consistent, improves_extrapolation
from verify.spec import Measurement, RunSpec, StoredRun, TrainConfig


def fake_run(condition, seed, em_by_length, eps=0.0, consistent=1.0, status="ok", validation=1.0, n=2):
    measurements = []
    for length, em in em_by_length.items():
        measurements.append({"length": length, "outputs": length, "instances": 1000, "exact": int(round(em * 1000)),
                             "token_accuracy": em, "restrictions": 1000, "restriction_errors": int(eps * 1000),
                             "consistent": int(consistent * 1000)})
    spec = RunSpec(task="t", condition=condition, seed=seed, train_lengths=(1, n), test_lengths=tuple(em_by_length),
                   restriction_m=4, restriction_lengths=(1, 4), layers=1, d_model=16, heads=2, position_scheme="rope",
                   train=TrainConfig())
    return StoredRun(spec, f"{condition}{seed}", status, validation_exact=validation,
                     measurements=tuple(Measurement(**m) for m in measurements))


def test_clear_improvement_is_supported():
    treated = [fake_run("primary+restriction", s, {1: 1.0, 2: 1.0, 3: 0.9 + 0.01 * s, 4: 0.8}) for s in range(3)]
    baseline = [fake_run("primary", s, {1: 1.0, 2: 1.0, 3: 0.1 + 0.01 * s, 4: 0.0}) for s in range(3)]
    v = improves_extrapolation("t", baseline, treated, 2, 0.9)
    assert v.verdict == "supported" and "p = 0.050" in v.statistic


def test_no_difference_is_refuted_and_worse_is_refuted():
    same = [fake_run("primary", s, {1: 1.0, 2: 1.0, 3: 0.5, 4: 0.5}) for s in range(3)]
    same_t = [fake_run("primary+restriction", s, {1: 1.0, 2: 1.0, 3: 0.5, 4: 0.5}) for s in range(3)]
    assert improves_extrapolation("t", same, same_t, 2, 0.9).verdict == "refuted"


def test_mixed_seeds_are_inconclusive():
    treated = [fake_run("primary+restriction", s, {1: 1.0, 2: 1.0, 3: v, 4: v}) for s, v in enumerate((0.9, 0.1, 0.5))]
    baseline = [fake_run("primary", s, {1: 1.0, 2: 1.0, 3: v, 4: v}) for s, v in enumerate((0.4, 0.6, 0.3))]
    assert improves_extrapolation("t", baseline, treated, 2, 0.9).verdict == "inconclusive"


def test_models_that_never_fit_make_the_comparison_inconclusive():
    treated = [fake_run("primary+restriction", s, {1: 0.2, 2: 0.1, 3: 0.05, 4: 0.0}, validation=0.15) for s in range(3)]
    baseline = [fake_run("primary", s, {1: 0.2, 2: 0.1, 3: 0.0, 4: 0.0}, validation=0.15) for s in range(3)]
    assert improves_extrapolation("t", baseline, treated, 2, 0.9).verdict == "inconclusive"


def test_failed_runs_count_as_zero_not_dropped():
    treated = [fake_run("primary+restriction", s, {1: 1.0, 2: 1.0, 3: 0.9, 4: 0.9}) for s in range(2)]
    treated.append(fake_run("primary+restriction", 2, {}, status="failed"))
    baseline = [fake_run("primary", s, {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0}) for s in range(3)]
    v = improves_extrapolation("t", baseline, treated, 2, 0.9)
    assert "0.600 (primary+restriction, 3 seeds)" in v.statistic


def test_bound_claim_supported_refuted_inconclusive():
    # error 0.1 at N=3 with eps 0.05 -> r·eps = 0.15 >= error: holds
    holds = [fake_run("primary", 0, {1: 1.0, 3: 0.9, 4: 0.9}, eps=0.05)]
    assert bound_holds_where_consistent(holds, 2).verdict == "supported"
    # error 0.9 but eps 0 with perfect consistency: a real violation
    broken = [fake_run("primary", 0, {1: 1.0, 3: 0.1, 4: 0.1}, eps=0.0)]
    assert bound_holds_where_consistent(broken, 2).verdict == "refuted"
    # nobody is consistent: nothing to judge
    inconsistent = [fake_run("primary", 0, {1: 1.0, 3: 0.1, 4: 0.1}, consistent=0.5)]
    assert bound_holds_where_consistent(inconsistent, 2).verdict == "inconclusive"
