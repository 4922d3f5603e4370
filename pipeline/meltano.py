"""The Meltano project (meltano/meltano.yml) as the platform runs it: its jobs, the RAW schema each
loads, `meltano run` and the state (bookmarks) of a job, in the environment's Meltano environment
and state backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import yaml

from pipeline import catalog, processes
from pipeline.errors import PlatformError
from pipeline.settings import REPO_ROOT, Settings, SettingsError

if TYPE_CHECKING:
    from meltano.core.state_store import StateStoreManager

MELTANO_PROJECT = REPO_ROOT / "meltano"
# The daily and real-time runs' wall: a load past it is stuck, and the flow alerts. History loads
# have their own (pipeline/backfill.py).
JOB_TIMEOUT_S = 1800


class MeltanoError(PlatformError):
    pass


# A home's folders and system database made once, and Meltano's project read (its YAML parser is
# not thread-safe): one thread at a time (reconciliation reads each job's bookmarks in its own).
_one_thread_at_a_time = threading.RLock()


@cache
def project() -> dict:
    return yaml.safe_load((MELTANO_PROJECT / "meltano.yml").read_text())


def job_task(job: str) -> tuple[str, str]:
    """The (tap, target) pair a job runs: every job of the project is one pair."""
    jobs = {entry["name"]: entry["tasks"] for entry in project()["jobs"]}
    if job not in jobs:
        raise MeltanoError(f"meltano.yml declares no job {job!r}")
    (task,) = jobs[job]
    tap, target = task.split()
    return tap, target


def _plugin_config(plugin_type: str, name: str) -> dict:
    """The plugin's config with what it inherits (`inherit_from`) underneath."""
    plugins = {plugin["name"]: plugin for plugin in project()["plugins"][plugin_type]}
    plugin = plugins[name]
    inherited = (
        _plugin_config(plugin_type, plugin["inherit_from"]) if "inherit_from" in plugin else {}
    )
    return {**inherited, **plugin.get("config", {})}


def raw_schema(job: str) -> str:
    """The RAW schema the job's loader writes (its default_target_schema)."""
    _, target = job_task(job)
    return str(_plugin_config("loaders", target)["default_target_schema"])


def source_of(job: str) -> str:
    """The source a job loads, named as in the dbt sources (postgres, stripe, marketing)."""
    return raw_schema(job).lower()


def job_tables(job: str) -> list[str]:
    """The source tables a job loads: its tap's `select` (stream `public-orders` is table
    `orders`), or every table of its source when the tap selects nothing."""
    tap, _ = job_task(job)
    extractors = {plugin["name"]: plugin for plugin in project()["plugins"]["extractors"]}
    plugin = extractors[tap]
    while "select" not in plugin and "inherit_from" in plugin:
        plugin = extractors[plugin["inherit_from"]]
    streams = [
        entry.split(".")[0].split("-", 1)[-1]
        for entry in plugin.get("select", [])
        if not entry.startswith("!")
    ]
    return list(dict.fromkeys(streams)) or [t.name for t in catalog.tables_of(source_of(job))]


def state_id(settings: Settings, job: str) -> str:
    """The id Meltano keeps a job's bookmarks under: <environment>:<tap>-to-<target>."""
    tap, target = job_task(job)
    return f"{settings.meltano_environment}:{tap}-to-{target}"


def _sys_dir(settings: Settings) -> Path:
    return settings.home / "meltano" / "sys"


def _system_database(settings: Settings) -> Path:
    """Meltano's run history and, in dev, the bookmarks (a SQLite file of the home)."""
    return settings.home / "meltano" / "meltano.db"


def environment(settings: Settings) -> dict[str, str]:
    """The environment every Meltano call of the platform gets (`shop env` prints it)."""
    env = {
        **settings.variables,
        "MELTANO_ENVIRONMENT": settings.meltano_environment,
        # Meltano's working files (catalogs, configs of a running plugin) and run history belong
        # to this home, so runs from two homes never overwrite each other's; plugins are shared.
        "MELTANO_SYS_DIR_ROOT": str(_sys_dir(settings)),
        "MELTANO_DATABASE_URI": f"sqlite:///{_system_database(settings)}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
    }
    if settings.meltano_state == "local":
        # The system database above: a state write is a SQLite transaction, so a run killed while
        # it writes leaves the last committed bookmarks (the file:// backend truncates the file
        # before it writes, and a kill between the two left an empty one).
        env["MELTANO_STATE_BACKEND_URI"] = "systemdb"
    elif not env.get("MELTANO_STATE_BACKEND_URI"):
        # Without it Meltano silently keeps bookmarks in its system database on this host.
        raise SettingsError(
            f"environment {settings.environment!r} keeps Meltano's bookmarks in a state backend: "
            "set MELTANO_STATE_BACKEND_URI (see .env.example)"
        )
    return env


def executable() -> str:
    return str(Path(sys.executable).with_name("meltano"))


def prepare(settings: Settings) -> None:
    """Create the folders Meltano writes to and its system database, once."""
    with _one_thread_at_a_time:
        for directory in (
            settings.warehouse_dir,  # the local loaders' files (empty in production)
            settings.log_dir,
            settings.home / "tmp",
            _sys_dir(settings),
        ):
            require_writable(directory)
        for plugin_type in ("extractors", "loaders"):
            link = _sys_dir(settings) / plugin_type
            if not link.exists():
                link.symlink_to(MELTANO_PROJECT / ".meltano" / plugin_type)
        # Parallel `meltano run`s on a fresh home would race to create Meltano's system database.
        if not _system_database(settings).exists():
            _create_system_database(settings)


def _create_system_database(settings: Settings) -> None:
    """Meltano's system database with its migrations applied, as the first Meltano command would
    leave it, in this process (a command costs ~1.7 CPU-s to start; this ~0.3). Made aside and
    linked into place, so that another process on the same fresh home never opens it half made;
    the first to link it wins."""
    # Meltano's modules take 0.6 s to import: only a fresh home pays it.
    from meltano.core.db import init_hook
    from meltano.core.migration_service import MigrationError, MigrationService
    from sqlalchemy import create_engine

    database = _system_database(settings)
    with tempfile.TemporaryDirectory(dir=database.parent) as aside:
        made = Path(aside) / database.name
        engine = create_engine(f"sqlite:///{made}")
        try:
            MigrationService(engine).upgrade(silent=True)
            # Write-ahead logging, as Meltano sets it: a reader never waits on a run writing.
            init_hook(engine)
        except MigrationError as error:
            raise MeltanoError(
                f"creating Meltano's system database {database} failed: {error}"
            ) from None
        finally:
            engine.dispose()
        with suppress(FileExistsError):  # made meanwhile by another process
            os.link(made, database)


def require_writable(directory: Path) -> None:
    """Create the folder and prove it takes files: otherwise a tool fails deep inside."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as error:
        raise MeltanoError(
            f"cannot write to {directory} ({error.strerror}): the pipeline needs it "
            "writable; fix its permissions or set SHOP_HOME to a writable folder"
        ) from None


def start(settings: Settings, args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    return processes.start([executable(), *args], log_file, environment(settings), MELTANO_PROJECT)


def run(
    settings: Settings,
    args: list[str],
    log_file: Path,
    timeout_s: float = JOB_TIMEOUT_S,
    tick: Callable[[], None] | None = None,
    tick_every_s: float = 30,
) -> None:
    """Run one Meltano command, its output in log_file; raise with the log's tail on failure.
    `tick` is called every tick_every_s while it runs (progress)."""
    # Errors name the command as the user would run it; --force is ours (extract_load.run_job).
    command = "meltano " + " ".join(arg for arg in args if arg != "--force")
    try:
        code = processes.run(
            [executable(), *args],
            log_file,
            environment(settings),
            MELTANO_PROJECT,
            timeout_s,
            command,
            tick,
            tick_every_s,
        )
    except processes.ToolTimeoutError as error:
        raise MeltanoError(str(error)) from None
    if code != 0:
        lines = log_file.read_text(errors="replace").splitlines()
        raise MeltanoError(
            f"{command} failed (exit {code}): {processes.error_cause(lines)}\n"
            f"log: {log_file}\n{processes.log_tail(log_file)}"
        )


@contextmanager
def _state_store(settings: Settings, command: str) -> Iterator[StateStoreManager]:
    """The job bookmarks' store as `meltano state` opens it (MELTANO_STATE_BACKEND_URI and its
    settings), in this process: a `meltano state` command costs two seconds of CPU to start,
    and the runs read bookmarks before every load. A failure is raised as a MeltanoError naming
    `command`, the `meltano state` command that does the same."""
    # Meltano's modules take 0.6 s to import: only the commands that touch state pay it.
    from meltano.core.project import Project
    from meltano.core.project_settings_service import ProjectSettingsService
    from meltano.core.state_store import state_store_manager_from_project_settings
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session
    from sqlalchemy.pool import NullPool

    if not structlog.is_configured():
        # Unconfigured, structlog prints each of Meltano's info lines; through Python's logging
        # they obey its levels, as the rest of the process's messages do.
        structlog.configure(
            processors=[
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.stdlib.render_to_log_kwargs,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
        )
    env = environment(settings)
    try:
        # The systemdb backend's session, on this home's database: left to Meltano it would open
        # the database the project's own settings name, without this home's override.
        engine = create_engine(env["MELTANO_DATABASE_URI"], poolclass=NullPool)
        with Session(engine) as session:
            with _one_thread_at_a_time:
                prepare(settings)  # a fresh home's bookmarks are its new system database's: none
                project_settings = ProjectSettingsService(
                    Project(MELTANO_PROJECT), env_override=env
                )
                store = state_store_manager_from_project_settings(project_settings, session=session)
            try:
                yield store
            finally:
                store.close()
    except PlatformError:
        raise
    except Exception as error:
        raise MeltanoError(f"{command} failed: {type(error).__name__}: {error}") from error


def read_state(settings: Settings, job: str) -> dict:
    """The Singer state the job's next run starts from (Meltano merges completed and partial
    state, as `meltano state get` does), `{}` when it has none."""
    with _state_store(settings, f"meltano state get {state_id(settings, job)}") as store:
        state = store.get(state_id(settings, job))
    return json.loads(state.json_merged()).get("singer_state", {}) if state else {}


def write_state(settings: Settings, job: str, singer_state: dict) -> None:
    """Replace the job's state, as `meltano state set` does."""
    from meltano.core.state_store import MeltanoState

    state = MeltanoState(
        state_id=state_id(settings, job),
        completed_state={"singer_state": singer_state},
        partial_state={},
    )
    with _state_store(settings, f"meltano state set {state.state_id}") as store:
        store.update(state)


def clear_state(settings: Settings, job: str) -> None:
    with _state_store(settings, f"meltano state clear {state_id(settings, job)}") as store:
        store.clear(state_id(settings, job))
