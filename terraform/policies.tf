# Network policy for the service users: sign-in only from the runners' addresses.
resource "snowflake_network_policy" "service_users" {
  provider = snowflake.securityadmin

  name            = "SERVICE_USERS${var.name_suffix}"
  comment         = "Service users sign in only from the pipeline runners."
  allowed_ip_list = var.service_user_allowed_cidrs
}

# Tag-based PII masking. The masking policy is attached to the PII tag; dbt sets the tag (value
# EMAIL, NAME, PHONE or ADDRESS) on the mart columns listed in platform.yaml (output pii_columns),
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

  database = snowflake_schema.this["${local.governance.database}.${local.governance.schema}"].database
  schema   = snowflake_schema.this["${local.governance.database}.${local.governance.schema}"].name
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
