# Network access of the service users: one network rule and one network policy per user, so each
# user signs in only from the network it works in (platform.yaml `network`: the worker host or
# the CI runners, addresses in var.sign_in_cidrs). SECURITYADMIN owns rules, policies and users:
# setting a network policy on a user takes ownership of both.
locals {
  governance_schema = "${local.governance.database}.${local.governance.schema}"
}

# The network rules live in the governance schema: SECURITYADMIN may use it and create them there.
resource "snowflake_grant_privileges_to_account_role" "securityadmin_governance_database" {
  provider = snowflake.securityadmin

  account_role_name = "SECURITYADMIN"
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.this[local.governance.database].name
  }
}

resource "snowflake_grant_privileges_to_account_role" "securityadmin_governance_schema" {
  provider = snowflake.securityadmin

  account_role_name = "SECURITYADMIN"
  privileges        = ["USAGE", "CREATE NETWORK RULE"]
  on_schema {
    schema_name = local.schema_fqn[local.governance_schema]
  }
}

resource "snowflake_network_rule" "service_user" {
  for_each = local.platform.service_users
  provider = snowflake.securityadmin

  database   = snowflake_schema.this[local.governance_schema].database
  schema     = snowflake_schema.this[local.governance_schema].name
  name       = "${local.user_names[each.key]}_SIGN_IN"
  comment    = "Where ${local.user_names[each.key]} may sign in from: the ${each.value.network} network."
  type       = "IPV4"
  mode       = "INGRESS"
  value_list = var.sign_in_cidrs[each.value.network]

  depends_on = [
    snowflake_grant_privileges_to_account_role.securityadmin_governance_database,
    snowflake_grant_privileges_to_account_role.securityadmin_governance_schema,
  ]
}

resource "snowflake_network_policy" "service_user" {
  for_each = snowflake_network_rule.service_user
  provider = snowflake.securityadmin

  name                      = "${local.user_names[each.key]}_NETWORK"
  comment                   = "${local.user_names[each.key]} signs in only from the ${local.platform.service_users[each.key].network} network."
  allowed_network_rule_list = [each.value.fully_qualified_name]
}

# Tag-based PII masking. The masking policy is attached to the PII tag; dbt sets the tag (value
# EMAIL, NAME, PHONE or ADDRESS) on the columns listed in platform.yaml (output pii_columns),
# and from then on every role except the sees_pii ones reads masked values. Account-level
# policy objects, hence ACCOUNTADMIN (APPLY MASKING POLICY).
locals {
  pii_tag_fqn = join(".", [
    local.database_names[local.governance.database], local.governance.schema, local.governance.pii_tag
  ])
  pii_readers = [for key, role in local.platform.roles : local.role_names[key] if lookup(role, "sees_pii", false)]
}

resource "snowflake_masking_policy" "pii_string" {
  provider = snowflake.accountadmin

  database = snowflake_schema.this[local.governance_schema].database
  schema   = snowflake_schema.this[local.governance_schema].name
  name     = local.governance.pii_masking_policy
  comment  = "Masks PII-tagged text columns for every role but ${join(", ", local.pii_readers)}."
  argument {
    name = "VAL"
    type = "VARCHAR"
  }
  return_data_type = "VARCHAR"
  body             = <<-SQL
    CASE
      WHEN ${join(" OR ", [for role in local.pii_readers : "IS_ROLE_IN_SESSION('${role}')"])} THEN VAL
      WHEN VAL IS NULL THEN NULL
      WHEN SYSTEM$GET_TAG_ON_CURRENT_COLUMN('${local.pii_tag_fqn}') = 'EMAIL' THEN REGEXP_REPLACE(VAL, '^[^@]+', '*****')
      WHEN SYSTEM$GET_TAG_ON_CURRENT_COLUMN('${local.pii_tag_fqn}') = 'PHONE' THEN CONCAT('*****', RIGHT(VAL, 2))
      ELSE '*****'
    END
  SQL
}

resource "snowflake_tag" "pii" {
  provider = snowflake.accountadmin

  database         = snowflake_masking_policy.pii_string.database
  schema           = snowflake_masking_policy.pii_string.schema
  name             = local.governance.pii_tag
  comment          = "Personal data; the value says which kind. Masked by ${local.governance.pii_masking_policy}."
  allowed_values   = sort(distinct(values(local.governance.pii_columns)))
  masking_policies = [snowflake_masking_policy.pii_string.fully_qualified_name]
}
