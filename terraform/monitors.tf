# Every monitor e-mails the people in var.monitor_notify_users at each notify threshold, before it
# suspends anything. The quotas and thresholds are platform.yaml's: the cost model's month over
# monitor_headroom (pipeline/cost_model.py checks that no modelled month passes it).
locals {
  warehouse_credit_quota = {
    for key, warehouse in local.platform.warehouses : key => warehouse.monitor_quota_credits[var.environment]
  }
  account_credit_quota = local.platform.account_monitor_quota_credits
  triggers             = local.platform.monitor_triggers
}

resource "snowflake_resource_monitor" "warehouse" {
  for_each = local.platform.warehouses
  provider = snowflake.accountadmin

  name            = "${each.key}_MONITOR${var.name_suffix}"
  credit_quota    = local.warehouse_credit_quota[each.key]
  frequency       = "MONTHLY"
  start_timestamp = "IMMEDIATELY"

  notify_triggers           = local.triggers.notify
  notify_users              = var.monitor_notify_users
  suspend_trigger           = local.triggers.suspend
  suspend_immediate_trigger = local.triggers.suspend_immediate
}

# Lets SYSADMIN, which owns the warehouses, attach each monitor to its warehouse.
resource "snowflake_grant_privileges_to_account_role" "sysadmin_on_monitor" {
  for_each = snowflake_resource_monitor.warehouse
  provider = snowflake.accountadmin

  account_role_name = "SYSADMIN"
  privileges        = ["MODIFY", "MONITOR"]
  on_account_object {
    object_type = "RESOURCE MONITOR"
    object_name = each.value.name
  }
}

# The account-wide cap: only one monitor can be set on an account, so only the environment
# that owns the account-level objects declares it.
resource "snowflake_resource_monitor" "account" {
  count    = var.owns_account_level_objects ? 1 : 0
  provider = snowflake.accountadmin

  name            = "ACCOUNT_MONITOR"
  credit_quota    = local.account_credit_quota
  frequency       = "MONTHLY"
  start_timestamp = "IMMEDIATELY"

  notify_triggers           = local.triggers.notify
  notify_users              = var.monitor_notify_users
  suspend_trigger           = local.triggers.suspend
  suspend_immediate_trigger = local.triggers.suspend_immediate
}

resource "snowflake_current_account" "this" {
  count    = var.owns_account_level_objects ? 1 : 0
  provider = snowflake.accountadmin

  resource_monitor = snowflake_resource_monitor.account[0].name
}
