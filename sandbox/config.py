"""Where the embedded default's stand-ins live: the shop's PostgreSQL, the Stripe sandbox, the
marketing exports.

They listen where the platform's `dev` environment looks for its sources: both read the same
variables (TAP_POSTGRES_PORT, STRIPE_API_BASE, ...), with the defaults environments.yaml declares
for dev. `LocalShop.platform()` gives the platform's settings pointed at these stand-ins.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, urlparse

from pipeline import settings as platform

REPO_ROOT = platform.REPO_ROOT
# The demo shop's size when nothing else is asked for: quick to load, big enough to show.
DEMO_MONTHS = 6
DEMO_ORDERS_PER_MONTH = 10_000


@dataclass(frozen=True)
class LocalShop:
    home: Path  # runtime state: PostgreSQL data dir, warehouse files, exports, logs
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    shop_db: str  # the shop's OLTP database, extracted by tap-postgres
    sandbox_db: str  # the Stripe sandbox's storage and the generator's plan; never extracted
    stripe_port: int
    stripe_api_key: str
    stripe_account_id: str
    # The local Prefect server's (`shop scheduler`): on SQLite, a 'database is locked' under load
    # makes its triggers see an event again and send a second alert; PostgreSQL does not.
    prefect_db: str = "prefect"

    @property
    def pg_data_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def marketing_dir(self) -> Path:
        return self.home / "exports" / "marketing"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def stripe_api_base(self) -> str:
        return f"http://127.0.0.1:{self.stripe_port}"

    def platform_variables(self) -> dict[str, str]:
        """The variables that point the platform (environment dev) at these stand-ins."""
        return {
            "SHOP_HOME": str(self.home),
            "TAP_POSTGRES_HOST": self.pg_host,
            "TAP_POSTGRES_PORT": str(self.pg_port),
            "TAP_POSTGRES_USER": self.pg_user,
            "TAP_POSTGRES_PASSWORD": self.pg_password,
            "TAP_POSTGRES_DATABASE": self.shop_db,
            "TAP_STRIPE_CLIENT_SECRET": self.stripe_api_key,
            "TAP_STRIPE_ACCOUNT_ID": self.stripe_account_id,
            "STRIPE_API_BASE": self.stripe_api_base,
            "MARKETING_EXPORTS_URL": str(self.marketing_dir),
        }

    def as_environment(self) -> dict[str, str]:
        """These settings as the variables `load` reads (for the sandbox's own processes)."""
        return {**self.platform_variables(), "SHOP_SANDBOX_DATABASE": self.sandbox_db}

    def platform(
        self, environment: str = "dev", extra: Mapping[str, str] = {}
    ) -> platform.LocalShop:
        """The platform's settings for `environment` with its sources at these stand-ins."""
        return platform.load(environment, {**os.environ, **self.platform_variables(), **extra})

    def prefect_database_url(self) -> str:
        return (
            f"postgresql+asyncpg://{quote(self.pg_user)}:{quote(self.pg_password)}"
            f"@{self.pg_host}:{self.pg_port}/{self.prefect_db}"
        )

    def dsn(self, database: str) -> str:
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={database} "
            f"user={self.pg_user} password={self.pg_password}"
        )


def load(env: Mapping[str, str] | None = None) -> LocalShop:
    """The stand-ins as the variables (or dev's defaults in environments.yaml) place them."""
    env = os.environ if env is None else env
    dev = platform.load("dev", env)
    stripe_port = urlparse(dev.stripe.api_base).port
    assert stripe_port, f"STRIPE_API_BASE {dev.stripe.api_base} names no port"
    return LocalShop(
        home=dev.home,
        pg_host=dev.postgres.host,
        pg_port=dev.postgres.port,
        pg_user=dev.postgres.user,
        pg_password=dev.postgres.password,
        shop_db=dev.postgres.database,
        sandbox_db=env.get("SHOP_SANDBOX_DATABASE", "sandbox"),
        stripe_port=stripe_port,
        stripe_api_key=dev.stripe.api_key,
        stripe_account_id=dev.stripe.account_id,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def temporary_shop(prefix: str) -> LocalShop:
    """A new home of its own under /tmp, on free ports (tests, benchmarks)."""
    # Not a private temporary folder: the postgres system user must traverse the home.
    home = Path(tempfile.mkdtemp(prefix=f"shop-{prefix}-", dir="/tmp"))
    home.chmod(0o755)
    return replace(load(), home=home, pg_port=free_port(), stripe_port=free_port())
