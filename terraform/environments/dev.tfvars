# Development: suffixed names in the shared account, small warehouses, short retention.
environment = "dev"
name_suffix = "_DEV"

# Of the account's $150/month: $30 for dev (10 credits at $3.00).
monthly_budget_usd         = 30
account_monthly_budget_usd = 150
owns_account_level_objects = false

# Egress addresses of the dev runners (documentation range: replace before applying).
service_user_allowed_cidrs = ["192.0.2.0/24"]

# service_user_public_keys: pass with -var-file (see README), e.g. environments/dev.keys.tfvars.
