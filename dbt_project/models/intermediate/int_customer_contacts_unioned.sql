-- Grain: one row per contact the bank made or decided as of the end of the run date, what the
-- contact policy counts: every row of a target list published before the run date (treated and
-- held out), dated by its run date (the day it was published), and every landed contact through
-- the run date that executes no such row (the source system's own campaigns), dated by its
-- contact time. An executed list row counts once, as published. The lists name customers by
-- pseudonym (customer_key, bankmkt.pseudonyms): the customers' own keys map them back.
{#- fct_target_lists is a published output, loaded by its own step after scoring: until a first
    day's lists are loaded it does not exist, and no list row counts. ref() stays outside the
    condition so that dbt records the dependency; a unit test gives the lists as a fixture. -#}
{%- set target_lists = ref('fct_target_lists') -%}
{%- set has_target_lists = execute and (model.resource_type == 'unit_test' or load_relation(target_lists) is not none) %}
with customers as (
    select customer_id, {{ customer_key('customer_id') }} as customer_key
    from {{ ref('dim_customers') }}
),

published as (
{%- if has_target_lists %}
    select
        lists.list_row_id,
        cast(null as varchar) as contact_id,
        customers.customer_id,
        lists.campaign_id,
        lists.is_control,
        cast(lists.run_date as timestamp) as contacted_at
    from {{ target_lists }} as lists
    inner join customers on lists.customer_key = customers.customer_key
    where lists.run_date < {{ run_date() }}
{%- else %}
    select
        cast(null as varchar) as list_row_id,
        cast(null as varchar) as contact_id,
        cast(null as varchar) as customer_id,
        cast(null as varchar) as campaign_id,
        cast(null as boolean) as is_control,
        cast(null as timestamp) as contacted_at
    where false
{%- endif %}
),

landed as (
    select list_row_id, contact_id, customer_id, campaign_id, is_control, contacted_at
    from {{ ref('stg_core_banking__campaign_contacts') }}
    where contacted_at < {{ run_date() }} + interval 1 day
      and (list_row_id is null or list_row_id not in (select list_row_id from published))
)

select
    coalesce(list_row_id, contact_id) as customer_contact_id,
    'target_list' as contact_source,
    list_row_id,
    contact_id,
    customer_id,
    campaign_id,
    is_control,
    contacted_at
from published
union all
select
    coalesce(list_row_id, contact_id) as customer_contact_id,
    'landed' as contact_source,
    list_row_id,
    contact_id,
    customer_id,
    campaign_id,
    is_control,
    contacted_at
from landed
