{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='run_date', tags=['published_outputs']) }}
-- Grain: one row per run date, model, metric and feature (feature_psi rows name the feature,
-- other metrics leave it null). Written by monitor_models before scoring; each load replaces
-- the last week's days, so a rerun of a day replaces its rows.
select
    cast(run_date as date) as run_date,
    model_name,
    kind,
    product_code,
    champion_version,
    metric,
    feature,
    cast(value as double) as value
from {{ source('platform_outputs', 'model_monitoring') }}
where cast(run_date as date) between {{ run_date() }} - interval 7 day and {{ run_date() }}
