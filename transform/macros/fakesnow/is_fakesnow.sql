{#- True when dbt runs against the fakesnow emulator (the `fakesnow` target of profiles.yml):
    the switch for every override in this folder. -#}
{% macro is_fakesnow() -%}
    {{ return(target.name == 'fakesnow') }}
{%- endmacro %}
