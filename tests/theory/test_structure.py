"""The structure profile is computed from the definition: sparsity and dependency kinds."""

from __future__ import annotations

from theory.catalogue import CATALOGUE
from theory.language import FirstWhere, j, n, t, x
from theory.structure import PROFILE_LENGTHS, structure_profile
from theory.task import Task


def test_copy_profile():
    prof = structure_profile(CATALOGUE["copy"])
    assert prof.bounded and prof.k == 1
    assert set(prof.support_sizes) == set(PROFILE_LENGTHS)
    assert {d.kind for d in prof.dependencies} == {"fixed offset from t"}
    assert "k = 1" in prof.summary() and "fixed offset from t" in prof.summary()


def test_reverse_profile():
    prof = structure_profile(CATALOGUE["reverse"])
    assert prof.bounded and prof.k == 1
    assert {d.kind for d in prof.dependencies} == {"depends on n"}
    assert "depends on n" in prof.summary()


def test_sort_profile():
    prof = structure_profile(CATALOGUE["sort"])
    assert prof.bounded and prof.k == 2
    # 32 is the alphabet, so every probed length is admissible
    assert set(prof.support_sizes) == {nv for nv in PROFILE_LENGTHS if nv <= 32}
    kinds = {d.kind for d in prof.dependencies}
    assert "chosen by content" in kinds
    assert {d.read for d in prof.dependencies if d.kind == "chosen by content"} == {"x[j]"}
    assert {d.read for d in prof.dependencies if d.kind == "fixed offset from t"} == {"y[t - 1]"}


def test_unbounded_support_is_reported():
    # a content search that finds nothing reads every candidate, so |S_t| = n grows with n
    task = Task(name="nomatch", description="first token above 100 (never found: every candidate is read)", length_meaning="input tokens",
                rule=FirstWhere(j, x[j], x[j] > 100, 0), alphabet=10)
    prof = structure_profile(task)
    assert not prof.bounded
    assert prof.support_sizes[max(prof.support_sizes)] == max(PROFILE_LENGTHS)
    assert "unbounded" in prof.summary()


def test_sparse_two_reads():
    task = Task(name="pair", description="sum of mirrored tokens", length_meaning="input tokens",
                rule=(x[t] + x[n - 1 - t]) % 10, alphabet=10)
    prof = structure_profile(task)
    assert prof.bounded and prof.k == 2
    assert {d.kind for d in prof.dependencies} == {"fixed offset from t", "depends on n"}
