{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date', tags=['published_outputs']) }}
-- Grain: one row per run date, campaign and selected customer (control rows included,
-- flagged). Loaded after scoring; a rerun replaces its day. The contact policy of later
-- days reads it: a published row counts as a contact from its run date. Text columns are cast:
-- a day whose lists all come from exploration has no reasons (an all-null Parquet column).
-- Customers appear by their pseudonymous customer_key, as in the published files (bankmkt.pseudonyms);
-- A warehouse whose lists still carried customer_id is migrated in place first (warehouse.migrate_target_lists).
select
    cast(run_date as date) as run_date,
    cast(list_row_id as varchar) as list_row_id,
    cast(campaign_id as varchar) as campaign_id,
    cast(product_code as varchar) as product_code,
    cast(offer as varchar) as offer,
    cast(channel as varchar) as channel,
    cast(customer_key as varchar) as customer_key,
    cast("rank" as integer) as target_rank,
    cast(propensity as double) as propensity,
    cast(uplift as double) as uplift,
    cast(expected_value as double) as expected_value,
    cast(contact_cost as double) as contact_cost,
    cast(is_control as boolean) as is_control,
    cast(segment as varchar) as segment,
    cast(model_version as varchar) as model_version,
    cast(reason_1 as varchar) as reason_1,
    cast(reason_2 as varchar) as reason_2,
    cast(reason_3 as varchar) as reason_3
from {{ source('platform_outputs', 'target_lists') }}
where cast(run_date as date) = {{ run_date() }}
