{#- The first day the warehouse knows anything of: the first day with activity (transactions,
    balances, digital events, complaints) or, for a bank whose extracts carry none (an e-mail
    experiment, an attrition snapshot), the first day a customer was delivered. -#}
{% macro history_start() -%}
    coalesce(
        (select min(activity_date) from {{ ref('int_customer_activity_aggregated_daily') }}),
        (select min(first_delivered_on) from {{ ref('dim_customers') }})
    )
{%- endmacro %}

{#- The first day an incremental run computes: the day after the last one the model holds, and
    at most the run date (a rerun of D recomputes D). A run thus fills every day since the last
    one built: the first load builds a long history in slices (bankmkt.warehouse builds month by
    month), and a day the platform did not build is caught up by the next. Evaluated when the
    model executes and written into its SQL as a date literal, so a filter on it still prunes the
    landing's dt= folders. `empty_start`: where to start when the model holds no row yet. -#}
{% macro incremental_start(column, empty_start="date '0001-01-01'") -%}
    {%- if execute and is_incremental() -%}
        {%- set first = run_query(
            "select strftime(least(coalesce(max(" ~ column ~ ") + 1, " ~ empty_start ~ "), "
            ~ run_date() ~ "), '%Y-%m-%d') from " ~ this
        ).columns[0].values()[0] -%}
        cast('{{ first }}' as date)
    {%- else -%}
        {{ run_date() }}
    {%- endif -%}
{%- endmacro %}

{#- A window of `days` days from the running totals (int_customer_activity_running): the total
    of the row `today` minus the total of the row `before_<days>d`, the same customer's `days`
    days earlier (none when the customer was not delivered yet: nothing to subtract). -#}
{% macro running_window(column, days, today='today') -%}
    ({{ today }}.{{ column }}_to_date - coalesce(before_{{ days }}d.{{ column }}_to_date, 0))
{%- endmacro %}

{#- The first day this build computed, as a DATE literal: DBT_TESTED_SINCE, which
    bankmkt.warehouse sets for D's build and for each history slice (the day after the last
    one built). The data tests of the tables that grow every day check the rows from that day
    on (`where: "<day column> >= __tested_since__"`), so a daily build's tests read the days
    it wrote, not the whole history. Unset or empty (a first or full build, dbt by hand):
    0001-01-01, every row. -#}
{% macro tested_since() -%}
    {%- set since = env_var("DBT_TESTED_SINCE", "") if execute else "" -%}
    cast('{{ since or "0001-01-01" }}' as date)
{%- endmacro %}

{#- dbt's own macro for a data test's `where` config, with the placeholder __tested_since__
    replaced when the test runs (a `where` is rendered while dbt parses, where a project macro
    or a day that changes every run cannot go). -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get("where") -%}
    {%- if where -%}
        {%- set where = where | replace("__tested_since__", tested_since()) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The body of a fact's `already_delivered` CTE: the keys of this build's rows (CTE `delivered`)
    that an earlier day already delivered. The (small) set of new keys is looked up in the older
    rows, so no hash table of the whole history is built. `keys`: the key columns; `start`: the
    first day this build computes; `also`: a further condition on the older rows (`old`). -#}
{% macro keys_delivered_before(keys, start, also=none) -%}
    select {% for key in keys %}old.{{ key }}{{ ", " if not loop.last }}{% endfor %}
    from {{ this }} as old
    semi join (select distinct {{ keys | join(", ") }} from delivered) as new using ({{ keys | join(", ") }})
    where old.delivered_on < {{ start }}{% if also %} and {{ also }}{% endif %}
{%- endmacro %}
