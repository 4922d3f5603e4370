{#- Snowflake masks PII by tag (terraform/policies.tf): the masking policy hangs on the tag
    <ANALYTICS>.GOVERNANCE.PII, and a column is masked for the reporting roles once it carries the
    tag. Marts are re-created on every build, so this post-hook tags the columns whose
    `meta.pii` names the kind of PII (EMAIL, NAME, ...), in every relation of ANALYTICS that holds
    PII: dim_customers and customers_snapshot (terraform/platform.yaml, pii_columns). Not on
    DuckDB, nor on fakesnow (no tags). -#}
{% macro set_pii_tags() -%}
    {%- if target.type != 'snowflake' or is_fakesnow() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tagged = [] -%}
    {%- for column in model.columns.values() -%}
        {%- set pii = column.meta.get('pii') or column.config.meta.get('pii') -%}
        {%- if pii -%}
            {%- do tagged.append('column ' ~ column.name ~ " set tag " ~ target.database ~ ".GOVERNANCE.PII = '" ~ pii ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if tagged -%}
        alter table {{ this }} modify {{ tagged | join(', ') }}
    {%- endif -%}
{%- endmacro %}
