-- Grain: one row per customer and feature date written to Feast's offline source this run:
-- the run date, and on a first run every earlier feature date not yet exported. Each row is
-- customer_features with the customer's segments of that date: life-cycle stage and value tier
-- from customer_lifecycle_history, the needs segment from customer_segments (clustering runs for
-- the run date only, so earlier dates of a first export have none).
--
-- Materialised as Parquet files, one folder per feature date (dbt-duckdb's external
-- materialisation), in the export's staging folder: the quality gate validates these files, and
-- only once it passes does the publication move them, byte for byte, into Feast's offline source
-- (bankmkt.features.export). The view this model leaves in the warehouse reads the staged files.
{{ config(
    materialized='external',
    location=env_var('DBT_FEATURE_EXPORT_STAGING_DIR'),
    format='parquet',
    options={'partition_by': 'dt', 'overwrite': true, 'compression': 'zstd'},
) }}

{#- The day after the newest feature date Feast's offline source holds (none: every day), read
    when the model runs and written into the SQL as a date literal: the reads of customer_features
    and the life-cycle history below then cover the days to export, not the whole history (a
    day the offline source skipped before its newest one is not filled in). -#}
{%- set since = "date '0001-01-01'" -%}
{%- if execute -%}
    {%- set newest = run_query(
        "select strftime(max(cast(regexp_extract(file, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date)) + 1, '%Y-%m-%d') "
        ~ "from glob('" ~ env_var("DBT_FEATURE_EXPORT_DIR") ~ "/dt=*/*.parquet')"
    ).columns[0].values()[0] -%}
    {%- if newest -%}{%- set since = "least(date '" ~ newest ~ "', " ~ run_date() ~ ")" -%}{%- endif -%}
{%- endif %}

with exported as (
    -- Feature dates Feast's offline source already holds.
    select distinct cast(regexp_extract(file, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date) as feature_date
    from glob('{{ env_var("DBT_FEATURE_EXPORT_DIR") }}/dt=*/*.parquet')
),

features as (
    select * from {{ ref('customer_features') }}
    where feature_date between {{ since }} and {{ run_date() }}
),

history as (
    select customer_id, segment_date, lifecycle_stage, value_tier
    from {{ ref('customer_lifecycle_history') }}
    where segment_date between {{ since }} and {{ run_date() }}
)

select
    strftime(features.feature_date, '%Y-%m-%d') as dt,
    features.*,
    history.lifecycle_stage,
    history.value_tier,
    segments.needs_segment
from features
left join history
    on history.customer_id = features.customer_id and history.segment_date = features.feature_date
left join {{ ref('customer_segments') }} as segments
    on segments.customer_id = features.customer_id and segments.segment_date = features.feature_date
where features.feature_date = {{ run_date() }}
    or features.feature_date not in (select feature_date from exported)
order by features.feature_date, features.customer_id
