"""The bench's pipeline runs keep what they timed when they fail."""

from __future__ import annotations

import pytest

from bench import pipeline_runs
from bench.checks import BenchCheckError, BenchScenarioError
from bench.measure import Stages


@pytest.mark.parametrize(
    ("error", "raised_as", "message"),
    [
        (FileNotFoundError("held_back"), BenchScenarioError, "FileNotFoundError: held_back"),
        (BenchCheckError("revenue differs"), BenchCheckError, "revenue differs"),  # a wrong answer
    ],
)
def test_a_run_that_fails_late_keeps_the_stages_it_timed(
    monkeypatch: pytest.MonkeyPatch, error: Exception, raised_as: type, message: str
) -> None:
    """The seed-scale month once failed at the site after 25 minutes and kept no timings."""

    def steps(settings: object, stages: Stages, *args: object) -> None:
        stages.record("el-postgres", 209.0, rows=3_986_209)
        raise error

    monkeypatch.setattr(pipeline_runs, "_run_steps", steps)
    stages = Stages()
    stages.record("generate", 60.0, rows=500_000)
    with pytest.raises(BenchScenarioError) as raised:
        pipeline_runs.run_pipeline(None, stages, build_reports=True)  # type: ignore[arg-type]
    assert type(raised.value) is raised_as
    assert str(raised.value) == message
    assert list(raised.value.stages) == ["generate", "el-postgres"]
    assert raised.value.stages["el-postgres"]["rows_per_s"] == 19_073
