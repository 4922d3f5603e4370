locals {
  # The platform description; every resource below is expanded from it with for_each.
  platform = yamldecode(file("${path.module}/platform.yaml"))

  database_names  = { for key, database in local.platform.databases : key => "${key}${var.name_suffix}" }
  warehouse_names = { for key, warehouse in local.platform.warehouses : key => "${key}${var.name_suffix}" }
  role_names      = { for key, role in local.platform.roles : key => "${key}${var.name_suffix}" }
  user_names      = { for key, user in local.platform.service_users : key => "${key}_SVC${var.name_suffix}" }

  governance = local.platform.governance

  # "DATABASE.SCHEMA" => {database, name} for the schemas the functional roles work in.
  data_schemas = merge([
    for database_key, database in local.platform.databases : {
      for schema in database.schemas : "${database_key}.${schema}" => { database = database_key, name = schema }
    }
  ]...)

  # What an entry of a role's read or write list stands for: a database (all its schemas) or
  # one schema. An entry that names neither fails the plan here.
  entry_schemas = merge(
    { for database_key, database in local.platform.databases : database_key => [for schema in database.schemas : "${database_key}.${schema}"] },
    { for key, schema in local.data_schemas : key => [key] },
  )
}
