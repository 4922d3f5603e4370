"""Security of the embedded default and of the repository.

- No secret in the git tree (secret_scan.py: known secret formats; the sandbox's deliberately
  fake credentials are the only allowed values).
- The local PostgreSQL and the Stripe sandbox listen on 127.0.0.1 only and require credentials.
- The report site reads no personal column (the marts hold none locally: tests/reliability).
- Every dependency is pinned exactly (the vulnerability audit is a command, not a test:
  tests/security/audit_dependencies.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml
from secret_scan import scan_text

from sandbox import inspect, stripe_api
from sandbox.config import REPO_ROOT, LocalShop


def _tracked_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [REPO_ROOT / name.decode() for name in names if name]


def test_the_git_tree_holds_no_secret() -> None:
    findings = []
    files = [path for path in _tracked_files() if path.is_file()]
    for path in files:
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary
            continue
        findings += [
            f"{path.relative_to(REPO_ROOT)}: {f}" for f in scan_text(data.decode(errors="replace"))
        ]
    assert len(files) > 100
    assert findings == []


def test_the_scanner_finds_what_it_looks_for() -> None:
    # Assembled here, so that this file does not hold them itself.
    samples = {
        "private key": "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQ...",
        "Stripe live key": "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "password in a URL": "postgresql://loader:" + "hunter2x@db.example.com/shop",
        "Slack webhook": "https://hooks.slack.com/services/" + "T000/B000/XXXXXXXXXXXXXXXX",
        "AWS access key": "AKIA" + "IOSFODNN7EXAMPLE",
    }
    for kind, sample in samples.items():
        assert [finding.split(":")[0] for finding in scan_text(sample)] == [kind], kind
    assert scan_text("STRIPE_SANDBOX_API_KEY=sk_test_sandbox, password sandbox") == []


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(
                    ".".join(str(b) for b in reversed(bytes.fromhex(address)))
                    if len(address) == 8
                    else address
                )
    return found


@pytest.mark.integration
def test_postgres_listens_on_loopback_only_and_requires_a_password(pg: LocalShop) -> None:
    assert _listening_addresses(pg.pg_port) == {"127.0.0.1"}
    hba = (pg.pg_data_dir / "pg_hba.conf").read_text()
    host_rules = [
        line.split() for line in hba.splitlines() if line.strip().startswith(("host", "hostssl"))
    ]
    assert host_rules and {rule[-1] for rule in host_rules} == {"scram-sha-256"}, host_rules
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.dsn("postgres").replace(pg.pg_password, "wrong-password"))
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(pg.dsn("postgres").replace(f"password={pg.pg_password}", ""))


@pytest.mark.integration
def test_the_stripe_sandbox_listens_on_loopback_only_and_requires_its_key(pg: LocalShop) -> None:
    with stripe_api.start_background(pg) as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"127.0.0.1"}
        app = server._server.app
        for headers in ({}, {"Authorization": "Bearer sk_test_wrong"}):
            status, body, _ = app.handle("GET", "/v1/charges", headers)
            assert status == 401 and body["error"]["type"] == "invalid_request_error"
    with pytest.raises(ValueError, match=r"binds 127\.0\.0\.1 only"):
        stripe_api.serve(pg, host="0.0.0.0")


# Columns the report site must never read (PII; on Snowflake they are masked for REPORTER).
PII_COLUMNS = ("email", "first_name", "last_name", "postal_code", "phone", "address")


def test_the_report_sources_and_pages_read_no_personal_column() -> None:
    reports = REPO_ROOT / "reports"
    queries = [*reports.glob("sources/*/*.sql"), *reports.glob("pages/**/*.md")]
    assert len(queries) > 10
    found = []
    for path in queries:
        text = re.sub(r"--[^\n]*", "", path.read_text()).lower()  # comments may name them
        found += [f"{path.name}: {c}" for c in PII_COLUMNS if re.search(rf"\b{c}\b", text)]
        found += [f"{path.name}: reads {schema}" for schema in ("staging.", "snapshots.", "raw_")
                  if schema in text]  # fmt: skip
    assert found == []


EXACT = re.compile(r"^[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+!-]*$")


def _requirements() -> dict[str, list[str]]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    meltano = yaml.safe_load((REPO_ROOT / "meltano" / "meltano.yml").read_text())
    requirements = {
        "pyproject dependencies": pyproject["project"]["dependencies"],
        "pyproject dev group": pyproject["dependency-groups"]["dev"],
        "build system": pyproject["build-system"]["requires"],
        "fakesnow venv": [
            line
            for line in (REPO_ROOT / "transform" / "fakesnow" / "requirements.txt")
            .read_text()
            .splitlines()
            if line and not line.startswith("#")
        ],
    }
    for kind in ("extractors", "loaders", "utilities"):
        for plugin in meltano.get("plugins", {}).get(kind, []):
            # Our own plugins (./plugins/...) pin their dependencies in their pyproject.toml.
            if "pip_url" in plugin and not plugin["pip_url"].removeprefix("-e ").startswith("./"):
                requirements[f"meltano {plugin['name']}"] = plugin["pip_url"].split()
    for launcher in (REPO_ROOT / "meltano" / "plugins").glob("*/pyproject.toml"):
        project = tomllib.loads(launcher.read_text())
        requirements[f"meltano plugin {launcher.parent.name}"] = [
            *project["project"]["dependencies"],
            *project["build-system"]["requires"],
        ]
    return requirements


def test_every_dependency_is_pinned_exactly() -> None:
    requirements = _requirements()
    loose = [f"{where}: {r}" for where, reqs in requirements.items() for r in reqs
             if not EXACT.match(r)]  # fmt: skip
    assert len(requirements) >= 8 and loose == []
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    locked = {package["name"]: package.get("version") for package in lock["package"]}
    for requirement in requirements["pyproject dependencies"] + requirements["pyproject dev group"]:
        name, version = re.sub(r"\[.*\]", "", requirement).split("==")
        assert locked.get(name.lower()) == version, f"uv.lock disagrees with {requirement}"
    package = json.loads((REPO_ROOT / "reports" / "package.json").read_text())
    npm = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    assert npm and all(re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", v) for v in npm.values()), npm
    assert (REPO_ROOT / "reports" / "package-lock.json").exists()


@pytest.mark.integration
def test_errors_reaching_the_sources_do_not_quote_the_password(pg: LocalShop) -> None:
    """Errors end up in logs, alerts and the run log: DuckDB quotes a connection string in
    them, so the warehouse attaches PostgreSQL through a secret instead."""
    conn = inspect.connect(pg, attach_raw=False, attach_postgres=True)
    assert conn.execute("select count(*) > 0 from shop.information_schema.tables").fetchone()[0]
    conn.close()
    with pytest.raises(duckdb.IOException) as error:
        inspect.connect(replace(pg, pg_port=1), attach_raw=False, attach_postgres=True)  # closed
    assert "Unable to connect to Postgres" in str(error.value)
    assert pg.pg_password not in str(error.value)
