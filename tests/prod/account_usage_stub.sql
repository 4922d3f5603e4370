-- Stand-ins for the SNOWFLAKE.ACCOUNT_USAGE views the report site's `costs` source reads
-- (reports/environments/snowflake/costs/*.sql), for the Snowflake emulator of the tests. Only the
-- columns those queries read, with Snowflake's types; rows relative to today. Each table holds a
-- row the queries must leave out: metering older than 90 days, a dropped table's storage, and the
-- dev environment's warehouses and databases (suffixed _DEV).
create database if not exists snowflake;
create schema if not exists snowflake.account_usage;

create or replace table snowflake.account_usage.warehouse_metering_history (
    start_time timestamp_ltz,
    end_time timestamp_ltz,
    warehouse_name varchar,
    credits_used number(38, 9)
);

insert into snowflake.account_usage.warehouse_metering_history values
    (dateadd(hour, 6, dateadd(day, -2, current_date())), dateadd(minute, 420, dateadd(day, -2, current_date())), 'TRANSFORMING_WH', 0.412345678),
    (dateadd(hour, 6, dateadd(day, -1, current_date())), dateadd(minute, 390, dateadd(day, -1, current_date())), 'TRANSFORMING_WH', 0.250000000),
    (dateadd(hour, 6, dateadd(day, -1, current_date())), dateadd(minute, 365, dateadd(day, -1, current_date())), 'LOADING_WH', 0.083333333),
    (dateadd(hour, 7, dateadd(day, -1, current_date())), dateadd(minute, 421, dateadd(day, -1, current_date())), 'LOADING_WH', 0.016666667),
    (dateadd(hour, 8, dateadd(day, -1, current_date())), dateadd(minute, 482, dateadd(day, -1, current_date())), 'REPORTING_WH', 0.033333333),
    (dateadd(hour, 6, dateadd(day, -120, current_date())), dateadd(minute, 400, dateadd(day, -120, current_date())), 'TRANSFORMING_WH', 9.000000000),
    (dateadd(hour, 9, dateadd(day, -1, current_date())), dateadd(minute, 560, dateadd(day, -1, current_date())), 'TRANSFORMING_WH_DEV', 0.500000000);

create or replace table snowflake.account_usage.tables (
    table_id number(38, 0),
    table_catalog varchar,
    table_schema varchar,
    table_name varchar,
    row_count number(38, 0),
    deleted timestamp_ltz
);

insert into snowflake.account_usage.tables values
    (101, 'RAW', 'POSTGRES', 'ORDERS', 4330000, null),
    (102, 'RAW', 'STRIPE', 'CHARGES', 3900000, null),
    (201, 'ANALYTICS', 'MARTS', 'FCT_ORDERS', 4310000, null),
    (202, 'ANALYTICS', 'MARTS', 'FCT_DAILY_REVENUE', 731, null),
    (203, 'ANALYTICS', 'MARTS', 'FCT_ORDERS_OLD', 100, dateadd(day, -3, current_date())),
    (301, 'RAW_DEV', 'POSTGRES', 'ORDERS', 43300, null);

create or replace table snowflake.account_usage.table_storage_metrics (
    id number(38, 0),
    table_catalog varchar,
    table_schema varchar,
    table_name varchar,
    active_bytes number(38, 0),
    time_travel_bytes number(38, 0),
    failsafe_bytes number(38, 0),
    deleted boolean
);

insert into snowflake.account_usage.table_storage_metrics values
    (101, 'RAW', 'POSTGRES', 'ORDERS', 912345678, 1234567, 7654321, false),
    (102, 'RAW', 'STRIPE', 'CHARGES', 812345678, 0, 6543210, false),
    (201, 'ANALYTICS', 'MARTS', 'FCT_ORDERS', 512345678, 2345678, 3456789, false),
    (202, 'ANALYTICS', 'MARTS', 'FCT_DAILY_REVENUE', 65536, 0, 0, false),
    (203, 'ANALYTICS', 'MARTS', 'FCT_ORDERS_OLD', 4096, 0, 1024, true),
    (301, 'RAW_DEV', 'POSTGRES', 'ORDERS', 9123456, 0, 0, false);
