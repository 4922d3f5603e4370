{#- A model's grain: no two rows share these columns (dbt_utils' unique_combination_of_columns,
    written here because `dbt deps` cannot reach the package hub offline). -#}
{% test unique_combination(model, columns) %}

select {{ columns | join(', ') }}, count(*) as rows_per_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
