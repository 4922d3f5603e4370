# Service users (TYPE = SERVICE): key-pair sign-in only, no password, restricted by the
# service-user network policy. Created by SECURITYADMIN, which also owns that policy: setting a
# network policy on a user takes ownership of both.
resource "snowflake_service_user" "this" {
  for_each = local.platform.service_users
  provider = snowflake.securityadmin

  name              = local.user_names[each.key]
  comment           = each.value.comment
  default_role      = snowflake_account_role.this[each.value.role].name
  default_warehouse = snowflake_warehouse.this[each.value.warehouse].name
  # Only the granted functional role is ever active: no secondary roles.
  default_secondary_roles_option = "NONE"
  rsa_public_key                 = var.service_user_public_keys[each.key]
  network_policy                 = snowflake_network_policy.service_users.name
}
