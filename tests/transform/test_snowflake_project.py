"""The dbt project as it runs on Snowflake, checked offline: what `dbt parse` resolves for the
`snowflake` target (no connection), the Meltano project that loads RAW, and terraform/platform.yaml.

- Freshness never relies on Singer record metadata of a source loaded from BATCH files.
- The PII columns dbt tags are exactly those platform.yaml declares, and every relation a role
  without `sees_pii` can read tags its PII columns. (tests/transform/test_transform.py proves on
  the emulator, value by value, that no untagged column of those relations holds PII.)
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from sandbox.config import REPO_ROOT

TRANSFORM_DIR = REPO_ROOT / "transform"
MELTANO_YML = REPO_ROOT / "meltano" / "meltano.yml"
PLATFORM = yaml.safe_load((REPO_ROOT / "terraform" / "platform.yaml").read_text())
# Singer's record metadata: target-snowflake adds it to RECORD messages only.
RECORD_METADATA = ("_sdc_batched_at", "_sdc_extracted_at", "_sdc_received_at")


@cache
def snowflake_manifest(target_path: Path) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "SNOWFLAKE_"))},
        "DBT_TARGET": "snowflake",
        "SNOWFLAKE_ACCOUNT": "offline-check",
    }
    subprocess.run(
        [
            REPO_ROOT / ".venv" / "bin" / "dbt",
            *("parse", "--profiles-dir", ".", "--target-path", str(target_path)),
            "--no-partial-parse",
        ],
        cwd=TRANSFORM_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return json.loads((target_path / "manifest.json").read_text())


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return snowflake_manifest(tmp_path_factory.mktemp("dbt-snowflake-parse"))


def _plugin(kind: str, name: str, project: dict) -> dict:
    (plugin,) = [p for p in project["plugins"][kind] if p["name"] == name]
    return plugin


def _lineage(kind: str, name: str, project: dict) -> list[str]:
    """The plugin and the plugins it inherits from, nearest first."""
    names = [name]
    while parent := _plugin(kind, names[-1], project).get("inherit_from"):
        names.append(parent)
    return names


def batch_loaded_schemas() -> set[str]:
    """RAW schemas that production loads from BATCH files (a tap with batch_config in prod)."""
    project = yaml.safe_load(MELTANO_YML.read_text())
    (prod,) = [env for env in project["environments"] if env["name"] == "prod"]
    batching = {
        p["name"]
        for p in prod["config"]["plugins"].get("extractors", [])
        if "batch_config" in p.get("config", {})
    }
    schemas = set()
    for job in project["jobs"]:
        if not job["name"].endswith("-prod"):
            continue
        for task in job["tasks"]:
            tap, target = task.split()
            if batching & set(_lineage("extractors", tap, project)):
                for loader in _lineage("loaders", target, project):
                    schema = _plugin("loaders", loader, project).get("config", {})
                    if "default_target_schema" in schema:
                        schemas.add(schema["default_target_schema"].upper())
                        break
    return schemas


def test_freshness_of_batch_loaded_sources_does_not_rely_on_record_metadata(
    manifest: dict,
) -> None:
    batched = batch_loaded_schemas()
    assert batched == {"POSTGRES"}, batched  # tap-postgres sends BATCH files in production
    checked = []
    for source in manifest["sources"].values():
        if source["schema"].upper() not in batched or not source.get("freshness"):
            continue
        freshness = source["freshness"]
        if not (freshness.get("warn_after") or {}).get("count") and not (
            freshness.get("error_after") or {}
        ).get("count"):
            continue
        field = source.get("loaded_at_field") or ""
        assert field and field.lower() not in RECORD_METADATA, (
            f"{source['unique_id']}: freshness on {field!r}, which BATCH loads leave NULL"
        )
        checked.append(source["name"])
    assert {"orders", "customers", "payments"} <= set(checked)


def _readers_without_pii() -> dict[str, set[str]]:
    """Role => the DATABASE.SCHEMAs it reads, for the roles that see PII masked."""
    databases = PLATFORM["databases"]
    readers = {}
    for name, role in PLATFORM["roles"].items():
        if role.get("sees_pii"):
            continue
        schemas = set()
        for entry in role["read"] + role["write"]:
            database, _, schema = entry.partition(".")
            schemas |= {
                f"{database}.{s}" for s in ([schema] if schema else databases[database]["schemas"])
            }
        readers[name] = schemas
    return readers


def _pii_columns(node: dict) -> dict[str, str]:
    return {
        column["name"].upper(): pii
        for column in node["columns"].values()
        if (pii := (column.get("config", {}).get("meta") or column.get("meta") or {}).get("pii"))
    }


def test_every_pii_column_a_masked_role_can_read_is_tagged(manifest: dict) -> None:
    readers = _readers_without_pii()
    assert "ANALYTICS.SNAPSHOTS" in readers["REPORTER"]
    tagged = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "snapshot", "seed"):
            continue
        relation = f"{node['database']}.{node['schema']}".upper()
        pii = _pii_columns(node)
        if pii:
            tagged.update(
                {f"{node['schema']}.{node['alias']}.{c}".upper(): v for c, v in pii.items()}
            )
        if not any(relation in schemas for schemas in readers.values()):
            continue
        hooks = " ".join(hook["sql"] for hook in node["config"].get("post-hook", []))
        if pii:
            assert "set_pii_tags()" in hooks, f"{node['unique_id']} declares PII but never tags it"
    # What dbt tags is what Terraform's tag allows and declares (output pii_columns).
    assert tagged == PLATFORM["governance"]["pii_columns"]


def test_the_snapshot_of_customers_tags_what_dim_customers_tags(manifest: dict) -> None:
    """The PII of the customers reaches ANALYTICS twice: in the mart and in its snapshot."""
    nodes = {n["name"]: n for n in manifest["nodes"].values()}
    assert _pii_columns(nodes["customers_snapshot"]) == _pii_columns(nodes["dim_customers"])
    assert nodes["customers_snapshot"]["database"] == nodes["dim_customers"]["database"]
