"""The Snowflake emulator of the prod-path tests: fakesnow's server (fakesnow_server.py, run in
the fakesnow venv) on a free port of 127.0.0.1, and what a test needs to use and inspect it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.config import REPO_ROOT, free_port

FAKESNOW_DIR = REPO_ROOT / "transform" / "fakesnow"
SERVER = Path(__file__).with_name("fakesnow_server.py")
HOOKS = Path(__file__).with_name("emulator_hooks")
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Emulator:
    host: str
    port: int
    protocol: str
    account: str
    db_dir: Path
    login_log: Path
    statement_log: Path
    server_log: Path

    def client_environment(self) -> dict[str, str]:
        """How a production client reaches it: the account's address (SNOWFLAKE_HOST/PORT/
        PROTOCOL, read by dbt's profile) and the flag of dbt's emulator overrides
        (transform/macros/fakesnow)."""
        return {
            "SNOWFLAKE_ACCOUNT": self.account,
            "SNOWFLAKE_HOST": self.host,
            "SNOWFLAKE_PORT": str(self.port),
            "SNOWFLAKE_PROTOCOL": self.protocol,
            "SNOWFLAKE_EMULATOR": "fakesnow",
        }

    def meltano_environment(self) -> dict[str, str]:
        """The same for a Meltano run, whose Snowflake clients have no address setting: the
        hooks of emulator_hooks/ give it to them (and swap target-snowflake's stage step)."""
        return {**self.client_environment(), "PYTHONPATH": str(HOOKS)}

    def route_connections(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Send every Snowflake connection this process opens to the emulator, as the hooks of
        emulator_hooks/ do in Meltano's: the platform reads and writes bookmarks through Meltano's
        Snowflake state backend in its own process, and that backend has no address setting."""
        connect = snowflake.connector.connect

        def connect_to_emulator(**params: object) -> snowflake.connector.SnowflakeConnection:
            return connect(
                **{**params, "host": self.host, "port": self.port, "protocol": self.protocol}
            )

        monkeypatch.setattr(snowflake.connector, "connect", connect_to_emulator)

    def connect(
        self, database: str | None = None, schema: str | None = None
    ) -> snowflake.connector.SnowflakeConnection:
        """A connection of the test's own (user TEST; the emulator accepts any password)."""
        return snowflake.connector.connect(
            account=self.account,
            user="TEST",
            password="test",
            database=database,
            schema=schema,
            host=self.host,
            port=self.port,
            protocol=self.protocol,
            network_timeout=60,
        )

    def logins(self) -> list[dict[str, str | None]]:
        lines = self.login_log.read_text().splitlines() if self.login_log.exists() else []
        return [json.loads(line) for line in lines]

    def statements(self) -> list[dict[str, str | None]]:
        """Every statement run, with its session's user, role, database and schema."""
        lines = self.statement_log.read_text().splitlines() if self.statement_log.exists() else []
        return [json.loads(line) for line in lines]

    def refused_statements(self) -> list[str]:
        """Every statement the emulator answered with an error, with the error (its log)."""
        log = self.server_log.read_text()
        return re.findall(r"fakesnow\.server (?:INFO|ERROR) (sql_text=.*|result not encoded)", log)


def private_key_pem() -> str:
    """A private key for key-pair logins (the emulator accepts any: it does not check the JWT)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fakesnow server exited at start:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the fakesnow server did not listen within {START_TIMEOUT_S} s")


@contextmanager
def running_emulator(work: Path) -> Iterator[Emulator]:
    """The server for the block, its databases, logs and staged files in work; stopped by its
    PID afterwards."""
    subprocess.run(["bash", str(FAKESNOW_DIR / "setup.sh")], check=True, timeout=600)
    db_dir, stage_dir = work / "databases", work / "stages"
    db_dir.mkdir()
    stage_dir.mkdir()
    port = free_port()
    server_log = work / "server.log"
    login_log = work / "logins.jsonl"
    statement_log = work / "statements.jsonl"
    with server_log.open("w") as log:
        process = subprocess.Popen(
            [
                str(FAKESNOW_DIR / ".venv" / "bin" / "python"),
                str(SERVER),
                *("--port", str(port)),
                *("--db-dir", str(db_dir)),
                *("--login-log", str(login_log)),
                *("--statement-log", str(statement_log)),
            ],
            # Staged files land in fakesnow's temporary folder: keep them in this test's.
            env={**os.environ, "TMPDIR": str(stage_dir)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(process, port, server_log)
        yield Emulator(
            host="127.0.0.1",
            port=port,
            protocol="http",
            account="shop-emulator",
            db_dir=db_dir,
            login_log=login_log,
            statement_log=statement_log,
            server_log=server_log,
        )
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
