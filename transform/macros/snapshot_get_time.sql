{#- The time a check-strategy snapshot starts a new version, in UTC like every timestamp of the
    platform and the run log it is matched with. dbt-snowflake's own is the session's local
    time (America/Los_Angeles unless the account says otherwise). -#}
{% macro snowflake__snapshot_get_time() -%}
    convert_timezone('UTC', current_timestamp())::timestamp_ntz
{%- endmacro %}
