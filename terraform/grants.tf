# Every grant is made by SECURITYADMIN (MANAGE GRANTS) and expanded from platform.yaml: the
# roles' read/write lists by database or schema and the privileges behind "read" and "write".
# Nothing is granted to PUBLIC, and no role gets ALL or OWNERSHIP.
locals {
  access_levels = local.platform.access_levels

  # role => {"DATABASE.SCHEMA" => "read" | "update" | "write"}; write wins over update, update
  # over read.
  role_schema_levels = {
    for role_key, role in local.platform.roles : role_key => merge(
      { for schema in flatten([for entry in role.read : local.entry_schemas[entry]]) : schema => "read" },
      { for schema in flatten([for entry in lookup(role, "update", []) : local.entry_schemas[entry]]) : schema => "update" },
      { for schema in flatten([for entry in role.write : local.entry_schemas[entry]]) : schema => "write" },
    )
  }

  # "ROLE/DATABASE" => {role, database, privileges}: USAGE on every database the role works in,
  # and CREATE SCHEMA where it builds schemas of its own (creates_schemas_in).
  role_database_access = merge([
    for role_key, schemas in local.role_schema_levels : {
      for database in distinct(concat(
        [for schema in keys(schemas) : split(".", schema)[0]],
        lookup(local.platform.roles[role_key], "creates_schemas_in", []),
      )) :
      "${role_key}/${database}" => {
        role     = role_key
        database = database
        privileges = concat(local.access_levels.read.database, [
          for creates_in in lookup(local.platform.roles[role_key], "creates_schemas_in", []) : "CREATE SCHEMA"
          if creates_in == database
        ])
      }
    }
  ]...)

  # "ROLE/DATABASE.SCHEMA" => {role, schema, level, privileges}: a writing role may create the
  # object kinds in its `creates` list, nothing else.
  role_schema_access = merge([
    for role_key, schemas in local.role_schema_levels : {
      for schema, level in schemas : "${role_key}/${schema}" => {
        role   = role_key
        schema = schema
        level  = level
        privileges = concat(local.access_levels[level].schema, [
          for kind in lookup(local.platform.roles[role_key], "creates", []) : "CREATE ${kind}" if level == "write"
        ])
      }
    }
  ]...)

  # "ROLE/DATABASE.SCHEMA/TABLES/future" => ...: existing (all) and future tables and views.
  role_object_access = merge([
    for key, grant in local.role_schema_access : {
      for pair in setproduct(keys(local.access_levels[grant.level].objects), ["all", "future"]) :
      "${key}/${pair[0]}/${pair[1]}" => merge(grant, {
        object_type_plural = pair[0]
        scope              = pair[1]
        privileges         = local.access_levels[grant.level].objects[pair[0]]
      })
    }
  ]...)

  # The roles that build the PII columns (sees_pii) also set the PII tag on them.
  tag_appliers = { for role_key, role in local.platform.roles : role_key => role if lookup(role, "sees_pii", false) }

  # "ROLE/DATABASE_ROLE" => ...: database roles of the shared SNOWFLAKE database (ACCOUNT_USAGE).
  snowflake_database_roles = merge([
    for role_key, role in local.platform.roles : {
      for database_role in lookup(role, "snowflake_database_roles", []) :
      "${role_key}/${database_role}" => { role = role_key, database_role = database_role }
    }
  ]...)

  # "USER/ROLE" => ...: each service user's default role and the other roles it may choose.
  service_user_roles = merge([
    for user_key, user in local.platform.service_users : {
      for role in concat([user.role], lookup(user, "other_roles", [])) :
      "${user_key}/${role}" => { user = user_key, role = role }
    }
  ]...)

  schema_fqn = { for key, schema in snowflake_schema.this : key => "${schema.database}.${schema.name}" }
}

# Role hierarchy: SYSADMIN inherits every functional role, so it can manage what they create.
resource "snowflake_grant_account_role" "functional_role_to_sysadmin" {
  for_each = snowflake_account_role.this
  provider = snowflake.securityadmin

  role_name        = each.value.name
  parent_role_name = "SYSADMIN"
}

resource "snowflake_grant_account_role" "service_user" {
  for_each = local.service_user_roles
  provider = snowflake.securityadmin

  role_name = snowflake_account_role.this[each.value.role].name
  user_name = snowflake_service_user.this[each.value.user].name
}

# "ROLE/WAREHOUSE" => {role, warehouse, privileges}: USAGE on the role's own warehouse and those it
# also uses, OPERATE (suspend) on those it operates.
locals {
  role_warehouse_access = merge([
    for role_key, role in local.platform.roles : {
      for warehouse in distinct(concat([role.warehouse], lookup(role, "also_uses", []))) :
      "${role_key}/${warehouse}" => {
        role       = role_key
        warehouse  = warehouse
        privileges = contains(lookup(role, "operates", []), warehouse) ? ["USAGE", "OPERATE"] : ["USAGE"]
      }
    }
  ]...)
}

resource "snowflake_grant_privileges_to_account_role" "warehouse" {
  for_each = local.role_warehouse_access
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = each.value.privileges
  on_account_object {
    object_type = "WAREHOUSE"
    object_name = snowflake_warehouse.this[each.value.warehouse].name
  }
}

resource "snowflake_grant_privileges_to_account_role" "database" {
  for_each = local.role_database_access
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = each.value.privileges
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.this[each.value.database].name
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema" {
  for_each = local.role_schema_access
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = each.value.privileges
  on_schema {
    schema_name = local.schema_fqn[each.value.schema]
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema_objects" {
  for_each = local.role_object_access
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = each.value.privileges
  on_schema_object {
    dynamic "all" {
      for_each = each.value.scope == "all" ? [each.value] : []
      content {
        object_type_plural = all.value.object_type_plural
        in_schema          = local.schema_fqn[all.value.schema]
      }
    }
    dynamic "future" {
      for_each = each.value.scope == "future" ? [each.value] : []
      content {
        object_type_plural = future.value.object_type_plural
        in_schema          = local.schema_fqn[future.value.schema]
      }
    }
  }
}

resource "snowflake_grant_privileges_to_account_role" "governance_schema" {
  for_each = local.tag_appliers
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.key].name
  privileges        = ["USAGE"]
  on_schema {
    schema_name = local.schema_fqn["${local.governance.database}.${local.governance.schema}"]
  }
}

resource "snowflake_grant_privileges_to_account_role" "pii_tag" {
  for_each = local.tag_appliers
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.key].name
  privileges        = ["APPLY"]
  on_schema_object {
    object_type = "TAG"
    object_name = local.pii_tag_fqn
  }
}

# ACCOUNT_USAGE through SNOWFLAKE's own database roles (the cost page): each grants SELECT on a
# fixed set of views. IMPORTED PRIVILEGES on the SNOWFLAKE database would add query text, login
# history and users.
resource "snowflake_grant_database_role" "snowflake_database_role" {
  for_each = local.snowflake_database_roles
  provider = snowflake.securityadmin

  database_role_name = "\"SNOWFLAKE\".\"${each.value.database_role}\""
  parent_role_name   = snowflake_account_role.this[each.value.role].name
}
