# Production: canonical names (RAW, STAGING, ANALYTICS, LOADING_WH, ...), owns the account monitor.
environment = "prod"
name_suffix = ""

owns_account_level_objects = true

# Where the service users sign in from (platform.yaml, service_users.<user>.network), one network
# rule per user: `worker`, the egress addresses of the production worker host; `ci`, those of the
# runners of the pull-request workflows (dbt slim CI, cleanup): a self-hosted runner or a larger
# runner with a static IP range, since GitHub-hosted runners have no fixed addresses.
# Documentation ranges: replace before applying.
sign_in_cidrs = {
  worker = ["198.51.100.0/24"]
  ci     = ["203.0.113.0/24"]
}

# People (Snowflake users with a verified e-mail address) the resource monitors notify at 50, 75
# and 90 % of their quota, before they suspend. A placeholder: replace before applying.
monitor_notify_users = ["DATA_PLATFORM_OWNER"]

# service_user_public_keys: both key slots of each user, passed with -var-file (see README), e.g.
# environments/prod.keys.tfvars.
