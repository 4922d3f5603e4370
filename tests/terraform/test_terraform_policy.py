"""Least-privilege, cost and secrets policy, checked on the placeholder plan of each environment,
and shown to catch violations on a deliberately broken copy of the configuration."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import tf_policy
from tf_offline import ENVIRONMENTS, TERRAFORM_DIR, Terraform, plan_json


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("check", tf_policy.ALL_CHECKS, ids=lambda check: check.__name__)
def test_policy_holds(check: Callable[[dict], list[str]], environment: str, plans: dict) -> None:
    assert check(plans[environment]) == []


def _grant_matrix(plan: dict) -> dict[tuple[str, str], set[str]]:
    """(role, logical database) => privileges, as planned."""
    databases = {phys: key for key, phys in tf_policy.outputs(plan)["databases"].items()}
    roles = {phys: key for key, phys in tf_policy.outputs(plan)["roles"].items()}
    matrix: dict[tuple[str, str], set[str]] = {}
    for grant in tf_policy.resources(plan, "snowflake_grant_privileges_to_account_role"):
        role = roles.get(grant["values"]["account_role_name"])
        for _, physical in tf_policy._grant_databases(grant["values"]):
            if role and physical in databases:
                matrix.setdefault((role, databases[physical]), set()).update(
                    grant["values"]["privileges"]
                )
    return matrix


def test_least_privilege_matrix(plans: dict) -> None:
    matrix = _grant_matrix(plans["prod"])
    assert set(matrix) == {
        ("LOADER", "RAW"),
        ("TRANSFORMER", "RAW"),
        ("TRANSFORMER", "STAGING"),
        ("TRANSFORMER", "ANALYTICS"),
        ("REPORTER", "ANALYTICS"),
    }
    assert matrix[("REPORTER", "ANALYTICS")] == {"USAGE", "SELECT"}
    assert matrix[("TRANSFORMER", "RAW")] == {"USAGE", "SELECT"}
    assert {"INSERT", "CREATE TABLE"} <= matrix[("LOADER", "RAW")]
    assert "APPLY" in matrix[("TRANSFORMER", "ANALYTICS")]  # sets the PII tag on mart columns
    assert matrix == _grant_matrix(plans["dev"])


def test_future_grants_cover_new_tables_and_views(plans: dict) -> None:
    future = {
        (g["values"]["account_role_name"], scope["object_type_plural"], scope["in_schema"])
        for g in tf_policy.resources(plans["prod"], "snowflake_grant_privileges_to_account_role")
        for obj in g["values"].get("on_schema_object") or []
        for scope in obj.get("future") or []
    }
    assert ("REPORTER", "TABLES", "ANALYTICS.MARTS") in future
    assert ("REPORTER", "VIEWS", "ANALYTICS.MARTS") in future
    assert ("TRANSFORMER", "TABLES", "RAW.STRIPE") in future
    assert ("LOADER", "TABLES", "RAW.POSTGRES") in future


def test_credit_quotas_follow_the_budget(plans: dict) -> None:
    """$150/month at $3.00/credit is 50 credits for the account; environments split it."""
    prod, dev = (tf_policy.outputs(plans[e])["monthly_credit_quotas"] for e in ("prod", "dev"))
    assert prod["ACCOUNT"] == 150 // 3
    assert "ACCOUNT" not in dev  # one account monitor per account, owned by prod
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
    def replace(file: str, old: str, new: str) -> None:
        text = (workdir / file).read_text()
        assert text.count(old) == 1, (file, old)
        (workdir / file).write_text(text.replace(old, new))

    # REPORTER may write ANALYTICS; LOADER may read STAGING.
    replace(
        "platform.yaml",
        "read: [ANALYTICS]\n    write: []",
        "read: [ANALYTICS]\n    write: [ANALYTICS]",
    )
    replace("platform.yaml", "read: []\n    write: [RAW]", "read: [STAGING]\n    write: [RAW]")
    # A warehouse without auto-suspend and without a monitor.
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
    grants = "\n".join(tf_policy.check_privilege_grants(plan))
    assert "auto_suspend must be" in warehouses
    assert "no resource monitor of its own" in warehouses
    assert "grants to PUBLIC" in grants
    assert "REPORTER may write ANALYTICS" in grants
    assert "LOADER may reach STAGING" in grants
