"""A report says so when some of its runs were stored before the predictions they are judged against."""

from __future__ import annotations

import json

from verify import api


def test_runs_stored_before_the_predictions_are_flagged(tmp_path):
    result = api.run_suite("smoke", out=tmp_path, workers=1)
    report = (result.directory / "report.md").read_text()
    assert "were stored before these predictions were recorded" not in report  # recorded first, then trained

    # the predictions' text changed later (e.g. a reworded claim) and they were recorded again
    path = result.directory / "predictions.json"
    predictions = json.loads(path.read_text())
    predictions["recorded_at"] = "2999-01-01T00:00:00+00:00"
    path.write_text(json.dumps(predictions))
    api.run_suite("smoke", out=tmp_path, workers=1)  # every run reused: nothing retrained
    report = (result.directory / "report.md").read_text()
    total = len(result.runs)
    assert f"Warning: {total} of {total} runs were stored before these predictions were recorded" in report
