{#- Keyed hash for PII that later joins still need (national id, e-mail, phone).
    The key comes from PII_HASH_KEY so the hash cannot be reversed by hashing guesses
    without it. Names are dropped in staging rather than hashed. -#}
{% macro pii_hash(column) -%}
    case when {{ column }} is null or {{ column }} = '' then null
         else sha256('{{ env_var("PII_HASH_KEY", "local-development-key") }}' || '|' || lower(trim({{ column }})))
    end
{%- endmacro %}

{#- The logical date of the run, as a DATE literal. -#}
{% macro run_date() -%}
    cast('{{ var("run_date") }}' as date)
{%- endmacro %}

{#- Parse the contract's UTC timestamps (YYYY-MM-DDTHH:MM:SSZ) to TIMESTAMP. -#}
{% macro utc_timestamp(column) -%}
    cast(strptime({{ column }}, '%Y-%m-%dT%H:%M:%SZ') as timestamp)
{%- endmacro %}

{#- Contract booleans are the words true/false. -#}
{% macro contract_bool(column) -%}
    (lower({{ column }}) = 'true')
{%- endmacro %}
