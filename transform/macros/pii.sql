{#- A PII column as the reporting layer may see it. On Snowflake the value passes unchanged:
    the tag-based masking policy (terraform/policies.tf, tags set by set_pii_tags) masks it for
    every role but the PII readers. A local warehouse has no roles — whoever reads the marts
    reads everything — so staging hides the value itself: an email becomes the SHA-256 of its
    lower-case form (still countable and joinable across sources), anything else '*****'. -#}
{% macro pii(column, kind) -%}
    {%- if target.type == 'snowflake' -%}
        {{ column }}
    {%- elif kind == 'EMAIL' -%}
        sha256({{ column }})
    {%- else -%}
        case when {{ column }} is not null then '*****' end
    {%- endif -%}
{%- endmacro %}
