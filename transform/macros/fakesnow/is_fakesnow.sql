{#- True when dbt runs against the fakesnow emulator (SNOWFLAKE_EMULATOR=fakesnow: set by
    fakesnow/build_on_fakesnow.py and by tests/prod): the switch for every override in this
    folder. -#}
{% macro is_fakesnow() -%}
    {{ return(env_var('SNOWFLAKE_EMULATOR', '') == 'fakesnow') }}
{%- endmacro %}
