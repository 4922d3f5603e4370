"""Run the Meltano extract-load jobs of the embedded default, in parallel, one RAW file each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from pipeline.exports import validate_exports
from sandbox.config import REPO_ROOT, Settings

MELTANO_PROJECT = REPO_ROOT / "meltano"
JOBS = ("el-postgres", "el-stripe", "el-marketing")
# The RAW schema each job loads (the realtime job loads a subset of postgres' tables).
RAW_SCHEMA_OF_JOB = {
    "el-postgres": "postgres",
    "el-stripe": "stripe",
    "el-marketing": "marketing",
    "el-orders-realtime": "postgres",
    "el-postgres-cdc": "postgres",
}


class ExtractLoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class JobRun:
    job: str
    seconds: float
    log_file: Path


def meltano_env(settings: Settings) -> dict[str, str]:
    """The environment every Meltano call of the local platform gets (`shop env` prints it)."""
    return {
        **settings.as_environment(),
        "MELTANO_ENVIRONMENT": "dev",
        "STRIPE_API_BASE": settings.stripe_api_base,
        # Meltano's working files (catalogs, configs of a running plugin) belong to this home,
        # so runs from two homes never overwrite each other's; the plugins are shared.
        "MELTANO_SYS_DIR_ROOT": str(_sys_dir(settings)),
        # Bookmarks and Meltano's run history belong to this home, not to the checkout.
        "MELTANO_STATE_BACKEND_URI": f"file://{settings.home}/meltano/state",
        "MELTANO_DATABASE_URI": f"sqlite:///{settings.home}/meltano/meltano.db",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }


def meltano_executable() -> str:
    return str(Path(sys.executable).with_name("meltano"))


def _sys_dir(settings: Settings) -> Path:
    return settings.home / "meltano" / "sys"


def prepare(settings: Settings) -> None:
    """Create the folders the jobs write to and Meltano's system database, once."""
    for directory in (
        settings.warehouse_dir,
        settings.log_dir,
        settings.home / "tmp",
        settings.home / "meltano" / "state",
        _sys_dir(settings),
    ):
        _require_writable(directory)
    for plugin_type in ("extractors", "loaders"):
        link = _sys_dir(settings) / plugin_type
        if not link.exists():
            link.symlink_to(MELTANO_PROJECT / ".meltano" / plugin_type)
    # Parallel `meltano run`s on a fresh home would race to create Meltano's system database.
    if not (settings.home / "meltano" / "meltano.db").exists():
        run_meltano(settings, ["state", "list"], settings.log_dir / "meltano-init.log")


def _require_writable(directory: Path) -> None:
    """Create the folder and prove it takes files: otherwise Meltano fails deep in a plugin."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as error:
        raise ExtractLoadError(
            f"cannot write to {directory} ({error.strerror}): the pipeline needs it "
            "writable; fix its permissions or set SHOP_HOME to a writable folder"
        ) from None


def start_meltano(
    settings: Settings, args: list[str], log_file: Path, extra_env: Mapping[str, str] = {}
) -> subprocess.Popen[bytes]:
    """Start one Meltano command in a process group of its own, its output in log_file."""
    env = {**os.environ, **meltano_env(settings), **extra_env}
    with log_file.open("w") as log:
        return subprocess.Popen(
            # Meltano dies with the process that started it (a killed flow run, a killed CLI):
            # an orphaned run would go on writing RAW beside the next one.
            ["setpriv", "--pdeathsig", "KILL", "--", meltano_executable(), *args],
            cwd=MELTANO_PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_meltano(
    settings: Settings,
    args: list[str],
    log_file: Path,
    timeout_s: float = 1800,
    extra_env: Mapping[str, str] = {},
) -> None:
    """Run one Meltano command, its output in log_file; raise with the log's tail on failure."""
    process = start_meltano(settings, args, log_file, extra_env)
    # Errors name the command as the user would run it; --force is ours (see run_job).
    command = " ".join(arg for arg in args if arg != "--force")
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)  # the tap and target with it
        process.wait()
        raise ExtractLoadError(
            f"meltano {command} did not finish within {timeout_s:.0f} s and was "
            f"stopped; log: {log_file}"
        ) from None
    if process.returncode != 0:
        lines = log_file.read_text(errors="replace").splitlines()
        tail = "\n".join(lines[-25:])
        raise ExtractLoadError(
            f"meltano {command} failed (exit {process.returncode}): {error_cause(lines)}\n"
            f"log: {log_file}\n{tail}"
        )


def error_cause(log_lines: list[str]) -> str:
    """The last exception a plugin (or dbt) reported, else Meltano's first error, without the
    log prefix."""
    for line in reversed(log_lines):
        match = re.search(r"\b((?:\w+\.)*\w*(?:Error|Exception)): (.+)$", line)
        if match:
            return f"{match.group(1)}: {match.group(2)}"
    for line in log_lines:
        match = re.search(r"\[error\s*\] meltano\s+(.+)$", line)
        if match:
            return match.group(1)
    return "see the log"


@cache
def _jobs() -> dict[str, list[str]]:
    project = yaml.safe_load((MELTANO_PROJECT / "meltano.yml").read_text())
    return {job["name"]: job["tasks"] for job in project["jobs"]}


def state_id(job: str, environment: str = "dev") -> str:
    """The id Meltano keeps a job's bookmarks under: <environment>:<tap>-to-<target>."""
    (task,) = _jobs()[job]  # every job of the project is one tap-target pair
    tap, target = task.split()
    return f"{environment}:{tap}-to-{target}"


def read_state(settings: Settings, job: str) -> dict:
    """The Singer state the job's next run starts from (Meltano merges completed and partial
    state), `{}` when it has none."""
    env = {**os.environ, **meltano_env(settings)}
    result = subprocess.run(
        [meltano_executable(), "state", "get", state_id(job)],
        cwd=MELTANO_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if "No state found" in result.stderr or "does not exist" in result.stderr:
            return {}
        raise ExtractLoadError(f"meltano state get {state_id(job)} failed: {result.stderr}")
    return json.loads(result.stdout or "{}").get("singer_state", {})


def meltano_job(settings: Settings, job: str) -> str:
    """The Meltano job that runs for `job`: el-postgres-cdc for el-postgres while change data
    capture is on (its replication slot exists)."""
    from pipeline import cdc

    return cdc.JOB if job == cdc.REPLACES and cdc.enabled(settings) else job


def run_job(settings: Settings, job: str) -> JobRun:
    from pipeline import cdc, schema_drift

    prepare(settings)
    actual = meltano_job(settings, job)
    if RAW_SCHEMA_OF_JOB.get(actual) == "postgres":
        schema_drift.check(settings)  # a changed column type stops the run, clearly
    if actual == "el-marketing":
        # One bad export file holds back the whole marketing load (see pipeline/exports.py).
        validate_exports(settings.marketing_dir)
    log_file = settings.log_dir / f"{job}.log"
    started = time.monotonic()
    # Meltano refuses a job it records as running; a run whose process was killed stays
    # recorded so until it goes stale (minutes later). Meltano dies with the process that
    # started it (start_meltano), so when none of this home runs the job, the record is stale.
    force = [] if _meltano_running(settings, actual) else ["--force"]
    run_meltano(settings, ["run", *force, actual], log_file)
    if actual == cdc.JOB:
        cdc.advance(settings)  # release the WAL of what is now in RAW
    return JobRun(job=job, seconds=time.monotonic() - started, log_file=log_file)


def _meltano_running(settings: Settings, job: str) -> bool:
    """Whether a `meltano run <job>` of this home is alive."""
    home = f"SHOP_HOME={settings.home}".encode()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            if (
                argv[-1:] == [job.encode()]
                and b"run" in argv
                and any(arg.endswith(b"/meltano") for arg in argv)
                and home in (entry / "environ").read_bytes().split(b"\0")
            ):
                return True
        except OSError:  # not a process, or gone
            continue
    return False


def run_jobs(settings: Settings, jobs: Iterable[str] = JOBS) -> Mapping[str, JobRun]:
    """Run the jobs in parallel; every job runs to its end even when another fails."""
    prepare(settings)
    jobs = list(jobs)
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {job: pool.submit(run_job, settings, job) for job in jobs}
    failures = [f.exception() for f in futures.values() if f.exception() is not None]
    if failures:
        raise ExtractLoadError("\n\n".join(str(failure) for failure in failures))
    return {job: future.result() for job, future in futures.items()}
