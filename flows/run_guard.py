"""What every flow run of the platform does around its steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.runtime import flow_run

from flows.alerts import lateness_alert
from pipeline.errors import PlatformError
from pipeline.run_log import RunLog
from pipeline.settings import Settings
from pipeline.writer import one_writer


class SourcesHeldBackError(PlatformError):
    """The run built and published everything else; these sources wait for the next run."""

    def __init__(self, held_back: dict[str, str]) -> None:
        super().__init__(
            f"{len(held_back)} source(s) held back, the rest refreshed:\n"
            + "\n".join(f"  {source}: {reason}" for source, reason in sorted(held_back.items()))
        )


@contextmanager
def guarded_run(
    settings: Settings, flow: str, sla_seconds: float, wait_s: float
) -> Iterator[RunLog]:
    """Be the warehouse's only writer, alert when late, and log the run whatever happens.
    The run log's start is when the writer slot was taken: waiting for it is not part of the run."""
    with (
        lateness_alert(flow, sla_seconds),
        one_writer(settings, holder=f"{flow} run {flow_run.name}", wait_s=wait_s),
    ):
        run_log = RunLog(run_id=str(flow_run.id), flow=flow, environment=settings.environment)
        try:
            yield run_log
            if run_log.held_back:
                raise SourcesHeldBackError(run_log.held_back)
        except BaseException as error:
            run_log.write(settings, "failed", f"{type(error).__name__}: {error}")
            raise
        run_log.write(settings, "completed")
