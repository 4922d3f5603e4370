"""Lifecycle of the local PostgreSQL server that plays the shop's production database.

The server refuses to run as root, so when we are root every server command runs as the
`postgres` system user on a project-local data directory and a non-default port.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg

from pipeline.errors import PlatformError
from sandbox.config import LocalShop

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SQL_DIR = Path(__file__).parent / "sql"


class PostgresError(PlatformError):
    pass


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def is_running(settings: LocalShop) -> bool:
    pid_file = settings.pg_data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    result = subprocess.run(
        _as_server_user([str(PG_BIN / "pg_ctl"), "status", "-D", str(settings.pg_data_dir)]),
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _init_cluster(settings: LocalShop) -> None:
    data_dir = settings.pg_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    server_user = "postgres" if os.geteuid() == 0 else getpass.getuser()
    if os.geteuid() == 0:
        shutil.chown(data_dir, user="postgres", group="postgres")
        # The postgres user must be able to reach the data directory through every parent.
        check = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(data_dir)])
        if check.returncode != 0:
            raise PostgresError(
                f"the postgres system user cannot write {data_dir}: a parent directory is not "
                "traversable by other users; set SHOP_HOME to a directory it can reach"
            )
    password_file = data_dir.parent / ".pg_password"
    password_file.write_text(settings.pg_password + "\n")
    if os.geteuid() == 0:
        shutil.chown(password_file, user="postgres")
    password_file.chmod(0o600)
    try:
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                settings.pg_user,
                "--pwfile",
                str(password_file),
                "--auth-host=scram-sha-256",
                "--auth-local=peer" if server_user == settings.pg_user else "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )
    finally:
        password_file.unlink()
    # Logical decoding is on from the start so change data capture (wal2json) can be enabled
    # without a restart; the socket lives in the data directory, not in /var/run.
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# shop sandbox\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{data_dir}'\n"
            "wal_level = logical\n"
            "max_replication_slots = 8\n"
            "max_wal_senders = 8\n"
            "max_slot_wal_keep_size = '2GB'\n"
            "shared_buffers = '512MB'\n"
            "maintenance_work_mem = '512MB'\n"
            "max_wal_size = '4GB'\n"
            "synchronous_commit = off\n"
            "timezone = 'UTC'\n"
        )


def start(settings: LocalShop, timeout_s: float = 30.0) -> None:
    """Start the server (initialising its data directory on first use); idempotent."""
    if is_running(settings):
        _ensure_databases(settings)  # one started before a database was added lacks it
        return
    if not (PG_BIN / "postgres").exists():
        raise PostgresError(f"PostgreSQL 15 is not installed ({PG_BIN} missing): run ./run setup")
    if _port_in_use(settings.pg_host, settings.pg_port):
        raise PostgresError(
            f"port {settings.pg_port} on {settings.pg_host} is already in use by another "
            "process; stop it or set TAP_POSTGRES_PORT to a free port"
        )
    if not (settings.pg_data_dir / "PG_VERSION").exists():
        _init_cluster(settings)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.pg_data_dir / "server.log"
    _run(
        [
            str(PG_BIN / "pg_ctl"),
            "start",
            "-w",
            "-t",
            str(int(timeout_s)),
            "-D",
            str(settings.pg_data_dir),
            "-l",
            str(log_file),
            "-o",
            f"-p {settings.pg_port}",
        ],
        f"starting PostgreSQL on port {settings.pg_port} (log: {log_file})",
    )
    _wait_ready(settings, timeout_s)
    _ensure_databases(settings)


def stop(settings: LocalShop) -> None:
    if is_running(settings):
        _run(
            [str(PG_BIN / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(settings.pg_data_dir)],
            "stopping PostgreSQL",
        )


def _wait_ready(settings: LocalShop, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(settings.dsn("postgres"), connect_timeout=2):
                return
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL did not accept connections: {error}") from error
            time.sleep(0.2)


def _ensure_databases(settings: LocalShop) -> None:
    with psycopg.connect(settings.dsn("postgres"), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("select datname from pg_database")}
        for database in (settings.shop_db, settings.sandbox_db, settings.prefect_db):
            if database not in existing:
                conn.execute(f'create database "{database}"')


def connect(settings: LocalShop, database: str, **kwargs: object) -> psycopg.Connection:
    """Connect, turning 'server not reachable' into an error that says what to do."""
    try:
        return psycopg.connect(settings.dsn(database), connect_timeout=5, **kwargs)
    except psycopg.OperationalError as error:
        raise PostgresError(
            f"cannot reach PostgreSQL at {settings.pg_host}:{settings.pg_port} "
            f"(database {database}): {str(error).strip()}. Start it with `shop postgres start`."
        ) from error
