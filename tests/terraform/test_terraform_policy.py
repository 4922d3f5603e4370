"""Least-privilege, cost and secrets policy, checked on the placeholder plan of each environment,
and shown to catch violations on a deliberately broken copy of the configuration."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import tf_policy
import yaml
from tf_offline import ENVIRONMENTS, TERRAFORM_DIR, Terraform, plan_json

REPO_ROOT = TERRAFORM_DIR.parent


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("check", tf_policy.ALL_CHECKS, ids=lambda check: check.__name__)
def test_policy_holds(check: Callable[[dict], list[str]], environment: str, plans: dict) -> None:
    assert check(plans[environment]) == []


def _grant_matrix(plan: dict) -> dict[tuple[str, str], set[str]]:
    """(role, logical database or DATABASE.SCHEMA) => privileges, as planned."""
    targets = {
        **{phys: key for key, phys in tf_policy.outputs(plan)["databases"].items()},
        **{phys: key for key, phys in tf_policy.outputs(plan)["schemas"].items()},
    }
    roles = {phys: key for key, phys in tf_policy.outputs(plan)["roles"].items()}
    matrix: dict[tuple[str, str], set[str]] = {}
    for grant in tf_policy.resources(plan, "snowflake_grant_privileges_to_account_role"):
        role = roles.get(grant["values"]["account_role_name"])
        for _, physical in tf_policy.grant_targets(grant["values"]):
            if role and physical in targets:
                matrix.setdefault((role, targets[physical]), set()).update(
                    grant["values"]["privileges"]
                )
    return matrix


def test_least_privilege_matrix(plans: dict) -> None:
    matrix = _grant_matrix(plans["prod"])
    reach: dict[str, set[str]] = {}
    for role, target in matrix:
        reach.setdefault(role, set()).add(target)
    sources = {"RAW.POSTGRES", "RAW.STRIPE", "RAW.MARKETING"}
    models = {"ANALYTICS.MARTS", "ANALYTICS.SNAPSHOTS"}
    staging = {"STAGING.STAGING", "STAGING.INTERMEDIATE"}
    assert reach == {
        "LOADER": {"RAW", *sources, "RAW.MELTANO"},
        "TRANSFORMER": {"RAW", "STAGING", "ANALYTICS", *sources, *staging, *models}
        | {"ANALYTICS.GOVERNANCE"},
        "REPORTER": {"ANALYTICS", *models, "ANALYTICS.OPS"},
        "ORCHESTRATOR": {"RAW", "ANALYTICS", *sources, "ANALYTICS.MARTS", "ANALYTICS.OPS"},
        "CI_TRANSFORMER": {"RAW", "STAGING", "ANALYTICS", *sources, *staging, *models}
        | {"ANALYTICS.GOVERNANCE"},
    }  # COST_READER: nothing of the platform's databases (ACCOUNT_USAGE only)
    assert matrix[("REPORTER", "ANALYTICS.MARTS")] == {"USAGE", "SELECT"}
    assert matrix[("TRANSFORMER", "RAW.POSTGRES")] == {"USAGE", "SELECT"}
    # target-snowflake stages to the user stage: tables and file formats, no stage, no view.
    assert matrix[("LOADER", "RAW.POSTGRES")] == {
        "USAGE", "CREATE TABLE", "CREATE FILE FORMAT", "SELECT", "INSERT", "UPDATE", "DELETE",
    }  # fmt: skip
    # The flows write their run log and nothing else; they only read the marts, and in RAW only
    # mark rows deleted at the source.
    assert {"CREATE TABLE", "INSERT", "DELETE"} <= matrix[("ORCHESTRATOR", "ANALYTICS.OPS")]
    assert matrix[("ORCHESTRATOR", "ANALYTICS.MARTS")] == {"USAGE", "SELECT"}
    assert matrix[("ORCHESTRATOR", "RAW.POSTGRES")] == {"USAGE", "SELECT", "UPDATE"}
    assert matrix[("ORCHESTRATOR", "RAW.STRIPE")] == {"USAGE", "SELECT"}
    # Slim CI creates its PR_<n>_* schemas and may change nothing of production.
    assert matrix[("CI_TRANSFORMER", "ANALYTICS")] == {"USAGE", "CREATE SCHEMA"}
    assert matrix[("CI_TRANSFORMER", "ANALYTICS.MARTS")] == {"USAGE", "SELECT"}
    assert "APPLY" in matrix[("TRANSFORMER", "ANALYTICS.GOVERNANCE")]  # tags the PII columns
    assert matrix == _grant_matrix(plans["dev"])


def test_future_grants_cover_new_tables_and_views(plans: dict) -> None:
    future = {
        (g["values"]["account_role_name"], scope["object_type_plural"], scope["in_schema"])
        for g in tf_policy.resources(plans["prod"], "snowflake_grant_privileges_to_account_role")
        for obj in g["values"].get("on_schema_object") or []
        for scope in obj.get("future") or []
    }
    assert ("REPORTER", "TABLES", "ANALYTICS.MARTS") in future
    assert ("REPORTER", "TABLES", "ANALYTICS.SNAPSHOTS") in future
    assert ("REPORTER", "TABLES", "ANALYTICS.OPS") in future
    assert ("REPORTER", "VIEWS", "ANALYTICS.MARTS") in future
    assert ("TRANSFORMER", "TABLES", "RAW.STRIPE") in future
    assert ("LOADER", "TABLES", "RAW.POSTGRES") in future
    assert ("LOADER", "TABLES", "RAW.MELTANO") in future  # the state backend's table


COSTS_SOURCE = REPO_ROOT / "reports" / "environments" / "snowflake" / "costs"


def test_the_cost_source_reads_what_it_queries_and_nothing_personal(plans: dict) -> None:
    """The cost page's Snowflake source signs in with a role of its own, which reads through
    SNOWFLAKE's database roles every ACCOUNT_USAGE view the source queries, and none of the
    views of people's activity (query text, logins, users)."""
    connection = yaml.safe_load((COSTS_SOURCE / "connection.yaml").read_text())["options"]
    warehouse = yaml.safe_load((COSTS_SOURCE.parent / "warehouse" / "connection.yaml").read_text())[
        "options"
    ]
    queried = {
        view.upper()
        for query in COSTS_SOURCE.glob("*.sql")
        for view in re.findall(r"snowflake\.account_usage\.(\w+)", query.read_text(), re.I)
    }
    assert queried, "the cost source queries no ACCOUNT_USAGE view?"
    role = connection["role"]
    assert role != warehouse["role"], "the marts' reader must not read ACCOUNT_USAGE"
    for plan in plans.values():
        readable = tf_policy.readable_account_usage_views(plan, role)
        assert queried <= readable, queried - readable
        assert not readable & tf_policy.PERSONAL_VIEWS
        assert tf_policy.readable_account_usage_views(plan, warehouse["role"]) == set()
    # The role reads nothing else: no database, schema or object of the platform.
    assert {target for r, target in _grant_matrix(plans["prod"]) if r == role} == set()
    evidence = yaml.safe_load((TERRAFORM_DIR / "platform.yaml").read_text())["service_users"][
        "EVIDENCE"
    ]
    assert connection["username"] == warehouse["username"] == "EVIDENCE_SVC"
    assert role in evidence["other_roles"] and warehouse["role"] == evidence["role"]


def test_the_cost_source_counts_production_only() -> None:
    """The cost page shows the production warehouses and databases (dev's carry a suffix), by
    the names platform.yaml gives them; metering hours are no pipeline runs."""
    platform = yaml.safe_load((TERRAFORM_DIR / "platform.yaml").read_text())
    for query, column, names in (
        ("compute_daily.sql", "warehouse_name", platform["warehouses"]),
        ("storage.sql", "metrics.table_catalog", platform["databases"]),
    ):
        sql = (COSTS_SOURCE / query).read_text()
        listed = re.search(rf"{re.escape(column)} in \(([^)]*)\)", sql)
        assert listed, f"{query} does not keep to the production {column}"
        assert set(re.findall(r"'(\w+)'", listed.group(1))) == set(names)
    compute = (COSTS_SOURCE / "compute_daily.sql").read_text()
    assert "cast(null as number) as runs" in compute
    assert "count(*)" not in compute


def test_a_second_key_slot_rotates_without_replacing_the_user(
    terraform: Terraform, workdir: Path, public_keys_tfvars: Path
) -> None:
    """Both key slots reach the user: the new key goes into the free slot while the old one
    still signs in."""
    keys = public_keys_tfvars.read_text()
    old = re.search(r'MELTANO = \{ key_1 = "(MII[^"]+)"', keys)
    assert old
    new = old.group(1)[:8] + old.group(1)[8:-8].swapcase() + old.group(1)[-8:]
    rotated = public_keys_tfvars.with_name("rotated.tfvars")
    rotated.write_text(
        keys.replace(
            f'MELTANO = {{ key_1 = "{old.group(1)}", key_2 = "" }}',
            f'MELTANO = {{ key_1 = "{old.group(1)}", key_2 = "{new}" }}',
        )
    )
    plan = plan_json(terraform, workdir, "prod", rotated)
    (meltano,) = [
        user["values"]
        for user in tf_policy.resources(plan, "snowflake_service_user")
        if user["index"] == "MELTANO"
    ]
    assert meltano["rsa_public_key"] == old.group(1)
    assert meltano["rsa_public_key_2"] == new


def test_credit_quotas_follow_the_cost_model(plans: dict) -> None:
    """The quotas of platform.yaml, which the cost model sizes at 80 % or less of each monitor
    (tests/ci/test_cost_model.py): one account monitor, owned by prod, over every warehouse's."""
    prod, dev = (tf_policy.outputs(plans[e])["monthly_credit_quotas"] for e in ("prod", "dev"))
    assert prod == {
        "LOADING_WH": 2,
        "TRANSFORMING_WH": 2,
        "REPORTING_WH": 1,
        "REALTIME_WH": 51,
        "ACCOUNT": 61,
    }
    assert dev == {"LOADING_WH": 1, "TRANSFORMING_WH": 2, "REPORTING_WH": 1, "REALTIME_WH": 1}
    warehouse_credits = sum(v for k, v in prod.items() if k != "ACCOUNT") + sum(dev.values())
    assert warehouse_credits <= prod["ACCOUNT"]


def test_no_secrets_in_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "terraform"],
        cwd=TERRAFORM_DIR.parent,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert "terraform/versions.tf" in tracked
    for name in tracked:
        assert not name.endswith((".tfstate", ".tfstate.backup", ".tfplan", ".p8", ".pem")), name
        text = (TERRAFORM_DIR.parent / name).read_text()
        assert "PRIVATE KEY-----" not in text, name
        assert "password" not in text.lower().replace("no password", ""), name


def _break_policy(workdir: Path) -> None:
    def replace(file: str, old: str, new: str, count: int = 1) -> None:
        text = (workdir / file).read_text()
        assert text.count(old) == count, (file, old)
        (workdir / file).write_text(text.replace(old, new))

    # REPORTER may write ANALYTICS; LOADER may read STAGING and create stages again.
    replace(
        "platform.yaml",
        "read: [ANALYTICS]\n    write: []",
        "read: [ANALYTICS]\n    write: [ANALYTICS]",
    )
    replace("platform.yaml", "read: []\n    write: [RAW]", "read: [STAGING]\n    write: [RAW]")
    replace(
        "platform.yaml", "creates: [TABLE, FILE FORMAT]", "creates: [TABLE, FILE FORMAT, STAGE]"
    )
    # The cost role reads query history; the flows' user works as TRANSFORMER.
    replace(
        "platform.yaml",
        "snowflake_database_roles: [USAGE_VIEWER, OBJECT_VIEWER]",
        "snowflake_database_roles: [USAGE_VIEWER, OBJECT_VIEWER, GOVERNANCE_VIEWER]",
    )
    replace("platform.yaml", "PREFECT: { role: ORCHESTRATOR,", "PREFECT: { role: TRANSFORMER,")
    # The loader signs in from the CI runners.
    replace("platform.yaml", "MELTANO: { role: LOADER, warehouse: LOADING_WH, network: worker,",
            "MELTANO: { role: LOADER, warehouse: LOADING_WH, network: ci,")  # fmt: skip
    # A warehouse without auto-suspend and without a monitor; monitors that notify nobody.
    replace(
        "warehouses.tf",
        "  auto_suspend        = local.platform.warehouse_defaults.auto_suspend_seconds\n",
        "",
    )
    replace(
        "warehouses.tf",
        "  resource_monitor = snowflake_resource_monitor.warehouse[each.key].name\n",
        "",
    )
    notify = "  notify_users              = var.monitor_notify_users\n"
    replace("monitors.tf", notify + "  suspend_trigger", "  suspend_trigger", count=2)
    # Service users whose sessions run in the account's time zone (America/Los_Angeles).
    replace(
        "users.tf",
        "  timezone                       = local.platform.service_user_defaults.timezone\n",
        "",
    )
    # A grant to PUBLIC.
    (workdir / "public.tf").write_text(
        'resource "snowflake_grant_privileges_to_account_role" "public" {\n'
        "  provider          = snowflake.securityadmin\n"
        '  account_role_name = "PUBLIC"\n'
        '  privileges        = ["USAGE"]\n'
        "  on_account_object {\n"
        '    object_type = "DATABASE"\n'
        '    object_name = snowflake_database.this["RAW"].name\n'
        "  }\n"
        "}\n"
    )


def test_policy_catches_violations(
    terraform: Terraform, make_workdir: Callable[..., Path], public_keys_tfvars: Path
) -> None:
    plan = plan_json(terraform, make_workdir(_break_policy), "dev", public_keys_tfvars)
    warehouses = "\n".join(tf_policy.check_warehouses(plan))
    monitors = "\n".join(tf_policy.check_monitors(plan))
    grants = "\n".join(tf_policy.check_privilege_grants(plan))
    database_roles = "\n".join(tf_policy.check_database_roles(plan))
    role_grants = "\n".join(tf_policy.check_role_grants(plan))
    users = "\n".join(tf_policy.check_service_users(plan))
    assert "auto_suspend must be" in warehouses
    assert "no resource monitor of its own" in warehouses
    assert "notifies nobody before it suspends" in monitors
    assert "grants to PUBLIC" in grants
    assert "REPORTER may write ANALYTICS.MARTS" in grants
    assert "LOADER may reach STAGING" in grants
    assert "LOADER may CREATE STAGE in RAW.POSTGRES" in grants
    assert "COST_READER gets GOVERNANCE_VIEWER" in database_roles
    assert "service user PREFECT holds ['TRANSFORMER']" in role_grants
    assert 'this["MELTANO"]: writes production and signs in from the CI runners' in users
    assert "sessions in None, not UTC" in users
