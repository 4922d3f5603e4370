{#- A rule every row must keep, as a SQL condition (dbt_utils' expression_is_true, written
    here because `dbt deps` cannot reach the package hub offline). The failing rows are the
    test's result: `dbt build` names the test, `dbt show` of it shows the rows. -#}
{% test expression_is_true(model, expression) %}

select * from {{ model }} where not ({{ expression }})

{% endtest %}
