{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date', tags=['published_outputs']) }}
-- Grain: one row per run date, model and retraining trigger. Written by the training DAG after
-- the daily run's load, so a day's decisions arrive with the next day's load (each load
-- replaces the last week's days).
select
    cast(run_date as date) as run_date,
    cast(model_name as varchar) as model_name,
    cast(kind as varchar) as kind,
    cast(product_code as varchar) as product_code,
    cast(champion_version as varchar) as champion_version,
    cast(retrain as boolean) as retrain,
    "trigger" as trigger_name,
    cast(fired as boolean) as fired,
    cast(value as double) as value,
    cast(threshold as double) as threshold,
    cast(reason as varchar) as reason
from {{ source('platform_outputs', 'retraining_decisions') }}
where cast(run_date as date) between {{ run_date() }} - interval 7 day and {{ run_date() }}
