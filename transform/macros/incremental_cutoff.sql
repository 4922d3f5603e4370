{#- Rows changed at or after this point are rebuilt on an incremental run: the newest change
    already in the model, minus the lookback window that catches late-arriving updates. -#}
{% macro incremental_cutoff(changed_at_column='last_changed_at') -%}
    (
        select {{ dbt.dateadd('day', -var('lookback_days'), 'max(' ~ changed_at_column ~ ')') }}
        from {{ this }}
    )
{%- endmacro %}
