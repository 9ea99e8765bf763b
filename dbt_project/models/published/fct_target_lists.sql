{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date', tags=['published_outputs']) }}
-- Grain: one row per run date, campaign product and selected customer
-- (control rows included, flagged). Loaded after scoring; a rerun replaces its day.
select
    cast(run_date as date) as run_date,
    product_code,
    customer_id,
    cast("rank" as integer) as target_rank,
    cast(propensity as double) as propensity,
    cast(expected_value as double) as expected_value,
    cast(is_control as boolean) as is_control,
    model_version,
    reason_1,
    reason_2,
    reason_3
from {{ source('platform_outputs', 'target_lists') }}
where cast(run_date as date) = {{ run_date() }}
