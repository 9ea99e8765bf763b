{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date', tags=['published_outputs']) }}
-- Grain: one row per run date, campaign and selected customer (control rows included,
-- flagged). Loaded after scoring; a rerun replaces its day. The contact policy of later
-- days reads it: a published row counts as a contact from its run date.
select
    cast(run_date as date) as run_date,
    list_row_id,
    campaign_id,
    product_code,
    offer,
    channel,
    customer_id,
    cast("rank" as integer) as target_rank,
    cast(propensity as double) as propensity,
    cast(uplift as double) as uplift,
    cast(expected_value as double) as expected_value,
    cast(contact_cost as double) as contact_cost,
    cast(is_control as boolean) as is_control,
    segment,
    model_version,
    reason_1,
    reason_2,
    reason_3
from {{ source('platform_outputs', 'target_lists') }}
where cast(run_date as date) = {{ run_date() }}
