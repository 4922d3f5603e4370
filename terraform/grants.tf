# Every grant is made by SECURITYADMIN (MANAGE GRANTS) and expanded from platform.yaml: the
# roles' read/write lists by database and the privileges behind "read" and "write". Nothing is
# granted to PUBLIC, and no role gets ALL or OWNERSHIP.
locals {
  access_levels = local.platform.access_levels

  # "ROLE/DATABASE" => {role, database, level}; write wins over read.
  role_database_access = merge([
    for role_key, role in local.platform.roles : {
      for database in distinct(concat(role.read, role.write)) :
      "${role_key}/${database}" => {
        role     = role_key
        database = database
        level    = contains(role.write, database) ? "write" : "read"
      }
    }
  ]...)

  # "ROLE/DATABASE.SCHEMA" => {role, database, schema, level}, for the data schemas only.
  role_schema_access = merge([
    for grant in values(local.role_database_access) : {
      for schema_key, schema in local.data_schemas :
      "${grant.role}/${schema_key}" => merge(grant, { schema = schema_key })
      if schema.database == grant.database
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

  # Roles that write the governance database set the PII tag on the columns they create.
  tag_appliers = {
    for role_key, role in local.platform.roles : role_key => role
    if contains(role.write, local.governance.database)
  }

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
  for_each = snowflake_service_user.this
  provider = snowflake.securityadmin

  role_name = snowflake_account_role.this[local.platform.service_users[each.key].role].name
  user_name = each.value.name
}

resource "snowflake_grant_privileges_to_account_role" "warehouse" {
  for_each = local.platform.roles
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.key].name
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "WAREHOUSE"
    object_name = snowflake_warehouse.this[each.value.warehouse].name
  }
}

resource "snowflake_grant_privileges_to_account_role" "database" {
  for_each = local.role_database_access
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = local.access_levels[each.value.level].database
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.this[each.value.database].name
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema" {
  for_each = local.role_schema_access
  provider = snowflake.securityadmin

  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = local.access_levels[each.value.level].schema
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
