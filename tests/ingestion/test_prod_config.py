"""The `prod` environment, checked offline (no Snowflake account here, and no traffic leaves
127.0.0.1): target-snowflake's resolved configuration validates against the plugin's own
settings schema, every variable the environment reads is in .env.example, no secret is in
meltano.yml, and the Snowflake state backend resolves from the documented variables."""

from __future__ import annotations

import json
import os
import re
import subprocess
from unittest import mock

import jsonschema
import pytest
import yaml
from env_example import example_environment

from pipeline.meltano import MELTANO_PROJECT
from pipeline.meltano import executable as meltano_executable


def _example_env() -> dict[str, str]:
    return example_environment()


def _prod_env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_"))}
    return {**clean, **_example_env(), "MELTANO_ENVIRONMENT": "prod"}


def _meltano(*args: str) -> str:
    result = subprocess.run(
        [meltano_executable(), *args],
        cwd=MELTANO_PROJECT,
        env=_prod_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_variable_of_the_prod_environment_is_in_env_example() -> None:
    project = yaml.safe_load((MELTANO_PROJECT / "meltano.yml").read_text())
    (prod,) = [env for env in project["environments"] if env["name"] == "prod"]
    snowflake = [p for p in project["plugins"]["loaders"] if p["name"].startswith("target-snow")]
    extractors = project["plugins"]["extractors"]  # the sources: the same variables in dev
    referenced = set(re.findall(r"\$\{(\w+)\}", json.dumps([prod, snowflake, extractors])))
    documented = set(_example_env())
    assert referenced, "the prod environment reads no variables?"
    assert referenced <= documented, referenced - documented
    assert {
        "MELTANO_STATE_BACKEND_URI",
        "MELTANO_STATE_BACKEND_SNOWFLAKE_PRIVATE_KEY",
    } <= documented
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


def test_the_snowflake_state_backend_resolves_from_the_documented_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from meltano.core.project import Project
    from meltano.core.state_store import state_store_manager_from_project_settings
    from meltano_state_backend_snowflake.backend import SnowflakeStateStoreManager

    for name, value in _example_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MELTANO_STATE_BACKEND_SNOWFLAKE_PRIVATE_KEY", _test_private_key())
    connection = mock.MagicMock()
    with mock.patch("snowflake.connector.connect", return_value=connection) as connect:
        project = Project(root=MELTANO_PROJECT)
        manager = state_store_manager_from_project_settings(project.settings)
    assert isinstance(manager, SnowflakeStateStoreManager)
    params = connect.call_args.kwargs
    assert {
        k: params[k] for k in ("account", "user", "warehouse", "database", "schema", "role")
    } == {
        "account": "myorg-myaccount",
        "user": "MELTANO_SVC",
        "warehouse": "LOADING_WH",
        "database": "RAW",
        "schema": "MELTANO",
        "role": "LOADER",
    }
    assert "private_key" in params and "password" not in params
    statements = " ".join(str(call.args[0]) for call in connection.mock_calls if call.args)
    assert "CREATE TABLE IF NOT EXISTS RAW.MELTANO.meltano_state" in statements


def _test_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
