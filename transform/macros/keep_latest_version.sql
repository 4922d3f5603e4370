{#- Singer delivers at least once: a key can arrive more than once. The newest version wins,
    by the source's own change time, then by when it was extracted. -#}
{% macro keep_latest_version(key_columns, changed_at='updated_at', extracted_at='_sdc_extracted_at') -%}
    qualify row_number() over (
        partition by {{ key_columns }}
        order by {{ changed_at }} desc, {{ extracted_at }} desc
    ) = 1
{%- endmacro %}
