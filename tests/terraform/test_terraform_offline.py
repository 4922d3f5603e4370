"""terraform fmt, init, validate and a placeholder plan, offline, against the provider schema."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from tf_offline import ENVIRONMENTS, PROVIDER, TERRAFORM_DIR, Terraform, provider_version


def test_fmt_is_clean(terraform: Terraform) -> None:
    result = terraform.run(TERRAFORM_DIR, "fmt", "-check", "-diff", "-recursive", check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.output}"


def test_schema_is_the_pinned_provider_version(provider_schema: dict) -> None:
    assert re.fullmatch(r"2\.\d+\.\d+", provider_version()), "pin an exact 2.x version"
    assert provider_schema["provider_version"] == provider_version()
    assert len(provider_schema["resource_schemas"]) > 100


def test_init_installs_the_provider_from_the_local_mirror(workdir: Path) -> None:
    lock = (workdir / ".terraform.lock.hcl").read_text()
    assert f'provider "{PROVIDER}"' in lock
    assert f'version     = "{provider_version()}"' in lock


def test_validate_passes(terraform: Terraform, workdir: Path) -> None:
    result = terraform.run(workdir, "validate")
    assert "The configuration is valid" in result.output


def test_uses_no_preview_resources(provider_schema: dict, plans: dict) -> None:
    preview = set(provider_schema["preview_features"])
    assert "snowflake_table_resource" in preview  # the list was found at all
    used = {change["type"] for plan in plans.values() for change in plan["resource_changes"]}
    assert not {f"{type_}_resource" for type_ in used} & preview


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found exactly once in {path.name}"
    path.write_text(text.replace(old, new))


def test_a_wrong_attribute_name_fails_validate(
    terraform: Terraform, make_workdir: Callable[..., Path]
) -> None:
    broken = make_workdir(
        lambda workdir: _replace(
            workdir / "warehouses.tf", "auto_suspend        =", "auto_suspend_secs   ="
        )
    )
    result = terraform.run(broken, "validate", check=False)
    assert result.returncode != 0, "validate accepted a wrong attribute name"
    assert 'An argument named "auto_suspend_secs" is not expected here' in result.output


# Other mistakes the provider schema catches: file, original text, broken text, expected error.
SCHEMA_MISTAKES = [
    (
        "roles.tf",
        'resource "snowflake_account_role"',
        'resource "snowflake_role"',  # the v0.x type, gone in 2.x
        'does not support resource type "snowflake_role"',
    ),
    (
        "warehouses.tf",
        "initially_suspended = true",
        'initially_suspended = ["yes"]',
        'Inappropriate value for attribute "initially_suspended"',
    ),
    (
        "policies.tf",
        '  return_data_type = "VARCHAR"\n',
        "",
        'The argument "return_data_type" is required',
    ),
    (
        "monitors.tf",
        "  on_account_object {",
        "  on_table {",
        'Blocks of type "on_table" are not expected here',
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "error"),
    SCHEMA_MISTAKES,
    ids=[m[3].split('"')[1] for m in SCHEMA_MISTAKES],
)
def test_validate_rejects_a_schema_mistake(
    file: str,
    old: str,
    new: str,
    error: str,
    terraform: Terraform,
    make_workdir: Callable[..., Path],
) -> None:
    broken = make_workdir(lambda workdir: _replace(workdir / file, old, new))
    result = terraform.run(broken, "validate", check=False)
    assert result.returncode != 0
    assert error in " ".join(result.output.split()), result.output


def test_variable_validation_rejects_bad_input(
    terraform: Terraform, workdir: Path, public_keys_tfvars: Path
) -> None:
    bad_values = {
        "environment": ("qa", 'must be "dev" or "prod"'),
        "name_suffix": ("-dev", "name suffix must be empty or an underscore"),
        "sign_in_cidrs": ('{worker=["0.0.0.0/0"]}', "not 0.0.0.0/0"),
        "service_user_public_keys": (
            '{MELTANO={key_1="-----BEGIN PUBLIC KEY-----", key_2=""}}',
            "base64 body of an RSA public key",
        ),
        "monitor_notify_users": ("[]", "Name at least one user"),
    }
    result = terraform.run(
        workdir,
        "plan",
        "-refresh=false",
        "-var-file=environments/dev.tfvars",
        *(f"-var={name}={value}" for name, (value, _) in bad_values.items()),
        check=False,
    )
    assert result.returncode != 0
    output = " ".join(result.output.split())
    for _, error in bad_values.values():
        assert error in output, result.output


def test_a_service_user_needs_a_key_in_one_slot(terraform: Terraform, workdir: Path) -> None:
    result = terraform.run(
        workdir,
        "plan",
        "-refresh=false",
        "-var-file=environments/dev.tfvars",
        '-var=service_user_public_keys={MELTANO={key_1="", key_2=""}}',
        check=False,
    )
    assert result.returncode != 0
    assert "needs a key in key_1 or key_2" in " ".join(result.output.split())


# Resource count of the placeholder plan, per environment. prod adds the account monitor and
# the account setting that points at it. Four warehouses: REALTIME_WH brings its monitor,
# SYSADMIN's grant on that monitor and USAGE for the five roles of the real-time flow.
EXPECTED_COUNTS = {
    "dev": {
        "snowflake_database": 3,
        "snowflake_schema": 10,
        "snowflake_warehouse": 4,
        "snowflake_resource_monitor": 4,
        "snowflake_account_role": 6,
        "snowflake_service_user": 5,
        "snowflake_network_rule": 5,
        "snowflake_network_policy": 5,
        "snowflake_masking_policy": 1,
        "snowflake_tag": 1,
        "snowflake_grant_account_role": 12,
        "snowflake_grant_database_role": 2,
        "snowflake_grant_privileges_to_account_role": 161,
    },
}
EXPECTED_COUNTS["prod"] = {
    **EXPECTED_COUNTS["dev"],
    "snowflake_resource_monitor": 5,
    "snowflake_current_account": 1,
}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_plan_creates_the_whole_platform(environment: str, plans: dict) -> None:
    plan = plans[environment]
    actions = Counter(a for c in plan["resource_changes"] for a in c["change"]["actions"])
    assert set(actions) == {"create"}
    counts = Counter(c["type"] for c in plan["resource_changes"])
    assert dict(counts) == EXPECTED_COUNTS[environment]
    print(f"{environment}: {sum(counts.values())} resources planned")
