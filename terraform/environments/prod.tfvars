# Production: canonical names (RAW, STAGING, ANALYTICS, LOADING_WH, ...), owns the account monitor.
environment = "prod"
name_suffix = ""

# Of the account's $150/month: $120 for prod (40 credits at $3.00); the account monitor caps all 50.
monthly_budget_usd         = 120
account_monthly_budget_usd = 150
owns_account_level_objects = true

# Egress addresses of the production runners (documentation range: replace before applying).
service_user_allowed_cidrs = ["198.51.100.0/24"]

# service_user_public_keys: pass with -var-file (see README), e.g. environments/prod.keys.tfvars.
