# Development: suffixed names in the shared account, small warehouses, short retention.
environment = "dev"
name_suffix = "_DEV"

owns_account_level_objects = false

# Where the service users sign in from (platform.yaml, service_users.<user>.network), one network
# rule per user: `worker`, the egress addresses of the dev worker host; `ci`, those of the
# runners of the pull-request workflows (dbt slim CI, cleanup): a self-hosted runner or a larger
# runner with a static IP range, since GitHub-hosted runners have no fixed addresses.
# Documentation ranges: replace before applying.
sign_in_cidrs = {
  worker = ["192.0.2.0/24"]
  ci     = ["203.0.113.0/24"]
}

# People (Snowflake users with a verified e-mail address) the resource monitors notify at 50, 75
# and 90 % of their quota, before they suspend. A placeholder: replace before applying.
monitor_notify_users = ["DATA_PLATFORM_OWNER"]

# service_user_public_keys: both key slots of each user, passed with -var-file (see README), e.g.
# environments/dev.keys.tfvars.
