{#- Keyed hash for PII that later joins still need (national id, e-mail, phone).
    The key comes from PII_HASH_KEY so the hash cannot be reversed by hashing guesses
    without it. Names are dropped in staging rather than hashed. -#}
{% macro pii_hash(column) -%}
    case when {{ column }} is null or {{ column }} = '' then null
         else sha256('{{ env_var("PII_HASH_KEY", "local-development-key") }}' || '|' || lower(trim({{ column }})))
    end
{%- endmacro %}

{#- The logical date of the run, as a DATE literal. D reaches dbt as the DBT_RUN_DATE
    environment variable, not as --vars: a new --vars value every day makes dbt throw its
    partial-parse cache away and re-parse the whole project (docs/warehouse.md, Timings).
    Models read it only when they execute (`execute`), so no model's parsed form depends
    on the day; a `run_date` var (unit-test overrides, `dbt build --vars`) still wins.
    Without either (`dbt docs generate`), 2099-12-31: every landed day. -#}
{% macro run_date() -%}
    {%- if var("run_date", none) is not none -%}
        cast('{{ var("run_date") }}' as date)
    {%- elif execute -%}
        cast('{{ env_var("DBT_RUN_DATE", "2099-12-31") }}' as date)
    {%- else -%}
        cast('2099-12-31' as date)
    {%- endif -%}
{%- endmacro %}

{#- Data tests' `where` configs cannot call a project macro (dbt renders them while parsing):
    they name the first day the build computed as the placeholder __tested_since__, which the
    project's get_where_subquery replaces when the test runs (macros/history.sql). -#}

{#- Parse the contract's UTC timestamps (YYYY-MM-DDTHH:MM:SSZ) to TIMESTAMP. -#}
{% macro utc_timestamp(column) -%}
    cast(strptime({{ column }}, '%Y-%m-%dT%H:%M:%SZ') as timestamp)
{%- endmacro %}

{#- Contract booleans are the words true/false. -#}
{% macro contract_bool(column) -%}
    (lower({{ column }}) = 'true')
{%- endmacro %}

{#- The pseudonymous customer_key of a customer number, as bankmkt.pseudonyms computes it for the
    published target lists (customer_keys, customer_key_sql): 'P' and the first 20 hex digits of
    SHA-256 over the PII key, a domain label and the number. The key is read only when the model
    executes, so dbt's parse state never holds it; without PII_HASH_KEY the build stops (the
    platform exports it to every dbt call, bankmkt.settings). -#}
{% macro customer_key(column) -%}
    {%- set key = env_var("PII_HASH_KEY", "") if execute else "" -%}
    {%- if execute and not key -%}
        {{ exceptions.raise_compiler_error("customer_key() needs PII_HASH_KEY (the platform's PII key, bankmkt.pseudonyms)") }}
    {%- endif -%}
    ('P' || left(sha256('{{ key }}' || '|customer_key|' || {{ column }}), 20))
{%- endmacro %}
