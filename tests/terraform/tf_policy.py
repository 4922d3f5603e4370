"""Policy checks over `terraform show -json` of a plan: each returns a list of violations.

The expected least-privilege matrix is written here independently of platform.yaml, so a change
to the platform description that widens a role's reach fails the tests instead of passing them.
Schemas are logical keys ("RAW.POSTGRES"); the plan's outputs map them to physical names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

RAW_SOURCES = {"RAW.POSTGRES", "RAW.STRIPE", "RAW.MARKETING"}
STAGING = {"STAGING.STAGING", "STAGING.INTERMEDIATE"}
MODELS = {"ANALYTICS.MARTS", "ANALYTICS.SNAPSHOTS"}
GOVERNANCE = "ANALYTICS.GOVERNANCE"

# role => logical schemas it may read / write. Writing includes reading.
READ_SCOPE: dict[str, set[str]] = {
    "LOADER": RAW_SOURCES | {"RAW.MELTANO"},
    "TRANSFORMER": RAW_SOURCES | STAGING | MODELS,
    "REPORTER": MODELS | {"ANALYTICS.OPS"},
    "ORCHESTRATOR": RAW_SOURCES | {"ANALYTICS.MARTS", "ANALYTICS.OPS"},
    "CI_TRANSFORMER": RAW_SOURCES | STAGING | MODELS,
    "COST_READER": set(),
}
WRITE_SCOPE: dict[str, set[str]] = {
    "LOADER": RAW_SOURCES | {"RAW.MELTANO"},
    "TRANSFORMER": STAGING | MODELS,
    "ORCHESTRATOR": {"ANALYTICS.OPS"},
}
# role => logical schemas whose rows it may UPDATE, and nothing else: the flows mark rows deleted
# at the source (_sdc_deleted_at) in RAW.POSTGRES.
UPDATE_SCOPE: dict[str, set[str]] = {"ORCHESTRATOR": {"RAW.POSTGRES"}}
# Warehouses a role may suspend and resume (OPERATE; never resize: MODIFY): the real-time flow
# suspends its warehouse when a run is done.
OPERATE_SCOPE: dict[str, set[str]] = {"ORCHESTRATOR": {"REALTIME_WH"}}
# What a writing role may create in the schemas it writes (and nothing else).
CREATES = {
    # target-snowflake stages files in the user stage: file formats, no stages, no views.
    "LOADER": {"CREATE TABLE", "CREATE FILE FORMAT"},
    "TRANSFORMER": {"CREATE TABLE", "CREATE VIEW"},
    "ORCHESTRATOR": {"CREATE TABLE"},
}
# Databases a role may create schemas of its own in: dbt slim CI's PR_<n>_* schemas.
SCHEMA_CREATORS = {"CI_TRANSFORMER": {"STAGING", "ANALYTICS"}}
# The roles that build (and tag) the PII columns: they read them unmasked.
PII_ROLES = {"TRANSFORMER", "CI_TRANSFORMER"}
# The service users and the roles each may use, nothing more.
USER_ROLES = {
    "MELTANO": {"LOADER"},
    "DBT": {"TRANSFORMER"},
    "EVIDENCE": {"REPORTER", "COST_READER"},
    "PREFECT": {"ORCHESTRATOR"},
    "DBT_CI": {"CI_TRANSFORMER"},
}

READ_PRIVILEGES = {"USAGE", "SELECT", "REFERENCES", "MONITOR", "READ"}

# SNOWFLAKE.ACCOUNT_USAGE views per SNOWFLAKE database role (docs.snowflake.com, "SNOWFLAKE
# database roles"): the views the cost page may need, and every view of the two roles that expose
# people's activity (query text, logins, sessions, users, grants to users, access history).
ACCOUNT_USAGE_VIEWS = {
    "USAGE_VIEWER": {
        "WAREHOUSE_METERING_HISTORY",
        "WAREHOUSE_LOAD_HISTORY",
        "METERING_HISTORY",
        "METERING_DAILY_HISTORY",
        "STORAGE_USAGE",
        "DATABASE_STORAGE_USAGE_HISTORY",
        "TABLE_STORAGE_METRICS",
    },
    "OBJECT_VIEWER": {"DATABASES", "SCHEMATA", "TABLES", "VIEWS", "COLUMNS"},
    "GOVERNANCE_VIEWER": {"QUERY_HISTORY", "ACCESS_HISTORY", "AGGREGATE_QUERY_HISTORY"},
    "SECURITY_VIEWER": {"LOGIN_HISTORY", "SESSIONS", "USERS", "GRANTS_TO_USERS"},
}
PERSONAL_VIEWS = ACCOUNT_USAGE_VIEWS["GOVERNANCE_VIEWER"] | ACCOUNT_USAGE_VIEWS["SECURITY_VIEWER"]
# role => the SNOWFLAKE database roles it may hold.
SNOWFLAKE_DATABASE_ROLES = {"COST_READER": {"USAGE_VIEWER", "OBJECT_VIEWER"}}

# The admin role (provider alias) that must create each resource type.
PROVIDER_ALIAS = {
    "snowflake_database": "sysadmin",
    "snowflake_schema": "sysadmin",
    "snowflake_warehouse": "sysadmin",
    "snowflake_account_role": "useradmin",
    "snowflake_service_user": "securityadmin",
    "snowflake_network_rule": "securityadmin",
    "snowflake_network_policy": "securityadmin",
    "snowflake_grant_account_role": "securityadmin",
    "snowflake_grant_database_role": "securityadmin",
    "snowflake_grant_privileges_to_account_role": "securityadmin",
    "snowflake_resource_monitor": "accountadmin",
    "snowflake_current_account": "accountadmin",
    "snowflake_masking_policy": "accountadmin",
    "snowflake_tag": "accountadmin",
}
MAX_AUTO_SUSPEND_SECONDS = 60
SESSION_TIMEZONE = "UTC"


def resources(plan: dict, type_: str | None = None) -> list[dict[str, Any]]:
    """Planned resources as {address, type, index, values}, optionally of one type."""
    found = []
    for change in plan.get("resource_changes", []):
        if change["mode"] == "managed" and (type_ is None or change["type"] == type_):
            values = change["change"]["after"] or {}
            found.append(
                {
                    "address": change["address"],
                    "type": change["type"],
                    "index": change.get("index"),
                    "values": values,
                }
            )
    return found


def outputs(plan: dict) -> dict[str, Any]:
    return {
        name: out.get("value") for name, out in plan["planned_values"].get("outputs", {}).items()
    }


def _logical(plan: dict, output: str) -> dict[str, str]:
    """Physical name => logical key (RAW_DEV => RAW), from the plan's outputs."""
    return {physical: key for key, physical in (outputs(plan).get(output) or {}).items()}


def grant_targets(values: dict) -> Iterator[tuple[str, str | None]]:
    """(object kind, physical DATABASE or DATABASE.SCHEMA or WAREHOUSE or None) of each object a
    privilege grant targets: a database or warehouse for grants on it, a schema for everything in
    a schema."""
    if values.get("on_account"):
        yield "ACCOUNT", None
    for obj in values.get("on_account_object") or []:
        kind = obj["object_type"]
        yield kind, obj["object_name"] if kind in ("DATABASE", "WAREHOUSE") else None
    for obj in values.get("on_schema") or []:
        if obj.get("schema_name"):
            yield "SCHEMA", obj["schema_name"]
        else:  # every schema of a database, now or in future
            yield (
                "ALL SCHEMAS",
                obj.get("all_schemas_in_database") or obj.get("future_schemas_in_database"),
            )
    for obj in values.get("on_schema_object") or []:
        if obj.get("object_name"):
            yield obj["object_type"], ".".join(obj["object_name"].split(".")[:2])
        for scope in (obj.get("all") or []) + (obj.get("future") or []):
            if scope.get("in_schema"):
                yield scope["object_type_plural"], scope["in_schema"]
            else:
                yield "ALL SCHEMAS", scope.get("in_database")


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
        if not v.get("notify_users"):
            violations.append(f"{name}: notifies nobody before it suspends")
        suspend, immediate = v.get("suspend_trigger"), v.get("suspend_immediate_trigger")
        if not suspend or not immediate or not suspend <= immediate:
            violations.append(f"{name}: needs suspend <= suspend_immediate thresholds")
        if max(v.get("notify_triggers") or [0]) >= (suspend or 0):
            violations.append(f"{name}: notifications must come before suspension")
    return violations


def _admin_grant_allowed(grantee: str, privileges: set[str], targets: list, plan: dict) -> bool:
    """The grants to admin roles Terraform itself needs, and nothing more: SYSADMIN attaches the
    monitors to the warehouses it owns; SECURITYADMIN keeps the network rules in GOVERNANCE."""
    schemas = _logical(plan, "schemas")
    databases = _logical(plan, "databases")
    if grantee == "SYSADMIN":
        return privileges <= {"MODIFY", "MONITOR"} and all(
            kind == "RESOURCE MONITOR" for kind, _ in targets
        )
    if grantee == "SECURITYADMIN":
        return all(
            (
                kind == "DATABASE"
                and databases.get(target) == "ANALYTICS"
                and privileges == {"USAGE"}
            )
            or (
                kind == "SCHEMA"
                and schemas.get(target) == GOVERNANCE
                and privileges <= {"USAGE", "CREATE NETWORK RULE"}
            )
            for kind, target in targets
        )
    return False


def check_privilege_grants(plan: dict) -> list[str]:
    databases, schemas, roles, warehouses = (
        _logical(plan, "databases"),
        _logical(plan, "schemas"),
        _logical(plan, "roles"),
        _logical(plan, "warehouses"),
    )
    violations = []
    for grant in resources(plan, "snowflake_grant_privileges_to_account_role"):
        v, name = grant["values"], grant["address"]
        grantee = v["account_role_name"]
        privileges = set(v.get("privileges") or [])
        targets = list(grant_targets(v))
        if grantee.upper() == "PUBLIC":
            violations.append(f"{name}: grants to PUBLIC")
        if v.get("all_privileges") or "ALL" in privileges or "OWNERSHIP" in privileges:
            violations.append(f"{name}: grants ALL or OWNERSHIP")
        if v.get("with_grant_option"):
            violations.append(f"{name}: grants with grant option")
        role = roles.get(grantee)
        if role is None:
            if not _admin_grant_allowed(grantee, privileges, targets, plan):
                violations.append(f"{name}: grants to {grantee}, which is not a functional role")
            continue
        writes = privileges - READ_PRIVILEGES
        reach = READ_SCOPE.get(role, set()) | WRITE_SCOPE.get(role, set())
        reach |= UPDATE_SCOPE.get(role, set())
        for kind, target in targets:
            if kind == "ACCOUNT":
                violations.append(f"{name}: account-level privileges for {role}")
            elif kind == "WAREHOUSE":
                if warehouses.get(target or "") in OPERATE_SCOPE.get(role, set()):
                    writes -= {"OPERATE"}
                if writes:
                    violations.append(f"{name}: {role} may change a warehouse ({sorted(writes)})")
            elif kind == "DATABASE":
                database = databases.get(target or "")
                if database is None:
                    violations.append(f"{name}: database {target} outside the platform")
                elif database not in SCHEMA_CREATORS.get(role, set()) and not any(
                    schema.startswith(f"{database}.") for schema in reach
                ):
                    violations.append(f"{name}: {role} may reach {database}")
                elif writes and not (
                    writes == {"CREATE SCHEMA"} and database in SCHEMA_CREATORS.get(role, set())
                ):
                    violations.append(f"{name}: {role} may change {database} ({sorted(writes)})")
            elif kind == "ALL SCHEMAS":
                violations.append(f"{name}: {role} reaches every schema of {target}")
            else:
                schema = schemas.get(target or "")
                if schema == GOVERNANCE:
                    allowed = {"USAGE"} if kind == "SCHEMA" else {"APPLY"}
                    if (
                        role not in PII_ROLES
                        or privileges - allowed
                        or kind
                        not in (
                            "SCHEMA",
                            "TAG",
                        )
                    ):
                        violations.append(f"{name}: {role} may use GOVERNANCE ({sorted(writes)})")
                elif schema is None:
                    violations.append(f"{name}: {kind} {target} outside the platform's schemas")
                elif schema not in reach:
                    violations.append(f"{name}: {role} may reach {schema}")
                elif (
                    writes
                    and schema not in WRITE_SCOPE.get(role, set())
                    and not (writes == {"UPDATE"} and schema in UPDATE_SCOPE.get(role, set()))
                ):
                    violations.append(f"{name}: {role} may write {schema} ({sorted(writes)})")
                elif kind == "SCHEMA" and writes - CREATES.get(role, set()):
                    created = sorted(writes - CREATES.get(role, set()))
                    violations.append(f"{name}: {role} may {', '.join(created)} in {schema}")
    return violations


def check_database_roles(plan: dict) -> list[str]:
    """Only the cost role holds SNOWFLAKE database roles, and only those it needs."""
    roles = _logical(plan, "roles")
    violations = []
    for grant in resources(plan, "snowflake_grant_database_role"):
        v, name = grant["values"], grant["address"]
        database, _, database_role = v["database_role_name"].replace('"', "").partition(".")
        role = roles.get(v.get("parent_role_name") or "")
        if database != "SNOWFLAKE" or v.get("parent_database_role_name") or v.get("share_name"):
            violations.append(f"{name}: grants {v['database_role_name']} outside ACCOUNT_USAGE")
        elif database_role not in SNOWFLAKE_DATABASE_ROLES.get(role or "", set()):
            violations.append(f"{name}: {role or v.get('parent_role_name')} gets {database_role}")
    return violations


def readable_account_usage_views(plan: dict, role: str) -> set[str]:
    """The ACCOUNT_USAGE views `role` (logical) can read through its SNOWFLAKE database roles."""
    physical = outputs(plan)["roles"][role]
    views: set[str] = set()
    for grant in resources(plan, "snowflake_grant_database_role"):
        if grant["values"].get("parent_role_name") == physical:
            database_role = grant["values"]["database_role_name"].replace('"', "").split(".")[-1]
            views |= ACCOUNT_USAGE_VIEWS[database_role]
    return views


def check_role_grants(plan: dict) -> list[str]:
    roles = _logical(plan, "roles")
    users = {u["values"]["name"]: u["index"] for u in resources(plan, "snowflake_service_user")}
    violations = []
    granted_to_users: dict[str, set[str]] = {}
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
        elif user is not None:
            granted_to_users.setdefault(users[user], set()).add(roles.get(v["role_name"], "?"))
    for user, granted in granted_to_users.items():
        if granted != USER_ROLES.get(user):
            violations.append(f"service user {user} holds {sorted(granted)}")
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
    policies = {p["index"]: p["values"] for p in resources(plan, "snowflake_network_policy")}
    rules = {r["index"]: r["values"] for r in resources(plan, "snowflake_network_rule")}
    ci_cidrs = set((plan["variables"]["sign_in_cidrs"]["value"] or {}).get("ci", []))
    violations = []
    for type_ in ("snowflake_user", "snowflake_legacy_service_user"):
        for user in resources(plan, type_):
            violations.append(f"{user['address']}: people and password users are not managed here")
    policy_users: dict[str, list[str]] = {}
    for user in resources(plan, "snowflake_service_user"):
        v, name, key = user["values"], user["address"], user["index"]
        keys = [v.get("rsa_public_key"), v.get("rsa_public_key_2")]
        if not any((k or "").startswith("MII") for k in keys):
            violations.append(f"{name}: no RSA public key")
        if v.get("default_role") not in roles:
            violations.append(f"{name}: default role is not a functional role")
        if not v.get("default_warehouse"):
            violations.append(f"{name}: no default warehouse")
        if v.get("default_secondary_roles_option") != "NONE":
            violations.append(f"{name}: secondary roles may widen its privileges")
        if v.get("timezone") != SESSION_TIMEZONE:
            violations.append(f"{name}: sessions in {v.get('timezone')}, not {SESSION_TIMEZONE}")
        policy_users.setdefault(v.get("network_policy") or "", []).append(key)
        policy = policies.get(key)
        if policy is None or v.get("network_policy") != policy["name"]:
            violations.append(f"{name}: no network policy of its own")
            continue
        cidrs = set((rules.get(key) or {}).get("value_list") or [])
        if not cidrs:
            violations.append(f"{name}: its network rule admits nobody")
        if "0.0.0.0/0" in cidrs:
            violations.append(f"{name}: signs in from every address")
        role = roles.get(v.get("default_role") or "")
        if cidrs & ci_cidrs and (WRITE_SCOPE.get(role or "") or role is None):
            violations.append(f"{name}: writes production and signs in from the CI runners")
    for policy_name, users in policy_users.items():
        if len(users) > 1:
            violations.append(f"network policy {policy_name} is shared by {sorted(users)}")
    for policy in resources(plan, "snowflake_network_policy"):
        if policy["values"].get("allowed_ip_list"):
            violations.append(f"{policy['address']}: addresses outside a network rule")
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
                for kind, _ in grant_targets(r["values"])
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
            if role not in PII_ROLES and f"'{physical}'" in body:
                violations.append(f"{policy['address']}: {role} sees PII unmasked")
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
    check_database_roles,
    check_role_grants,
    check_service_users,
    check_providers,
    check_outputs,
    check_databases,
    check_pii_masking,
)
