{#- The sources keep money in cents as integers; models carry exact decimals with two places,
    converted here only. Multiplying by 0.01 (not dividing by 100) keeps the result a decimal on
    DuckDB, where decimal division yields a double; the operand already has two decimal places
    because fakesnow otherwise rounds the product to the operand's scale. Sums stay exact. -#}
{% macro cents_to_dollars(column_name) -%}
    cast(cast({{ column_name }} as decimal(18, 2)) * 0.01 as decimal(18, 2))
{%- endmacro %}
