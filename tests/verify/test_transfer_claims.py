"""The transfer claims of issue 11 (HeadReuse, GapTracksReuse, RatioWindow, AuxPredicts) on hand-made
stored runs: each verdict's supported / refuted / inconclusive cases (runs stored before the transfer
fields and unfit runs included), their predictions from the definitions, the hook in ``suite_claims``,
and the report's transfer sections and plots.  Nothing is trained."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from verify.claims import suite_claims
from verify.spec import ItemCheckpoint, Measurement, MixtureItem, RunSpec, StoredRun, TrainConfig, TransferCheckpoint
from verify.store import RunStore
from verify.suite import (AuxPredicts, Condition, GapTracksReuse, HeadReuse, Item, RatioWindow, Suite, TaskPlan,
                          Transfers)
from verify.transfer_claims import (
    aux_predicts_claim,
    aux_predicts_verdict,
    gap_tracks_reuse_claim,
    gap_tracks_verdict,
    head_reuse_claim,
    head_reuse_verdict,
    ratio_window_claims,
    run_gap,
    sign_flip_test,
)

N = 4  # the primary trains at 1..N; tested at 1..4N
TASK = "capitalize_reverse"
INSTANCES = 100


def make_spec(condition, seed, items=(("reverse", 2 * N),), task=TASK) -> RunSpec:
    mixture = tuple(MixtureItem(source, "task", (1, top), 1.0, source, "") for source, top in items)
    return RunSpec(task=task, condition=condition, seed=seed, train_lengths=(1, N), test_lengths=tuple(range(1, 4 * N + 1)),
                   restriction_m=4, restriction_lengths=(1, 4), layers=2, d_model=16, heads=2, position_scheme="rope",
                   train=TrainConfig(), mixture=mixture)


def _count(fraction: float) -> int:
    return int(round(fraction * INSTANCES))


def from_spec(spec: RunSpec, main=0.0, aux=1.0, maps=None, checkpoints=(), validation=1.0, status="ok",
              eps=None, measured=True) -> StoredRun:
    """A stored run: the primary has exact match 1 at 1..n and ``main`` beyond; each item 1 up to
    min(n, A), ``aux`` between min(n, A) and max(n, A), 0 beyond.  ``maps``: (primary map, item
    offset) or None; ``eps``: restriction error per test length (None: no restrictions measured);
    ``measured=False``: a run stored before the transfer fields existed."""
    measurements = []
    for L in spec.test_lengths:
        em = 1.0 if L <= N else main
        restrictions = INSTANCES if eps is not None else 0
        errors = _count(eps) if eps is not None and L > N else 0
        measurements.append(Measurement(L, L, INSTANCES, _count(em), em, restrictions, errors, restrictions - errors))
    item_measurements, head_maps = {}, {}
    for item in spec.mixture:
        lo, hi = sorted((N, item.lengths[1]))
        item_measurements[item.source] = tuple((L, _count(1.0 if L <= lo else aux if L <= hi else 0.0), INSTANCES)
                                               for L in spec.test_lengths)
    if maps is not None:
        base, offset = maps
        head_maps = {spec.task: tuple(map(tuple, base))}
        head_maps.update({item.source: tuple(map(tuple, np.asarray(base) + offset)) for item in spec.mixture})
    ok = status == "ok"
    return StoredRun(spec, spec.key, status, validation_exact=validation if ok else float("nan"),
                     measurements=tuple(measurements) if ok else (),
                     item_measurements=item_measurements if ok and measured else {},
                     head_maps=head_maps if ok and measured else {}, head_map_length=6 if head_maps and measured else 0,
                     transfer_checkpoints=tuple(checkpoints) if ok and measured else ())


def fake(condition, seed, items=(("reverse", 2 * N),), **kw) -> StoredRun:
    return from_spec(make_spec(condition, seed, items), **kw)


BASE_MAP = np.array([[0.5, 0.1], [0.0, 0.3]])

# ---------------------------------------------------------------------------- HeadReuse

SMALLER = {"expected": "smaller"}


def test_head_reuse_supported_when_related_maps_differ_less():
    transfer = [fake("with-reverse", s, maps=(BASE_MAP, d)) for s, d in enumerate((0.01, 0.02, 0.03, 0.02))]
    control = [fake("with-copy", s, items=(("copy", 2 * N),), maps=(BASE_MAP, d))
               for s, d in enumerate((0.2, 0.25, 0.3, 0.22))]
    v = head_reuse_verdict("h", transfer, control, 0.9, SMALLER, "smaller")
    assert (v.verdict, v.outcome) == ("supported", "smaller")
    assert "seed 2: 0.030" in v.statistic and "seed 2: 0.300" in v.statistic  # every seed
    assert {r["group"] for r in v.rows} == {"transfer", "control"} and len(v.rows) == 8


def test_head_reuse_refuted_when_the_maps_differ_alike():
    same = (0.1, 0.11, 0.12, 0.1)
    transfer = [fake("with-reverse", s, maps=(BASE_MAP, d)) for s, d in enumerate(same)]
    control = [fake("with-copy", s, items=(("copy", 2 * N),), maps=(BASE_MAP, d)) for s, d in enumerate(same)]
    v = head_reuse_verdict("h", transfer, control, 0.9, SMALLER)
    assert (v.verdict, v.outcome) == ("refuted", "none")


@pytest.mark.parametrize("case", ["old runs", "unfit", "no prediction"])
def test_head_reuse_inconclusive(case):
    measured, validation, prediction = case != "old runs", 0.1 if case == "unfit" else 1.0, SMALLER
    if case == "no prediction":
        prediction = {"expected": "unknown", "why": "the definitions do not support the grouping"}
    transfer = [fake("with-reverse", s, maps=(BASE_MAP, 0.01), measured=measured, validation=validation) for s in range(3)]
    control = [fake("with-copy", s, items=(("copy", 2 * N),), maps=(BASE_MAP, 0.3 + 0.01 * s), measured=measured)
               for s in range(3)]
    v = head_reuse_verdict("h", transfer, control, 0.9, prediction)
    assert v.verdict == "inconclusive"
    assert {"old runs": "not measured: 6 of 6 runs stored before head maps", "unfit": "fit the training range in transfer",
            "no prediction": "nothing predicted"}[case] in v.statistic


def two_aux_suite(**kw) -> Suite:
    conditions = (Condition("alone"), Condition("with-reverse", (Item("reverse", lengths=(1, 8)),)),
                  Condition("with-copy", (Item("copy", lengths=(1, 8)),)))
    settings = dict(name="transfer-test", description="d", plans=(TaskPlan(TASK, "rope", "r"),), seeds=(0, 1, 2),
                    train_max=N, test_factor=4, steps=10, conditions=conditions,
                    claims=(HeadReuse(("with-reverse",), ("with-copy",)),))
    return Suite(**{**settings, **kw})


def test_head_reuse_predicts_the_papers_direction_and_records_relatedness():
    suite = two_aux_suite()
    right = head_reuse_claim(HeadReuse(("with-reverse",), ("with-copy",)), suite).predict()
    assert right["expected"] == "smaller" and "the definitions agree with the grouping" in right["why"]
    assert right["pairs"]["transfer"][f"{TASK}/with-reverse/reverse"]["related"] is True
    assert right["pairs"]["control"][f"{TASK}/with-copy/copy"]["related"] is False
    swapped = head_reuse_claim(HeadReuse(("with-copy",), ("with-reverse",)), suite).predict()
    assert swapped["expected"] == "smaller" and "the definitions disagree with the grouping for: copy" in swapped["why"]


# ---------------------------------------------------------------------------- GapTracksReuse

POSITIVE = {"expected": "positive"}


def checkpoints(direction: int, source="reverse", top=2 * N, count=5) -> list[TransferCheckpoint]:
    """The main task rises toward the auxiliary over checkpoints (the gap shrinks); the map difference
    shrinks with it (direction 1) or grows (direction -1)."""
    lengths = tuple(range(N + 1, top + 1))
    out = []
    for j in range(count):
        main = j / count
        metric = 0.5 - 0.1 * j if direction > 0 else 0.1 + 0.1 * j
        out.append(TransferCheckpoint(250 * (j + 1), lengths, tuple(main for _ in lengths),
                                      {source: ItemCheckpoint(tuple(1.0 for _ in lengths), metric)}))
    return out


def test_gap_tracks_reuse_supported_refuted_and_underpowered():
    together = [fake("with-reverse", s, checkpoints=checkpoints(1)) for s in range(5)]
    v = gap_tracks_verdict("g", together, 0.9, POSITIVE, "positive")
    assert (v.verdict, v.outcome) == ("supported", "positive")
    assert "p = 0.031" in v.statistic and all(r["rho"] == pytest.approx(1.0) for r in v.rows)
    apart = [fake("with-reverse", s, checkpoints=checkpoints(-1)) for s in range(5)]
    assert gap_tracks_verdict("g", apart, 0.9, POSITIVE).verdict == "refuted"
    # 3 runs: even three perfect rhos give a sign-flip p of 1/8
    three = gap_tracks_verdict("g", together[:3], 0.9, POSITIVE)
    assert three.verdict == "inconclusive" and "add seeds" in three.statistic


def test_gap_tracks_reuse_for_controls_expects_no_tracking():
    suite = two_aux_suite()
    claim = gap_tracks_reuse_claim(GapTracksReuse(("with-copy",), published="none", label="controls"), suite)
    prediction = claim.predict()
    assert prediction["expected"] == "none" and prediction["pairs"]["control"][f"{TASK}/with-copy/copy"]["related"] is False
    apart = [fake("with-copy", s, items=(("copy", 2 * N),), checkpoints=checkpoints(-1, source="copy")) for s in range(5)]
    together = [fake("with-copy", s, items=(("copy", 2 * N),), checkpoints=checkpoints(1, source="copy")) for s in range(5)]
    assert claim.judge(apart, prediction).verdict == "supported"
    assert claim.judge(together, prediction).verdict == "refuted"
    assert gap_tracks_reuse_claim(GapTracksReuse(("with-reverse",)), suite).predict()["expected"] == "positive"


def test_gap_tracks_reuse_inconclusive_for_old_or_unfit_runs():
    old = [fake("with-reverse", s, checkpoints=checkpoints(1), measured=False) for s in range(5)]
    v = gap_tracks_verdict("g", old, 0.9, POSITIVE)
    assert v.verdict == "inconclusive" and "not measured" in v.statistic and "transfer checkpoints" in v.statistic
    unfit = [fake("with-reverse", s, checkpoints=checkpoints(1), validation=0.2) for s in range(5)]
    v = gap_tracks_verdict("g", unfit, 0.9, POSITIVE)
    assert v.verdict == "inconclusive" and "fit the training range" in v.statistic


@pytest.mark.parametrize("points", [2, 5, 8])
def test_checkpoint_correlation_is_gap_metric_correlation(points):
    from verify.transfer import gap_metric_correlation
    from verify.transfer_claims import checkpoint_correlation

    rng = np.random.default_rng(points)
    for _ in range(3):
        gaps = rng.integers(0, 4, points) / 4  # ties on both sides
        metric = rng.integers(0, 3, points) / 3
        assert checkpoint_correlation(gaps, metric) == pytest.approx(gap_metric_correlation(gaps, metric), nan_ok=True)


def test_sign_flip_test_is_exact():
    assert sign_flip_test([1.0, 1.0, 1.0]) == pytest.approx(1 / 8)
    assert sign_flip_test([1.0, 1.0, 1.0], "less") == pytest.approx(1.0)
    assert sign_flip_test([0.5, -0.5]) == pytest.approx(0.75)


# ---------------------------------------------------------------------------- RatioWindow

SWEEP = (("r0.25", 1), ("r0.5", 2), ("r2", 8), ("r4", 16))  # condition, A (n = 4)


def sweep_suite(conditions=SWEEP, window=(0.5, 2.0)) -> tuple[Suite, RatioWindow]:
    spec = RatioWindow(tuple(c for c, _ in conditions), aux="reverse", window=window)
    # the primary trains at its own n = N in these conditions, inside a suite whose n is 2N
    suite = Suite(name="sweep", description="d", plans=(TaskPlan(TASK, "rope", "r"),), seeds=(0, 1, 2), train_max=2 * N,
                  test_factor=2, steps=10,
                  conditions=tuple(Condition(c, (Item("reverse", lengths=(1, top)),), train_max=N)
                                   for c, top in conditions),
                  claims=(spec,))
    return suite, spec


def gap_run(condition, seed, top, gap, **kw) -> StoredRun:
    """A run whose generalization gap with reverse (trained 1..top) is ``gap``."""
    if top > N:
        return fake(condition, seed, items=(("reverse", top),), main=1 - gap, aux=1.0, **kw)
    return fake(condition, seed, items=(("reverse", top),), main=0.0, aux=1 - gap, **kw)


def penalty_gap(top: int) -> float:
    return 0.9 * (1 - math.exp(-abs(math.log2(top / N))))  # saturation 0.9, rate 1


def sweep_runs(gap_of, conditions=SWEEP, **kw) -> list[StoredRun]:
    return [gap_run(c, s, top, gap_of(top) + 0.01 * s, **kw) for c, top in conditions for s in range(3)]


def test_the_gap_is_the_papers_over_the_band():
    assert run_gap(gap_run("r2", 0, 8, 0.3), "reverse") == pytest.approx(0.3)
    assert run_gap(gap_run("r0.5", 0, 2, 0.2), "reverse") == pytest.approx(0.2)  # aux shorter: band (A, n]
    assert math.isnan(run_gap(fake("x", 0, status="failed"), "reverse"))


def test_ratio_window_and_penalty_supported_when_gaps_grow_away_from_the_window():
    suite, spec = sweep_suite()
    window, penalty = ratio_window_claims(TASK, spec, suite)
    runs = sweep_runs(penalty_gap)
    w = window.judge(runs, window.predict())
    assert window.predict()["inside"] == ["r0.5", "r2"] and window.predict()["ratios"]["r4"] == 4
    assert (w.verdict, w.outcome) == ("supported", "inside") and "r4 (ratio 4)" in w.statistic
    p = penalty.judge(runs, penalty.predict())
    assert (p.verdict, p.outcome) == ("supported", "penalty") and "AIC" in p.statistic


def test_ratio_window_and_penalty_refuted_when_gaps_shrink_away_from_the_window():
    suite, spec = sweep_suite()
    window, penalty = ratio_window_claims(TASK, spec, suite)
    runs = sweep_runs(lambda top: 0.8 if top in (2, 8) else 0.3)
    assert window.judge(runs, window.predict()).verdict == "refuted"
    p = penalty.judge(runs, penalty.predict())
    assert (p.verdict, p.outcome) == ("refuted", "constant")


@pytest.mark.parametrize("case", ["old runs", "unfit", "one distance"])
def test_ratio_window_inconclusive(case):
    conditions = (("r0.5", 2), ("r1", 4), ("r2", 8)) if case == "one distance" else SWEEP
    suite, spec = sweep_suite(conditions)
    window, penalty = ratio_window_claims(TASK, spec, suite)
    kw = {"measured": case != "old runs", "validation": 0.3 if case == "unfit" else 1.0}
    runs = sweep_runs(penalty_gap, conditions, **kw)
    w, p = window.judge(runs, window.predict()), penalty.judge(runs, penalty.predict())
    assert (w.verdict, p.verdict) == ("inconclusive", "inconclusive")
    expected = {"old runs": "not measured: 12 of 12 runs", "unfit": "fewer than half the seeds fit",
                "one distance": "both inside and outside the window"}[case]
    assert expected in w.statistic
    if case == "one distance":
        assert "ratio 1 left out" in w.statistic and "no fit" in p.statistic


# ---------------------------------------------------------------------------- AuxPredicts

def predicts_runs(main_of, count=8, **kw) -> list[StoredRun]:
    values = np.linspace(0.1, 0.9, count)
    return [fake(f"c{i}", 0, aux=float(v), main=main_of(float(v)), **kw) for i, v in enumerate(values)]


def test_aux_predicts_supported_and_refuted_with_restrictions_reported_aside():
    runs = predicts_runs(lambda a: a - 0.05, eps=0.5)
    v = aux_predicts_verdict("a", {"s": runs}, [], 0.9, POSITIVE)
    assert (v.verdict, v.outcome) == ("supported", "positive")
    assert "primary test, task items" in v.statistic and "Secondary, not part of the verdict" in v.statistic
    assert "p = 0.000" in v.statistic  # 8 points, exact: 1/8!
    assert len([r for r in v.rows if r["data"] == "restriction"]) == 8 * 3 * N
    against = aux_predicts_verdict("a", {"s": predicts_runs(lambda a: 1 - a)}, [], 0.9, POSITIVE)
    assert (against.verdict, against.outcome) == ("refuted", "none")


@pytest.mark.parametrize("case", ["old runs", "unfit", "too few"])
def test_aux_predicts_inconclusive(case):
    kw = {"measured": case != "old runs", "validation": 0.3 if case == "unfit" else 1.0}
    runs = predicts_runs(lambda a: a, count=2 if case == "too few" else 8, **kw)
    v = aux_predicts_verdict("a", {"s": runs}, [], 0.9, POSITIVE)
    assert v.verdict == "inconclusive"
    assert {"old runs": "not measured", "unfit": "fewer than half the runs fit", "too few": "2 task-item points"}[case] \
        in v.statistic


def test_aux_predicts_does_not_count_pretraining_stages():
    import dataclasses

    runs = predicts_runs(lambda a: a)
    # stages that never train the primary (primary weight 0) and so never fit it: not candidates at all
    stages = [from_spec(dataclasses.replace(make_spec(f"pre{s}", s), primary_weight=0.0), validation=0.0)
              for s in range(20)]
    v = aux_predicts_verdict("a", {"s": runs + stages}, [], 0.9, POSITIVE)
    assert v.verdict == "supported" and "unfit runs left out: 0" in v.statistic


def _as_stored(run: StoredRun) -> dict:
    return json.loads(json.dumps(run.to_dict()))


def test_aux_predicts_reads_other_suites_from_the_reports_folder(tmp_path):
    suite = two_aux_suite(claims=(AuxPredicts(also_suites=("other",)),))
    spec = suite.claims[0]
    mine = predicts_runs(lambda a: a)[:4]
    theirs = predicts_runs(lambda a: a)[4:]
    for run in theirs + mine[:1]:  # a run in both stores counts once
        RunStore(tmp_path / "other").put(_as_stored(run))
    claim = aux_predicts_claim(spec, suite, tmp_path)
    v = claim.judge(mine, claim.predict())
    assert v.verdict == "supported" and "over 8 points" in v.statistic and "Suites: transfer-test, other" in v.statistic
    alone = aux_predicts_claim(spec, suite, None).judge(mine, claim.predict())
    assert "not read (no reports folder given): this suite's runs only" in alone.statistic
    assert "over 4 points" in alone.statistic
    missing = aux_predicts_claim(spec, suite, tmp_path / "nowhere").judge(mine, claim.predict())
    assert "suite other: no stored runs" in missing.statistic


# ---------------------------------------------------------------------------- suite_claims and the report

E2E_CONDITIONS = (Condition("alone"), Condition("with-reverse", (Item("reverse", lengths=(1, 8)),)),
                  Condition("with-copy", (Item("copy", lengths=(1, 8)),)),
                  Condition("rev-short", (Item("reverse", lengths=(1, 2)),)),
                  Condition("rev-long", (Item("reverse", lengths=(1, 16)),)))
E2E_CLAIMS = (Transfers("alone", "with-reverse", published="transfer"),
              HeadReuse(("with-reverse",), ("with-copy",)), GapTracksReuse(("with-reverse", "with-copy")),
              RatioWindow(("rev-short", "with-reverse", "rev-long"), aux="reverse"), AuxPredicts(also_suites=("other",)))


def e2e_suite() -> Suite:
    return two_aux_suite(conditions=E2E_CONDITIONS, claims=E2E_CLAIMS)


def test_suite_claims_builds_every_transfer_kind():
    names = [c.name for c in suite_claims(e2e_suite())]
    assert len(names) == len(set(names)) == 1 + 1 + 1 + 2 + 1
    assert f"{TASK}: generalization gap smallest for reverse/main length ratios in [0.5, 2]" in names
    assert f"{TASK}: the exponential-penalty model fits the reverse gaps better than a constant" in names
    assert "the auxiliary's exact match beyond n predicts the main task's" in names


def e2e_run(spec: RunSpec) -> StoredRun:
    """Related auxiliaries carry the main task, unrelated ones do not; maps and checkpoints to match."""
    top = max((i.lengths[1] for i in spec.mixture), default=N)
    related = spec.condition in ("with-reverse", "rev-long", "rev-short")
    gap = {"with-reverse": 0.2, "rev-long": 0.6, "rev-short": 0.3}.get(spec.condition, 0.9) + 0.02 * spec.seed
    main = (1 - gap) if top > N else 0.02
    aux = 1.0 if top > N else 1 - gap
    maps = (BASE_MAP, 0.02 if related else 0.3 + 0.01 * spec.seed) if spec.mixture else None
    source = spec.mixture[0].source if spec.mixture else None
    marks = checkpoints(1, source=source, top=top) if spec.mixture and top > N else ()
    return from_spec(spec, main=main, aux=aux, maps=maps, checkpoints=marks, eps=0.3 + 0.1 * spec.seed)


def test_the_report_renders_the_transfer_sections_and_plots(tmp_path):
    from verify.report import render

    suite = e2e_suite()
    directory = tmp_path / "transfer-test"
    for spec in suite.runs():
        RunStore(directory).put(_as_stored(e2e_run(spec)))
    other = make_spec("elsewhere", 7, items=(("reverse", 8),))
    RunStore(tmp_path / "other").put(_as_stored(from_spec(other, main=0.5, aux=0.6)))
    verdicts = render(suite, directory, "test", None)
    report = (directory / "report.md").read_text()
    for heading in ("## Transfer: main and auxiliary curves", "## Transfer: the length-ratio sweep",
                    "## Transfer: head-ablation maps", "## Transfer: gap and head reuse over checkpoints",
                    "## Transfer: does the auxiliary predict the main task?"):
        assert heading in report
    assert report.index("## Transfer: main and auxiliary curves") > report.index(f"## {TASK}")
    assert "| A/n | condition | our gap: mean (seeds) | Cai et al. at this ratio (main length 4) |" in report
    assert "| 2 | with-reverse | 0.220 (0: 0.200, 1: 0.220, 2: 0.240) | 0.41 |" in report  # CAI (4, 8)
    assert "| transfer | capitalize_reverse | with-reverse | 0 | reverse | 6 | 0.020 |" in report
    assert "| control | capitalize_reverse | with-copy | 2 | copy | 6 | 0.320 |" in report
    assert "| with-reverse | 0 | reverse | 5 | 250..1250 | +1.00 |" in report
    assert "Suites: transfer-test, other" in report
    for name in (f"{TASK}_transfer_curves.png", f"{TASK}_ratio_reverse.png", f"{TASK}_with-reverse_maps.png",
                 f"{TASK}_with-copy_maps.png", f"{TASK}_checkpoints.png", "aux_predicts.png"):
        assert (directory / name).stat().st_size > 0 and f"]({name})" in report
    # 3 vs 3 seeds, every control above every transfer run: p = 1/20 = 0.05
    assert verdicts["head reuse: main and auxiliary ablation maps differ less in with-reverse than in with-copy"] \
        == "supported"
    assert verdicts[f"{TASK}: generalization gap smallest for reverse/main length ratios in [0.5, 2]"] == "supported"


def test_runs_stored_before_the_transfer_fields_render_as_not_measured(tmp_path):
    from verify.transfer_report import transfer_sections

    suite = e2e_suite()
    runs = [from_spec(spec, main=0.1, measured=False) for spec in suite.runs()]
    verdicts = [c.judge(runs, c.predict()) for c in suite_claims(suite, None)]
    transfer = [v for v in verdicts if v.claim.startswith(("head reuse", "the generalization gap", f"{TASK}: gen",
                                                           "the auxiliary's"))]
    assert transfer and all(v.verdict == "inconclusive" and "not measured" in v.statistic for v in transfer)
    text = "\n".join(transfer_sections(suite, runs, tmp_path, verdicts))
    assert "were stored before item curves were stored" in text and (tmp_path / f"{TASK}_transfer_curves.png").exists()
    assert "were stored before head maps were stored" in text and "| group | task |" not in text
    assert "## Transfer: gap and head reuse over checkpoints" not in text  # nothing stored to show
