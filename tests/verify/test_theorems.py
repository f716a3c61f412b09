"""`lengthgen theorem`: listing, clear errors, and each theorem on its smallest setting."""

import subprocess
import sys

import pytest

from verify.cli import main
from verify.theorems import TheoremError, run_theorem


def test_list_names_theorems_and_sources(capsys):
    assert main(["theorem", "--list"]) == 0
    out = capsys.readouterr().out
    assert "agk-bound" in out and "Awasthi" in out and "sparsity-trend" in out and "Golowich" in out


@pytest.mark.parametrize("args, phrase", [
    (("theorem", "no-such-theorem", "--task", "reverse"), "unknown theorem"),
    (("theorem", "agk-bound"), "needs --task"),
    (("theorem", "agk-bound", "--task", "parity", "--scale", "smallest"), "needs a task with bounded support"),
    (("theorem", "sparsity-trend", "--task", "reverse", "--scale", "smallest"), "sparse parity family"),
    (("theorem", "sparsity-trend", "--task", "sparse_parity", "--ks", "1,x"), "--ks must be"),
])
def test_bad_theorem_calls_are_one_clear_line(args, phrase):
    out = subprocess.run([sys.executable, "-m", "verify.cli", *args], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert phrase in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_agk_bound_smallest(tmp_path):
    result = run_theorem("agk-bound", "reverse", "smallest", tmp_path, workers=1, show_progress=False)
    assert result.verdict in ("holds", "violated", "inconclusive")
    assert "r(N)·ε(N)" in result.prediction and "k = 1" in result.prediction
    assert len(result.observation) == 2 and any("consistency c(N)" in a for a in result.assumptions)
    text = result.render()
    for word in ("prediction:", "observation:", "assumption checks:", "verdict:"):
        assert word in text
    # a re-run reuses the stored runs and reaches the same verdict
    again = run_theorem("agk-bound", "reverse", "smallest", tmp_path, workers=1, show_progress=False)
    assert again.statistic == result.statistic


@pytest.mark.slow
def test_sparsity_trend_smallest(tmp_path):
    result = run_theorem("sparsity-trend", "sparse_parity", "smallest", tmp_path, workers=1, show_progress=False,
                         ks=(1, 2))
    assert result.verdict in ("holds", "violated", "inconclusive")
    assert len(result.observation) == 2 and "Spearman" in result.statistic or "did not vary" in result.statistic


def test_unknown_scale():
    with pytest.raises(TheoremError, match="unknown scale"):
        run_theorem("agk-bound", "reverse", "huge")
