{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='feature_date') }}
-- Grain: one row per customer and feature date, like customer_features (same rows,
-- same event_timestamp convention): the features of the issue's list that need
-- longer windows than customer_features' 90 days. Kept apart so that the columns
-- Feast, GX and ML read from customer_features do not change.
--   RFM over 365 days: recency of the last customer-initiated transaction,
--   frequency of those transactions, monetary value of discretionary spend, each
--   scored 1-5 by its quintile among the customers of the day (5 = best).
--   Assets: the end-of-day balance over all accounts as a level.
-- Windows are differences of the running totals (int_customer_activity_running): a
-- day reads the totals of its feature date and of 365 days before, and customer_features
-- of the feature date, whatever the history's length.

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

{% set running = ref('int_customer_activity_running') %}
today as (
    select running.*, running.activity_date as feature_date
    from {{ running }} as running, bounds
    where running.activity_date between bounds.first_feature_date and bounds.last_feature_date
),

before_365d as (
    select running.*, cast(running.activity_date + 365 as date) as feature_date
    from {{ running }} as running, bounds
    where running.activity_date between bounds.first_feature_date - 365 and bounds.last_feature_date - 365
),

rfm as (
    select
        features.customer_id,
        features.feature_date,
        features.event_timestamp,
        features.balance_total,
        coalesce(
            features.feature_date - case
                when today.last_initiated_txn_date > features.feature_date - 365 then today.last_initiated_txn_date
            end,
            365
        ) as recency_days_365d,
        {{ running_window('initiated_txn_count', 365) }} as frequency_365d,
        {{ running_window('discretionary_spend', 365) }} as monetary_365d
    from features
    inner join today using (customer_id, feature_date)
    left join before_365d using (customer_id, feature_date)
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
