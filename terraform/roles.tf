# Functional roles. What each may touch is in platform.yaml (roles) and expanded in grants.tf.
resource "snowflake_account_role" "this" {
  for_each = local.platform.roles
  provider = snowflake.useradmin

  name    = local.role_names[each.key]
  comment = each.value.comment
}
