"""Where the embedded default lives and how to reach it: the environment, else local defaults."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The demo shop's size when nothing else is asked for: quick to load, big enough to show.
DEMO_MONTHS = 6
DEMO_ORDERS_PER_MONTH = 10_000


@dataclass(frozen=True)
class Settings:
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

    def as_environment(self) -> dict[str, str]:
        """These settings as the environment variables load_settings reads."""
        return {
            "SHOP_HOME": str(self.home),
            "SHOP_PG_PORT": str(self.pg_port),
            "SHOP_PG_USER": self.pg_user,
            "SHOP_PG_PASSWORD": self.pg_password,
            "SHOP_PG_DATABASE": self.shop_db,
            "SHOP_SANDBOX_DATABASE": self.sandbox_db,
            "STRIPE_SANDBOX_PORT": str(self.stripe_port),
            "STRIPE_SANDBOX_API_KEY": self.stripe_api_key,
            "STRIPE_SANDBOX_ACCOUNT_ID": self.stripe_account_id,
        }

    def dsn(self, database: str) -> str:
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={database} "
            f"user={self.pg_user} password={self.pg_password}"
        )


def load_settings() -> Settings:
    env = os.environ
    return Settings(
        home=Path(env.get("SHOP_HOME", REPO_ROOT / ".local")).resolve(),
        pg_host="127.0.0.1",
        pg_port=int(env.get("SHOP_PG_PORT", "55432")),
        pg_user=env.get("SHOP_PG_USER", "postgres"),
        pg_password=env.get("SHOP_PG_PASSWORD", "sandbox"),
        shop_db=env.get("SHOP_PG_DATABASE", "shop"),
        sandbox_db=env.get("SHOP_SANDBOX_DATABASE", "sandbox"),
        stripe_port=int(env.get("STRIPE_SANDBOX_PORT", "12111")),
        stripe_api_key=env.get("STRIPE_SANDBOX_API_KEY", "sk_test_sandbox"),
        stripe_account_id=env.get("STRIPE_SANDBOX_ACCOUNT_ID", "acct_1SandboxShop00001"),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def temporary_settings(prefix: str) -> Settings:
    """Settings of a new home of its own under /tmp, on free ports (tests, benchmarks)."""
    # Not a private temporary folder: the postgres system user must traverse the home.
    home = Path(tempfile.mkdtemp(prefix=f"shop-{prefix}-", dir="/tmp"))
    home.chmod(0o755)
    return replace(load_settings(), home=home, pg_port=free_port(), stripe_port=free_port())
