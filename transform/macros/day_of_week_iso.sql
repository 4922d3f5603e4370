{#- ISO day of week: Monday 1 ... Sunday 7. -#}
{% macro day_of_week_iso(date_expression) -%}
    {{ return(adapter.dispatch('day_of_week_iso')(date_expression)) }}
{%- endmacro %}

{% macro default__day_of_week_iso(date_expression) -%}
    isodow({{ date_expression }})
{%- endmacro %}

{% macro snowflake__day_of_week_iso(date_expression) -%}
    dayofweekiso({{ date_expression }})
{%- endmacro %}
