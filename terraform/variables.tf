variable "environment" {
  description = "Environment this state manages; selects sizes and retention from platform.yaml."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "The environment must be \"dev\" or \"prod\"."
  }
}

variable "name_suffix" {
  description = "Appended to every object name (\"_DEV\"), so environments can share one account. Empty for production."
  type        = string

  validation {
    condition     = can(regex("^(_[A-Z0-9]+)?$", var.name_suffix))
    error_message = "The name suffix must be empty or an underscore followed by upper-case letters and digits, e.g. \"_DEV\"."
  }
}

variable "snowflake_organization_name" {
  description = "Snowflake organization name; null to take SNOWFLAKE_ORGANIZATION_NAME from the environment."
  type        = string
  default     = null

  validation {
    condition     = var.snowflake_organization_name == null ? true : can(regex("^[A-Za-z][A-Za-z0-9_]*$", var.snowflake_organization_name))
    error_message = "The organization name is letters, digits and underscores, starting with a letter."
  }
}

variable "snowflake_account_name" {
  description = "Snowflake account name within the organization; null to take SNOWFLAKE_ACCOUNT_NAME from the environment."
  type        = string
  default     = null

  validation {
    condition     = var.snowflake_account_name == null ? true : can(regex("^[A-Za-z][A-Za-z0-9_]*$", var.snowflake_account_name))
    error_message = "The account name is letters, digits and underscores, starting with a letter."
  }
}

variable "terraform_user" {
  description = "The key-pair user Terraform signs in as (created once by hand, see README)."
  type        = string
  default     = "TERRAFORM_SVC"

  validation {
    condition     = can(regex("^[A-Z][A-Z0-9_]*$", var.terraform_user))
    error_message = "The Terraform user name is upper-case letters, digits and underscores."
  }
}

variable "owns_account_level_objects" {
  description = "Whether this environment manages the account-wide monitor. Exactly one environment per account may."
  type        = bool
}

variable "service_user_public_keys" {
  description = "RSA public keys of each service user (MELTANO, DBT, EVIDENCE, PREFECT, DBT_CI) in its two slots, key_1 and key_2: the base64 body of the PEM, on one line, or \"\" for an empty slot. Two slots let a key be rotated without an outage. Public keys are not secrets."
  type = map(object({
    key_1 = string
    key_2 = string
  }))

  validation {
    condition = alltrue([
      for slots in values(var.service_user_public_keys) :
      (slots.key_1 != "" || slots.key_2 != "") && alltrue([
        for key in [slots.key_1, slots.key_2] : key == "" || can(regex("^MII[A-Za-z0-9+/]+={0,2}$", key))
      ])
    ])
    error_message = "Each service user needs a key in key_1 or key_2; a key is the base64 body of an RSA public key (starting with MII), without the BEGIN/END lines and newlines."
  }
}

variable "sign_in_cidrs" {
  description = "Addresses each network signs in from (platform.yaml, service_users.<user>.network): `worker`, the egress addresses of the production worker host; `ci`, those of the runners of the pull-request workflows."
  type        = map(list(string))

  validation {
    condition = length(var.sign_in_cidrs) > 0 && alltrue([
      for cidrs in values(var.sign_in_cidrs) : length(cidrs) > 0 && alltrue([
        for cidr in cidrs : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"
      ])
    ])
    error_message = "Give each network at least one IPv4 CIDR block, and not 0.0.0.0/0."
  }
}

variable "monitor_notify_users" {
  description = "Snowflake users (people, each with a verified e-mail address) whom every resource monitor e-mails at its notify thresholds, before it suspends a warehouse."
  type        = list(string)

  validation {
    condition     = length(var.monitor_notify_users) > 0 && alltrue([for user in var.monitor_notify_users : can(regex("^[A-Z][A-Z0-9_.@-]*$", user))])
    error_message = "Name at least one user, in upper case as Snowflake stores user names."
  }
}
