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

with exported as (
    -- Feature dates Feast's offline source already holds.
    select distinct cast(regexp_extract(file, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1) as date) as feature_date
    from glob('{{ env_var("DBT_FEATURE_EXPORT_DIR") }}/dt=*/*.parquet')
)

select
    strftime(features.feature_date, '%Y-%m-%d') as dt,
    features.*,
    history.lifecycle_stage,
    history.value_tier,
    segments.needs_segment
from {{ ref('customer_features') }} as features
left join {{ ref('customer_lifecycle_history') }} as history
    on history.customer_id = features.customer_id and history.segment_date = features.feature_date
left join {{ ref('customer_segments') }} as segments
    on segments.customer_id = features.customer_id and segments.segment_date = features.feature_date
where features.feature_date <= {{ run_date() }}
    and (
        features.feature_date = {{ run_date() }}
        or features.feature_date not in (select feature_date from exported)
    )
order by features.feature_date, features.customer_id
