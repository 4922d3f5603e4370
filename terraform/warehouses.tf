resource "snowflake_warehouse" "this" {
  for_each = local.platform.warehouses
  provider = snowflake.sysadmin

  name           = local.warehouse_names[each.key]
  comment        = each.value.comment
  warehouse_size = each.value.size[var.environment]

  auto_suspend        = local.platform.warehouse_defaults.auto_suspend_seconds
  auto_resume         = "true"
  initially_suspended = true

  statement_timeout_in_seconds        = each.value.statement_timeout_seconds
  statement_queued_timeout_in_seconds = local.platform.warehouse_defaults.statement_queued_timeout_seconds

  resource_monitor = snowflake_resource_monitor.warehouse[each.key].name

  # SYSADMIN may only attach a monitor it has been granted MODIFY on (monitors.tf).
  depends_on = [snowflake_grant_privileges_to_account_role.sysadmin_on_monitor]
}
