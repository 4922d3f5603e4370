{#- Money stays decimal(18, 2) (16 digits of dollars): DuckDB widens sums, and sums of sums, to
    decimal(38, 2), stored as 128-bit integers whose scans are ~25x slower. Values are unchanged. -#}
{% macro money(expression) -%}
    cast({{ expression }} as decimal(18, 2))
{%- endmacro %}

{% macro money_sum(expression) -%}
    {{ money('sum(' ~ expression ~ ')') }}
{%- endmacro %}
