"""Policy checks over `terraform show -json` of a plan: each returns a list of violations.

The expected least-privilege matrix is written here independently of platform.yaml, so a change
to the platform description that widens a role's reach fails the tests instead of passing them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# role => logical databases it may read / write. Nothing else, and REPORTER writes nowhere.
READ_SCOPE = {
    "LOADER": {"RAW"},
    "TRANSFORMER": {"RAW", "STAGING", "ANALYTICS"},
    "REPORTER": {"ANALYTICS"},
}
WRITE_SCOPE = {"LOADER": {"RAW"}, "TRANSFORMER": {"STAGING", "ANALYTICS"}, "REPORTER": set()}
READ_PRIVILEGES = {"USAGE", "SELECT", "REFERENCES", "MONITOR", "READ"}
ADMIN_ROLES = {"ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "ORGADMIN"}

# The admin role (provider alias) that must create each resource type.
PROVIDER_ALIAS = {
    "snowflake_database": "sysadmin",
    "snowflake_schema": "sysadmin",
    "snowflake_warehouse": "sysadmin",
    "snowflake_account_role": "useradmin",
    "snowflake_service_user": "securityadmin",
    "snowflake_network_policy": "securityadmin",
    "snowflake_grant_account_role": "securityadmin",
    "snowflake_grant_privileges_to_account_role": "securityadmin",
    "snowflake_resource_monitor": "accountadmin",
    "snowflake_current_account": "accountadmin",
    "snowflake_masking_policy": "accountadmin",
    "snowflake_tag": "accountadmin",
}
MAX_AUTO_SUSPEND_SECONDS = 60


def resources(plan: dict, type_: str | None = None) -> list[dict[str, Any]]:
    """Planned resources as {address, type, values}, optionally of one type."""
    found = []
    for change in plan.get("resource_changes", []):
        if change["mode"] == "managed" and (type_ is None or change["type"] == type_):
            values = change["change"]["after"] or {}
            found.append({"address": change["address"], "type": change["type"], "values": values})
    return found


def outputs(plan: dict) -> dict[str, Any]:
    return {
        name: out.get("value") for name, out in plan["planned_values"].get("outputs", {}).items()
    }


def _logical(plan: dict, output: str) -> dict[str, str]:
    """Physical name => logical key (RAW_DEV => RAW), from the plan's outputs."""
    return {physical: key for key, physical in (outputs(plan).get(output) or {}).items()}


def check_warehouses(plan: dict) -> list[str]:
    monitors = {m["values"]["name"] for m in resources(plan, "snowflake_resource_monitor")}
    violations = []
    for wh in resources(plan, "snowflake_warehouse"):
        v, name = wh["values"], wh["address"]
        suspend = v.get("auto_suspend")
        if suspend is None or not 0 < suspend <= MAX_AUTO_SUSPEND_SECONDS:
            violations.append(
                f"{name}: auto_suspend must be 1..{MAX_AUTO_SUSPEND_SECONDS}s, is {suspend}"
            )
        if v.get("auto_resume") != "true":
            violations.append(f"{name}: auto_resume is not true")
        if v.get("initially_suspended") is not True:
            violations.append(f"{name}: not initially suspended")
        if not v.get("statement_timeout_in_seconds"):
            violations.append(f"{name}: no statement timeout")
        if v.get("resource_monitor") not in monitors:
            violations.append(f"{name}: no resource monitor of its own")
    assigned = [
        wh["values"].get("resource_monitor") for wh in resources(plan, "snowflake_warehouse")
    ]
    for monitor in {m for m in assigned if m and assigned.count(m) > 1}:
        violations.append(f"resource monitor {monitor} is shared by several warehouses")
    return violations


def check_monitors(plan: dict) -> list[str]:
    violations = []
    for mon in resources(plan, "snowflake_resource_monitor"):
        v, name = mon["values"], mon["address"]
        if not (v.get("credit_quota") or 0) > 0:
            violations.append(f"{name}: no credit quota")
        if v.get("frequency") != "MONTHLY":
            violations.append(f"{name}: quota does not reset monthly")
        if not v.get("notify_triggers"):
            violations.append(f"{name}: no notify thresholds")
        suspend, immediate = v.get("suspend_trigger"), v.get("suspend_immediate_trigger")
        if not suspend or not immediate or not suspend <= immediate:
            violations.append(f"{name}: needs suspend <= suspend_immediate thresholds")
        if max(v.get("notify_triggers") or [0]) >= (suspend or 0):
            violations.append(f"{name}: notifications must come before suspension")
    return violations


def _grant_databases(values: dict) -> Iterator[tuple[str, str | None]]:
    """(object kind, physical database or None) for each object a privilege grant targets."""
    if values.get("on_account"):
        yield "ACCOUNT", None
    for obj in values.get("on_account_object") or []:
        kind = obj["object_type"]
        yield kind, obj["object_name"] if kind == "DATABASE" else None
    for obj in values.get("on_schema") or []:
        name = obj.get("schema_name") or obj.get("all_schemas_in_database")
        yield "SCHEMA", (name or obj.get("future_schemas_in_database") or "").split(".")[0]
    for obj in values.get("on_schema_object") or []:
        if obj.get("object_name"):
            yield obj["object_type"], obj["object_name"].split(".")[0]
        for scope in (obj.get("all") or []) + (obj.get("future") or []):
            yield (
                scope["object_type_plural"],
                (scope.get("in_schema") or scope.get("in_database")).split(".")[0],
            )


def check_privilege_grants(plan: dict) -> list[str]:
    databases, roles = _logical(plan, "databases"), _logical(plan, "roles")
    violations = []
    for grant in resources(plan, "snowflake_grant_privileges_to_account_role"):
        v, name = grant["values"], grant["address"]
        grantee = v["account_role_name"]
        privileges = set(v.get("privileges") or [])
        if grantee.upper() == "PUBLIC":
            violations.append(f"{name}: grants to PUBLIC")
        if v.get("all_privileges") or "ALL" in privileges or "OWNERSHIP" in privileges:
            violations.append(f"{name}: grants ALL or OWNERSHIP")
        if v.get("with_grant_option"):
            violations.append(f"{name}: grants with grant option")
        role = roles.get(grantee)
        if role is None:
            if (
                grantee == "SYSADMIN"
                and privileges <= {"MODIFY", "MONITOR"}
                and all(kind == "RESOURCE MONITOR" for kind, _ in _grant_databases(v))
            ):
                continue  # SYSADMIN attaches the monitors to the warehouses it owns
            violations.append(f"{name}: grants to {grantee}, which is not a functional role")
            continue
        writes = privileges - READ_PRIVILEGES
        for kind, physical in _grant_databases(v):
            if kind == "ACCOUNT":
                violations.append(f"{name}: account-level privileges for {role}")
            elif kind == "WAREHOUSE":
                if writes:
                    violations.append(f"{name}: {role} may change a warehouse ({sorted(writes)})")
            elif physical not in databases:
                violations.append(f"{name}: {kind} outside the platform's databases")
            else:
                database = databases[physical]
                if writes and database not in WRITE_SCOPE[role]:
                    violations.append(f"{name}: {role} may write {database} ({sorted(writes)})")
                if database not in READ_SCOPE[role]:
                    violations.append(f"{name}: {role} may reach {database}")
    return violations


def check_role_grants(plan: dict) -> list[str]:
    roles = _logical(plan, "roles")
    users = {u["values"]["name"] for u in resources(plan, "snowflake_service_user")}
    violations = []
    for grant in resources(plan, "snowflake_grant_account_role"):
        v, name = grant["values"], grant["address"]
        if v["role_name"] not in roles:
            violations.append(f"{name}: grants {v['role_name']}, which is not a functional role")
        parent, user = v.get("parent_role_name"), v.get("user_name")
        if parent is not None and parent != "SYSADMIN":
            violations.append(
                f"{name}: functional roles are granted to SYSADMIN only, not {parent}"
            )
        if user is not None and user not in users:
            violations.append(f"{name}: grants a role to {user}, not to a service user")
    granted = {
        g["values"]["role_name"]
        for g in resources(plan, "snowflake_grant_account_role")
        if g["values"].get("parent_role_name") == "SYSADMIN"
    }
    for role in set(roles) - granted:
        violations.append(f"role {role} is not granted up to SYSADMIN")
    return violations


def check_service_users(plan: dict) -> list[str]:
    roles = _logical(plan, "roles")
    policies = {p["values"]["name"] for p in resources(plan, "snowflake_network_policy")}
    violations = []
    for type_ in ("snowflake_user", "snowflake_legacy_service_user"):
        for user in resources(plan, type_):
            violations.append(f"{user['address']}: people and password users are not managed here")
    for user in resources(plan, "snowflake_service_user"):
        v, name = user["values"], user["address"]
        if not (v.get("rsa_public_key") or "").startswith("MII"):
            violations.append(f"{name}: no RSA public key")
        if v.get("default_role") not in roles:
            violations.append(f"{name}: default role is not a functional role")
        if not v.get("default_warehouse"):
            violations.append(f"{name}: no default warehouse")
        if v.get("network_policy") not in policies:
            violations.append(f"{name}: no network policy")
        if v.get("default_secondary_roles_option") != "NONE":
            violations.append(f"{name}: secondary roles may widen its privileges")
    for policy in resources(plan, "snowflake_network_policy"):
        if "0.0.0.0/0" in (policy["values"].get("allowed_ip_list") or []):
            violations.append(f"{policy['address']}: allows every address")
    return violations


def check_providers(plan: dict) -> list[str]:
    config = plan["configuration"]
    violations = []
    for key, provider in config.get("provider_config", {}).items():
        expressions = provider.get("expressions", {})
        if "alias" not in provider:
            if expressions:  # the entry required_providers implies is fine; a configured one is not
                violations.append(f"provider {key}: configure admin-role aliases only")
            continue
        role = expressions.get("role", {}).get("constant_value")
        if role != provider["alias"].upper():
            violations.append(f"provider {key}: alias {provider['alias']} signs in as role {role}")
        for secret in ("private_key", "private_key_passphrase", "password", "token", "passcode"):
            if secret in expressions:
                violations.append(f"provider {key}: {secret} must come from the environment")
        authenticator = expressions.get("authenticator", {}).get("constant_value")
        if authenticator != "SNOWFLAKE_JWT":
            violations.append(f"provider {key}: authenticator is {authenticator}, not key-pair")
    for res in config["root_module"].get("resources", []):
        key, type_, address = res.get("provider_config_key", ""), res["type"], res["address"]
        alias = key.split(".", 1)[1] if "." in key else None
        expected = PROVIDER_ALIAS.get(type_)
        if alias is None:
            violations.append(f"{address}: no explicit admin-role provider")
        elif type_ == "snowflake_grant_privileges_to_account_role" and alias == "accountadmin":
            planned = [r for r in resources(plan, type_) if r["address"].split("[")[0] == address]
            if not all(
                kind == "RESOURCE MONITOR"
                for r in planned
                for kind, _ in _grant_databases(r["values"])
            ):
                violations.append(f"{address}: ACCOUNTADMIN grants only on resource monitors")
        elif expected is None:
            violations.append(f"{address}: {type_} has no admin role assigned in the policy")
        elif alias != expected:
            violations.append(f"{address}: created as {alias}, should be {expected}")
    return violations


def check_outputs(plan: dict) -> list[str]:
    violations = []
    for name, out in plan["planned_values"].get("outputs", {}).items():
        text = repr(out.get("value"))
        if out.get("sensitive") or "MII" in text or "PRIVATE KEY" in text:
            violations.append(f"output {name}: carries key material or a secret")
    return violations


def check_databases(plan: dict) -> list[str]:
    violations = []
    retention = {}
    for db in resources(plan, "snowflake_database"):
        retention[db["values"]["name"]] = db["values"].get("data_retention_time_in_days")
        if retention[db["values"]["name"]] is None:
            violations.append(f"{db['address']}: time travel retention left to the default")
    for schema in resources(plan, "snowflake_schema"):
        if schema["values"].get("with_managed_access") != "true":
            violations.append(f"{schema['address']}: not a managed-access schema")
        # The snapshots are the only record of what the reports said: never less Time Travel
        # than the database's, whatever the environment.
        database_days = retention.get(schema["values"]["database"]) or 0
        schema_days = schema["values"].get("data_retention_time_in_days")
        if schema["values"]["name"] == "SNAPSHOTS" and (schema_days or 0) < database_days:
            violations.append(f"{schema['address']}: less time travel than its database")
    return violations


def check_pii_masking(plan: dict) -> list[str]:
    roles = _logical(plan, "roles")
    violations = []
    policies = resources(plan, "snowflake_masking_policy")
    if not policies:
        violations.append("no masking policy")
    for policy in policies:
        body = policy["values"]["body"]
        for physical, role in roles.items():
            if role == "REPORTER" and f"'{physical}'" in body:
                violations.append(f"{policy['address']}: REPORTER sees PII unmasked")
    config = {r["address"]: r for r in plan["configuration"]["root_module"]["resources"]}
    for tag in resources(plan, "snowflake_tag"):
        refs = (
            config[tag["address"]]["expressions"].get("masking_policies", {}).get("references", [])
        )
        if not any(ref.startswith("snowflake_masking_policy.") for ref in refs):
            violations.append(f"{tag['address']}: no masking policy attached to the tag")
    return violations


ALL_CHECKS = (
    check_warehouses,
    check_monitors,
    check_privilege_grants,
    check_role_grants,
    check_service_users,
    check_providers,
    check_outputs,
    check_databases,
    check_pii_masking,
)
