"""The platform's settings for one environment: environments.yaml plus the process environment.

The platform knows its sources' addresses, its warehouse and where its runtime state lives; it
never starts, generates or simulates a source. `load("dev")` and `load("prod")` differ only by
what environments.yaml declares and by the variables each world sets (.env.example).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import yaml

from pipeline.errors import PlatformError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS_FILE = REPO_ROOT / "environments.yaml"
PLATFORM_FILE = REPO_ROOT / "terraform" / "platform.yaml"
DEFAULT_HOME = REPO_ROOT / ".local"


class SettingsError(PlatformError):
    pass


@cache
def declared_environments() -> dict[str, dict]:
    return yaml.safe_load(ENVIRONMENTS_FILE.read_text())


@cache
def snowflake_platform() -> dict:
    """terraform/platform.yaml: the Snowflake account as Terraform creates it."""
    return yaml.safe_load(PLATFORM_FILE.read_text())


@dataclass(frozen=True)
class PostgresSource:
    """The shop's OLTP database."""

    host: str
    port: int
    user: str
    password: str
    database: str
    cdc_slot: str  # the logical replication slot of change data capture

    def conninfo(self) -> str:
        return (
            f"host={self.host} port={self.port} dbname={self.database} "
            f"user={self.user} password={self.password}"
        )


@dataclass(frozen=True)
class StripeSource:
    api_base: str  # https://api.stripe.com, or a compatible server (STRIPE_API_BASE)
    api_key: str
    account_id: str


@dataclass(frozen=True)
class SnowflakeConnection:
    """How the platform's own checks and run log reach Snowflake (the PREFECT service user)."""

    account: str
    user: str
    role: str
    warehouse: str
    raw_database: str
    analytics_database: str
    private_key_path: str | None
    private_key_passphrase: str | None
    # Set for a private-link host or an emulator; Snowflake's default otherwise.
    host: str | None = None
    port: int | None = None
    protocol: str | None = None


@dataclass(frozen=True)
class Settings:
    environment: str
    home: Path  # this runner's state: logs, Meltano's working files, dbt's target, local warehouse
    meltano_environment: str
    jobs: Mapping[str, object]
    dbt_target: str
    evidence_warehouse: str
    warehouse_kind: str  # duckdb | snowflake
    runs_kept_apart_by: Mapping[str, str]
    meltano_state: str  # local | backend
    postgres: PostgresSource
    stripe: StripeSource
    exports_url: str  # the folder or s3:// URL holding <table>/*.csv
    snowflake: SnowflakeConnection | None
    # The variables every tool of this environment runs with (defaults filled in).
    variables: Mapping[str, str] = field(repr=False)

    @property
    def site_dir(self) -> Path:
        """Where the report site is published (SHOP_SITE_DIR; default reports/build)."""
        return Path(self.variables.get("SHOP_SITE_DIR") or REPO_ROOT / "reports" / "build")

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def warehouse_dir(self) -> Path:
        """The local warehouse's files (dev)."""
        return self.home / "warehouse"

    @property
    def daily_jobs(self) -> list[str]:
        return list(self.jobs["daily"])  # type: ignore[call-overload]

    @property
    def realtime_jobs(self) -> list[str]:
        return list(self.jobs["realtime"])  # type: ignore[call-overload]

    @property
    def realtime_starts_from(self) -> str:
        return str(self.jobs["realtime_starts_from"])

    @property
    def history_parallel(self) -> dict[str, list[str]]:
        """Jobs whose history load runs as several jobs in parallel: job -> its parts."""
        return {job: list(parts) for job, parts in self.jobs["history_parallel"].items()}  # type: ignore[attr-defined]

    @property
    def cdc_job(self) -> str:
        return str(self.jobs["cdc"]["job"])  # type: ignore[index]

    @property
    def job_cdc_replaces(self) -> str:
        return str(self.jobs["cdc"]["replaces"])  # type: ignore[index]


def on_workload(settings: Settings, flow: str) -> Settings:
    """The settings with which `flow` runs each tool on the warehouse terraform/platform.yaml
    assigns it (workloads): Meltano's loader and state backend (load), dbt and the platform's own
    queries (transform), Evidence's sources (report). The local world has no warehouses to pick."""
    if settings.snowflake is None:
        return settings
    workload = snowflake_platform()["workloads"][flow]
    variables = {
        **settings.variables,
        "TARGET_SNOWFLAKE_WAREHOUSE": workload["load"],
        "SNOWFLAKE_WAREHOUSE": workload["transform"],
        "EVIDENCE_SOURCE__warehouse__warehouse": workload["report"],
        "EVIDENCE_SOURCE__costs__warehouse": workload["report"],
    }
    state_backend = variables.get("MELTANO_STATE_BACKEND_URI")
    if state_backend:
        variables["MELTANO_STATE_BACKEND_URI"] = re.sub(
            r"([?&]warehouse=)[^&]*", lambda m: m.group(1) + workload["load"], state_backend
        )
    return replace(
        settings,
        variables=variables,
        snowflake=replace(settings.snowflake, warehouse=workload["transform"]),
    )


def _expand(value: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), ""), value)


def _required(variables: Mapping[str, str], name: str, environment: str) -> str:
    value = variables.get(name, "")
    if not value:
        raise SettingsError(
            f"environment {environment!r} needs the variable {name} (see .env.example)"
        )
    return value


def _snowflake(variables: Mapping[str, str], environment: str) -> SnowflakeConnection:
    platform = snowflake_platform()
    prefect_user = platform["service_users"]["PREFECT"]
    port = variables.get("SNOWFLAKE_PORT")
    return SnowflakeConnection(
        account=_required(variables, "SNOWFLAKE_ACCOUNT", environment),
        user=variables.get("SNOWFLAKE_PREFECT_USER") or "PREFECT_SVC",
        role=variables.get("SNOWFLAKE_PREFECT_ROLE") or prefect_user["role"],
        warehouse=variables.get("SNOWFLAKE_PREFECT_WAREHOUSE") or prefect_user["warehouse"],
        raw_database=variables.get("SNOWFLAKE_RAW_DATABASE") or "RAW",
        analytics_database=variables.get("SNOWFLAKE_DATABASE") or "ANALYTICS",
        private_key_path=variables.get("SNOWFLAKE_PREFECT_PRIVATE_KEY_PATH") or None,
        private_key_passphrase=variables.get("SNOWFLAKE_PREFECT_PRIVATE_KEY_PASSPHRASE") or None,
        host=variables.get("SNOWFLAKE_HOST") or None,
        port=int(port) if port else None,
        protocol=variables.get("SNOWFLAKE_PROTOCOL") or None,
    )


def load(environment: str = "dev", env: Mapping[str, str] | None = None) -> Settings:
    """The settings of `environment` from environments.yaml and the variables in `env`
    (default: this process's environment)."""
    declared = declared_environments()
    if environment not in declared:
        raise SettingsError(
            f"unknown environment {environment!r}; environments.yaml declares {', '.join(declared)}"
        )
    spec = declared[environment]
    env = os.environ if env is None else env
    home = Path(env.get("SHOP_HOME") or DEFAULT_HOME).resolve()
    variables = {"SHOP_HOME": str(home)}
    for name, value in spec.get("defaults", {}).items():
        variables[name] = _expand(str(value), variables)
    variables.update({k: v for k, v in env.items() if v != "" or k not in variables})
    variables["SHOP_HOME"] = str(home)

    def required(name: str) -> str:
        return _required(variables, name, environment)

    postgres = PostgresSource(
        host=required("TAP_POSTGRES_HOST"),
        port=int(required("TAP_POSTGRES_PORT")),
        user=required("TAP_POSTGRES_USER"),
        password=variables.get("TAP_POSTGRES_PASSWORD", ""),
        database=required("TAP_POSTGRES_DATABASE"),
        cdc_slot=required("TAP_POSTGRES_CDC_SLOT"),
    )
    stripe = StripeSource(
        api_base=(variables.get("STRIPE_API_BASE") or "https://api.stripe.com").rstrip("/"),
        api_key=required("TAP_STRIPE_CLIENT_SECRET"),
        account_id=required("TAP_STRIPE_ACCOUNT_ID"),
    )
    kind = spec["warehouse"]
    return Settings(
        environment=environment,
        home=home,
        meltano_environment=spec["meltano_environment"],
        jobs=spec["jobs"],
        dbt_target=spec["dbt_target"],
        evidence_warehouse=spec["evidence_warehouse"],
        warehouse_kind=kind,
        runs_kept_apart_by={
            how: _expand(str(where), variables) for how, where in spec["runs_kept_apart_by"].items()
        },
        meltano_state=spec["meltano_state"],
        postgres=postgres,
        stripe=stripe,
        exports_url=required("MARKETING_EXPORTS_URL"),
        snowflake=_snowflake(variables, environment) if kind == "snowflake" else None,
        variables=variables,
    )


def prefect_variables(settings: Settings) -> dict[str, str]:
    """Prefect's settings for the platform's processes: its home with the rest of the state,
    offline (no analytics); PREFECT_API_URL, when set, points at the deployment's server."""
    return {
        "PREFECT_HOME": str(settings.home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # The temporary server of a flow run without a server starts in ~5 s on a quiet machine
        # but past Prefect's 20 s default on 2 busy cores, failing the run.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
