{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='feature_date') }}
-- Grain: one row per customer and feature date, like customer_features (same rows,
-- same event_timestamp convention): the features of the issue's list that need
-- longer windows than customer_features' 90 days. Kept apart so that the columns
-- Feast, GX and ML read from customer_features do not change.
--   RFM over 365 days: recency of the last customer-initiated transaction,
--   frequency of those transactions, monetary value of discretionary spend, each
--   scored 1-5 by its quintile among the customers of the day (5 = best).
--   Assets: the end-of-day balance over all accounts as a level.
-- A daily run reads the run date's customer_features rows and 365 days of the
-- activity table (sparse: only days with activity), never the raw facts.
{% set lookback_days = 364 %}

with bounds as (
    select
        {% if is_incremental() %}
        {{ incremental_start('feature_date', "(select min(feature_date) from " ~ ref('customer_features') ~ ")") }} as first_feature_date,
        {% else %}
        (select min(feature_date) from {{ ref('customer_features') }}) as first_feature_date,
        {% endif %}
        {{ run_date() }} as last_feature_date
),

features as (
    select features.customer_id, features.feature_date, features.event_timestamp, features.balance_total
    from {{ ref('customer_features') }} as features, bounds
    where features.feature_date between bounds.first_feature_date and bounds.last_feature_date
),

-- Activity days in the look-back, plus one marker row per customer and feature date:
-- a range window over both gives each feature date its 365-day sums.
days as (
    select
        activity.customer_id,
        activity.activity_date as day,
        activity.initiated_txn_count,
        activity.discretionary_spend,
        false as is_feature_date
    from {{ ref('int_customer_activity_aggregated_daily') }} as activity, bounds
    where activity.activity_date between bounds.first_feature_date - {{ lookback_days }} and bounds.last_feature_date
    union all
    select customer_id, feature_date, 0, 0, true
    from features
),

windowed as (
    select
        customer_id,
        day as feature_date,
        is_feature_date,
        max(case when initiated_txn_count > 0 then day end) over last_365d as last_initiated_txn_on,
        sum(initiated_txn_count) over last_365d as frequency_365d,
        sum(discretionary_spend) over last_365d as monetary_365d
    from days
    window last_365d as (
        partition by customer_id order by day
        range between interval {{ lookback_days }} day preceding and current row
    )
),

rfm as (
    select
        features.customer_id,
        features.feature_date,
        features.event_timestamp,
        features.balance_total,
        coalesce(features.feature_date - windowed.last_initiated_txn_on, 365) as recency_days_365d,
        windowed.frequency_365d,
        windowed.monetary_365d
    from features
    inner join windowed
        on features.customer_id = windowed.customer_id
        and features.feature_date = windowed.feature_date
        and windowed.is_feature_date
)

select
    customer_id,
    feature_date,
    event_timestamp,
    cast(recency_days_365d as integer) as recency_days_365d,
    cast(frequency_365d as integer) as frequency_365d,
    cast(monetary_365d as double) as monetary_365d,
    -- Quintile scores by cumulative distribution: ties share a score, so reruns agree.
    cast(ceil(5 * cume_dist() over (partition by feature_date order by recency_days_365d desc)) as integer) as recency_score,
    cast(ceil(5 * cume_dist() over (partition by feature_date order by frequency_365d)) as integer) as frequency_score,
    cast(ceil(5 * cume_dist() over (partition by feature_date order by monetary_365d)) as integer) as monetary_score,
    cast(balance_total as double) as assets_total,
    case
        when balance_total <= 0 then 'none'
        when balance_total < 1000 then 'low'
        when balance_total < 10000 then 'medium'
        when balance_total < 100000 then 'high'
        else 'very_high'
    end as assets_level
from rfm
