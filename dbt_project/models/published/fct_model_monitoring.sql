{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date', tags=['published_outputs']) }}
-- Grain: one row per run date, model, metric and feature (feature_psi rows name the feature,
-- other metrics leave it null). Written by monitor_models before scoring; each load replaces
-- the last week's days, so a rerun of a day replaces its rows.
select
    cast(run_date as date) as run_date,
    cast(model_name as varchar) as model_name,
    cast(kind as varchar) as kind,
    cast(product_code as varchar) as product_code,
    cast(champion_version as varchar) as champion_version,
    cast(metric as varchar) as metric,
    cast(feature as varchar) as feature,
    cast(value as double) as value
from {{ source('platform_outputs', 'model_monitoring') }}
where cast(run_date as date) between {{ run_date() }} - interval 7 day and {{ run_date() }}
