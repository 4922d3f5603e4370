# Service users (TYPE = SERVICE): key-pair sign-in only, no password, each restricted by its own
# network policy (policies.tf). Two key slots, so a key is rotated without an outage: the new key
# goes into the free slot, the tool switches, the old key's slot is emptied (docs/runbook.md).
# Sessions run in UTC, as the local world does.
resource "snowflake_service_user" "this" {
  for_each = local.platform.service_users
  provider = snowflake.securityadmin

  name              = local.user_names[each.key]
  comment           = each.value.comment
  default_role      = snowflake_account_role.this[each.value.role].name
  default_warehouse = snowflake_warehouse.this[each.value.warehouse].name
  # Only the role chosen at sign-in is ever active: no secondary roles.
  default_secondary_roles_option = "NONE"
  rsa_public_key                 = var.service_user_public_keys[each.key].key_1 == "" ? null : var.service_user_public_keys[each.key].key_1
  rsa_public_key_2               = var.service_user_public_keys[each.key].key_2 == "" ? null : var.service_user_public_keys[each.key].key_2
  network_policy                 = snowflake_network_policy.service_user[each.key].name
  timezone                       = local.platform.service_user_defaults.timezone
}
