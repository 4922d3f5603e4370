"""The `prod` environment, checked offline (no Snowflake account here, and no traffic leaves
127.0.0.1).

.env.example is read the way production reads it: sourced by bash (`set -a; . ./.env`, what
deploy/with-env does), never parsed in Python. What bash sets must be exactly what the file says,
and what Meltano (target-snowflake, the state backend), dbt (profiles.yml), Evidence (its
Snowflake sources) and the flows (pipeline/settings.py) then read must be those values, keys
included: the ones deploy/with-env passes on as PEM text as well as the ones read from a path.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path
from unittest import mock

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from env_example import ENV_EXAMPLE, bash_environment, sourced_example

from pipeline import settings as platform_settings
from pipeline.meltano import MELTANO_PROJECT
from pipeline.meltano import executable as meltano_executable
from sandbox.config import REPO_ROOT

WITH_ENV = REPO_ROOT / "deploy" / "with-env"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# Read by bash and by systemd alike, verbatim: single quotes around anything but a quote.
PORTABLE_VALUE = re.compile(r"^'([^'\\$`]*)'$")


def _declared() -> dict[str, str]:
    """NAME => the raw text after `=`, for every assignment line of .env.example."""
    return {
        match.group(1): match.group(2)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if (match := ASSIGNMENT.match(line))
    }


def test_bash_sets_exactly_what_env_example_declares() -> None:
    """An unquoted `&` backgrounds an assignment (the variable stays unset and what follows it
    becomes a variable of its own); a `$` or a backquote would be expanded by bash but not by
    systemd. Every value is a plain single-quoted string, and bash sets each one verbatim."""
    declared = _declared()
    _, errors = bash_environment("set -a; . ./.env.example; set +a")
    assert errors == ""
    for name, raw in declared.items():
        assert PORTABLE_VALUE.match(raw), f"{name}={raw}: not a plain single-quoted value"
    assert sourced_example() == {
        name: PORTABLE_VALUE.match(raw).group(1)  # type: ignore[union-attr]
        for name, raw in declared.items()
    }
    uri = sourced_example()["MELTANO_STATE_BACKEND_URI"]
    assert uri.endswith("?warehouse=LOADING_WH&role=LOADER")


def test_a_stray_ampersand_would_be_caught(tmp_path: Path) -> None:
    """The check above on the mistake the file once had: the URI unquoted."""
    text = ENV_EXAMPLE.read_text()
    uri = sourced_example()["MELTANO_STATE_BACKEND_URI"]
    (tmp_path / ".env.example").write_text(text.replace(f"'{uri}'", uri))
    sourced, _ = bash_environment("set -a; . ./.env.example; set +a", cwd=tmp_path)
    assert "MELTANO_STATE_BACKEND_URI" not in sourced
    assert sourced["role"] == "LOADER"


def _prod_env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_"))}
    return {**clean, **sourced_example(), "MELTANO_ENVIRONMENT": "prod"}


def _meltano(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [meltano_executable(), *args],
        cwd=MELTANO_PROJECT,
        env=env or _prod_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_variable_the_prod_environment_reads_is_in_env_example() -> None:
    project = yaml.safe_load((MELTANO_PROJECT / "meltano.yml").read_text())
    (prod,) = [env for env in project["environments"] if env["name"] == "prod"]
    snowflake = [p for p in project["plugins"]["loaders"] if p["name"].startswith("target-snow")]
    extractors = project["plugins"]["extractors"]  # the sources: the same variables in dev
    referenced = set(re.findall(r"\$\{(\w+)\}", json.dumps([prod, snowflake, extractors])))
    # dbt's profile, Evidence's sources (through deploy/with-env) and the flows' connection.
    referenced |= set(
        re.findall(r"env_var\('(\w+)'", (REPO_ROOT / "transform" / "profiles.yml").read_text())
    )
    referenced |= set(re.findall(r"\$\{?(SNOWFLAKE_\w+|SHOP_\w+)", WITH_ENV.read_text()))
    referenced |= set(
        re.findall(
            r'variables\.get\("(SNOWFLAKE_PREFECT_\w+)"',
            Path(platform_settings.__file__).read_text(),
        )
    )
    documented = set(sourced_example())
    optional = {  # defaults that fit production, overridden only by hand (dev names, an emulator)
        "DBT_TARGET", "SHOP_HOME", "SNOWFLAKE_ROLE", "SNOWFLAKE_WAREHOUSE", "SNOWFLAKE_DATABASE",
        "SNOWFLAKE_STAGING_DATABASE", "SNOWFLAKE_RAW_DATABASE", "SNOWFLAKE_PREFECT_USER",
        "SNOWFLAKE_PREFECT_ROLE", "SNOWFLAKE_PREFECT_WAREHOUSE", "SHOP_ENV_FILE",
        "SNOWFLAKE_HOST", "SNOWFLAKE_PORT", "SNOWFLAKE_PROTOCOL",  # a private-link address
    }  # fmt: skip
    assert referenced, "the prod environment reads no variables?"
    assert referenced - optional <= documented, referenced - optional - documented
    # No value of a secret setting is written into meltano.yml.
    text = json.dumps(project)
    for name in ("password", "private_key", "private_key_passphrase", "client_secret"):
        for value in re.findall(rf'"{name}": "([^"]*)"', text):
            assert value.startswith("${"), f"{name} has a literal value in meltano.yml"


@pytest.mark.integration
def test_target_snowflake_config_validates_against_the_plugins_schema() -> None:
    about = json.loads(_meltano("invoke", "target-snowflake", "--about", "--format", "json"))
    assert "batch" in about["capabilities"]
    # The plugin's schema itself trips the metaschema check (a `null` in stream_maps), so the
    # config is validated without that check.
    schema = about["settings"]
    validator = jsonschema.validators.validator_for(schema)(schema)
    for source in ("postgres", "stripe", "marketing"):
        config = json.loads(_meltano("config", "--unsafe", "print", f"target-snowflake-{source}"))
        validator.validate(config)
        assert config["account"] == "myorg-myaccount" and config["user"] == "MELTANO_SVC"
        assert (config["role"], config["warehouse"], config["database"]) == (
            "LOADER", "LOADING_WH", "RAW",
        )  # fmt: skip
        assert config["default_target_schema"] == source.upper()
        assert config["private_key_path"] and "password" not in config  # key pair only
        assert config["load_method"] == "upsert" and config["add_record_metadata"] is True


@pytest.mark.integration
def test_prod_extractors_read_the_real_sources_with_batch_messages() -> None:
    postgres = json.loads(_meltano("config", "--unsafe", "print", "tap-postgres"))
    assert postgres["host"] == "shop-db.internal"
    assert postgres["batch_config"]["encoding"] == {"format": "jsonl", "compression": "gzip"}
    cdc = json.loads(_meltano("config", "--unsafe", "print", "tap-postgres-cdc"))
    assert cdc["host"] == "shop-db.internal" and cdc["replication_slot_name"] == "analytics_cdc"


# -- what the tools read, through deploy/with-env ------------------------------------------------
def _private_key(passphrase: str | None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.fixture(scope="module")
def worker_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment deploy/with-env gives a command, with .env.example as the worker's .env
    and throw-away keys where it names key files (the loader's and Evidence's encrypted)."""
    home = tmp_path_factory.mktemp("worker")
    text = ENV_EXAMPLE.read_text()
    for name, value in sourced_example().items():
        if name.endswith("_PRIVATE_KEY_PATH"):
            owner = name.removesuffix("_PRIVATE_KEY_PATH")
            passphrase = (
                f"{owner.lower()} passphrase" if "LOADER" in owner or "EVIDENCE" in owner else ""
            )
            key = home / Path(value).name
            key.write_text(_private_key(passphrase or None))
            key.chmod(0o600)
            text = text.replace(f"{name}='{value}'", f"{name}='{key}'")
            text = text.replace(
                f"{owner}_PRIVATE_KEY_PASSPHRASE=''",
                f"{owner}_PRIVATE_KEY_PASSPHRASE='{passphrase}'",
            )
    env_file = home / ".env"
    env_file.write_text(text)
    result = subprocess.run(
        [
            "env",
            "-i",
            "PATH=/usr/bin:/bin",
            f"SHOP_ENV_FILE={env_file}",
            str(WITH_ENV),
            "env",
            "-0",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return dict(entry.partition("=")[::2] for entry in result.stdout.split("\0") if entry)


def test_with_env_passes_the_key_files_on_as_pem_text(worker_env: dict[str, str]) -> None:
    loader_key = Path(worker_env["SNOWFLAKE_LOADER_PRIVATE_KEY_PATH"]).read_text()
    assert worker_env["MELTANO_STATE_BACKEND_SNOWFLAKE_PRIVATE_KEY"] == loader_key.rstrip("\n")
    assert (
        worker_env["MELTANO_STATE_BACKEND_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
        == "snowflake_loader passphrase"
    )
    for name, value in sourced_example().items():
        if not name.endswith(("_PRIVATE_KEY", "_PRIVATE_KEY_PATH", "_PRIVATE_KEY_PASSPHRASE")):
            assert worker_env[name] == value, name


def test_a_missing_key_file_stops_with_env(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    result = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", f"SHOP_ENV_FILE={env_file}", str(WITH_ENV), "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        "SNOWFLAKE_LOADER_PRIVATE_KEY_PATH" in result.stderr
        and "meltano_svc_rsa_key.p8" in result.stderr
    )


def test_the_state_backend_reads_the_loaders_key(
    worker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meltano.core.project import Project
    from meltano.core.state_store import state_store_manager_from_project_settings
    from meltano_state_backend_snowflake.backend import SnowflakeStateStoreManager

    for name in [n for n in os.environ if n.startswith(("MELTANO_", "SNOWFLAKE_"))]:
        monkeypatch.delenv(name)
    for name, value in worker_env.items():
        monkeypatch.setenv(name, value)
    connection = mock.MagicMock()
    with mock.patch("snowflake.connector.connect", return_value=connection) as connect:
        manager = state_store_manager_from_project_settings(Project(root=MELTANO_PROJECT).settings)
    assert isinstance(manager, SnowflakeStateStoreManager)
    params = connect.call_args.kwargs
    assert {
        k: params[k] for k in ("account", "user", "warehouse", "database", "schema", "role")
    } == {
        "account": worker_env["SNOWFLAKE_ACCOUNT"],
        "user": worker_env["SNOWFLAKE_LOADER_USER"],
        "warehouse": "LOADING_WH",
        "database": "RAW",
        "schema": "MELTANO",
        "role": "LOADER",
    }
    loader_key = serialization.load_pem_private_key(
        Path(worker_env["SNOWFLAKE_LOADER_PRIVATE_KEY_PATH"]).read_bytes(),
        worker_env["SNOWFLAKE_LOADER_PRIVATE_KEY_PASSPHRASE"].encode(),
    )
    assert params["private_key"] == loader_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert "password" not in params
    statements = " ".join(str(call.args[0]) for call in connection.mock_calls if call.args)
    assert "CREATE TABLE IF NOT EXISTS RAW.MELTANO.meltano_state" in statements


@pytest.mark.integration
def test_target_snowflake_reads_the_loaders_key(worker_env: dict[str, str]) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_"))}}
    env.update(worker_env, MELTANO_ENVIRONMENT="prod")
    config = json.loads(
        _meltano("config", "--unsafe", "print", "target-snowflake-postgres", env=env)
    )
    assert config["account"] == worker_env["SNOWFLAKE_ACCOUNT"]
    assert config["user"] == worker_env["SNOWFLAKE_LOADER_USER"]
    assert config["private_key_path"] == worker_env["SNOWFLAKE_LOADER_PRIVATE_KEY_PATH"]
    assert config["private_key_passphrase"] == worker_env["SNOWFLAKE_LOADER_PRIVATE_KEY_PASSPHRASE"]


DBT_PROFILE = """
import json, os
from argparse import Namespace
from dbt.config.profile import Profile, read_profile
from dbt.config.renderer import ProfileRenderer
from dbt.flags import set_from_args
from dbt_common.context import set_invocation_context
set_from_args(Namespace(), None)
set_invocation_context(os.environ)
profile = Profile.from_raw_profiles(
    read_profile("."), "shop", ProfileRenderer({}), target_override="snowflake"
)
print(json.dumps({k: getattr(profile.credentials, k) for k in (
    "account", "user", "role", "warehouse", "database", "private_key_path",
    "private_key_passphrase", "password", "authenticator")}))
"""


def test_dbt_reads_the_dbt_users_key(worker_env: dict[str, str]) -> None:
    result = subprocess.run(
        [PYTHON, "-c", DBT_PROFILE],
        cwd=REPO_ROOT / "transform",
        env=worker_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    credentials = json.loads(result.stdout)
    assert credentials == {
        "account": worker_env["SNOWFLAKE_ACCOUNT"],
        "user": worker_env["SNOWFLAKE_USER"],
        "role": "TRANSFORMER",
        "warehouse": "TRANSFORMING_WH",
        "database": "ANALYTICS",
        "private_key_path": worker_env["SNOWFLAKE_PRIVATE_KEY_PATH"],
        "private_key_passphrase": worker_env["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"],
        "password": None,  # key pair only
        "authenticator": None,
    }


# Evidence's own loader of a source's options (connection.yaml, then EVIDENCE_SOURCE__ variables),
# and the crypto call its Snowflake connector signs in with.
EVIDENCE_SOURCES = """
import { createPrivateKey } from 'node:crypto';
import { pathToFileURL } from 'node:url';
const sdk = pathToFileURL(
  'node_modules/@evidence-dev/sdk/src/plugins/datasources/loadSourceConfig.js'
);
const { loadSourceConfig } = await import(sdk.href);
const out = {};
for (const source of ['warehouse', 'costs']) {
  const { options } = await loadSourceConfig(`environments/snowflake/${source}`);
  const key = createPrivateKey({
    key: options.private_key, format: 'pem', passphrase: options.passphrase
  });
  out[source] = { ...options, private_key_type: key.asymmetricKeyType };
}
console.log(JSON.stringify(out));
"""


def test_evidence_reads_the_reporting_users_key(worker_env: dict[str, str]) -> None:
    result = subprocess.run(
        ["node", "--input-type=module", "-e", EVIDENCE_SOURCES],
        cwd=REPO_ROOT / "reports",
        env=worker_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    sources = json.loads(result.stdout)
    key = Path(worker_env["SNOWFLAKE_EVIDENCE_PRIVATE_KEY_PATH"]).read_text().rstrip("\n")
    for source, role in (("warehouse", "REPORTER"), ("costs", "COST_READER")):
        options = sources[source]
        assert options["account"] == worker_env["SNOWFLAKE_ACCOUNT"]
        assert options["username"] == "EVIDENCE_SVC" and options["role"] == role
        assert options["private_key"] == key and options["private_key_type"] == "rsa"
        assert options["passphrase"] == worker_env["SNOWFLAKE_EVIDENCE_PRIVATE_KEY_PASSPHRASE"]


def test_the_flows_read_the_prefect_users_key(worker_env: dict[str, str]) -> None:
    settings = platform_settings.load("prod", worker_env)
    assert settings.snowflake is not None
    connection = settings.snowflake
    assert connection.account == worker_env["SNOWFLAKE_ACCOUNT"]
    assert (connection.user, connection.role) == ("PREFECT_SVC", "ORCHESTRATOR")
    assert connection.private_key_path == worker_env["SNOWFLAKE_PREFECT_PRIVATE_KEY_PATH"]
    assert settings.exports_url == worker_env["MARKETING_EXPORTS_URL"]


def test_the_stripe_key_is_documented_with_every_scope_the_tap_uses() -> None:
    """tap-stripe 3.3.0 reads the account at start, lists each selected stream, follows events
    and expands nested objects; the restricted key the docs describe must allow all of it."""
    (tap,) = (MELTANO_PROJECT / ".meltano" / "extractors" / "tap-stripe").glob(
        "venv/lib/python3*/site-packages/tap_stripe/__init__.py"
    )
    module = ast.parse(tap.read_text())
    expand = next(
        ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") == "STREAM_TO_EXPAND_FIELDS"
    )
    assert "stripe.Account.retrieve" in tap.read_text()
    project = yaml.safe_load((MELTANO_PROJECT / "meltano.yml").read_text())
    selected = {
        pattern.split(".")[0]
        for plugin in project["plugins"]["extractors"]
        if plugin["name"] == "tap-stripe"
        for pattern in plugin["select"]
        if not pattern.startswith("!")
    }
    resources = {"account", "events"} | selected
    resources |= {field.removeprefix("data.") for s in selected for field in expand.get(s, [])}
    scopes = {resource.replace("_", " ") for resource in resources}
    assert {"refunds", "sources", "subscriptions", "tax ids"} <= scopes
    for document in (ENV_EXAMPLE, REPO_ROOT / "docs" / "production.md"):
        text = " ".join(document.read_text().lower().split())
        missing = {scope for scope in scopes if scope not in text}
        assert not missing, f"{document.name} does not name {sorted(missing)}"
