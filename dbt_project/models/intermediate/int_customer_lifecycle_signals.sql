{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='segment_date') }}
-- Grain: one row per customer and segment date: the inputs of the life-cycle
-- rules (customer_lifecycle_history) as known at the end of that day.
-- Windows look back 60 days over customer_features rows (one per customer and
-- day since the customer was first delivered) and the daily activity table, so a
-- daily run reads 60 days of those two tables and never the raw facts.
{% set lookback_days = 59 %}

with bounds as (
    select
        {% if is_incremental() %}
        {{ incremental_start('segment_date', "(select min(feature_date) from " ~ ref('customer_features') ~ ")") }} as first_segment_date,
        {% else %}
        (select min(feature_date) from {{ ref('customer_features') }}) as first_segment_date,
        {% endif %}
        {{ run_date() }} as last_segment_date
),

features as (
    select
        features.customer_id,
        features.feature_date,
        features.tenure_days,
        features.monthly_income,
        features.balance_avg_30d
    from {{ ref('customer_features') }} as features, bounds
    where features.feature_date between bounds.first_segment_date - {{ lookback_days }} and bounds.last_segment_date
),

activity as (
    select
        customer_id,
        activity_date as feature_date,
        initiated_txn_count + digital_logins as customer_actions,
        income
    from {{ ref('int_customer_activity_aggregated_daily') }}, bounds
    where activity_date between bounds.first_segment_date - {{ lookback_days }} and bounds.last_segment_date
),

daily as (
    select
        features.*,
        coalesce(activity.customer_actions, 0) as customer_actions,
        coalesce(activity.income, 0) as income
    from features
    left join activity using (customer_id, feature_date)
),

windowed as (
    select
        customer_id,
        feature_date as segment_date,
        tenure_days,
        monthly_income,
        balance_avg_30d,
        -- The 30-day average balance a month earlier: null until the warehouse has seen that day.
        max(balance_avg_30d) over exactly_30d_before as balance_avg_30d_prior,
        count(*) over last_60d as observed_days_60d,
        sum(customer_actions) over last_30d as customer_actions_30d,
        sum(customer_actions) over last_60d as customer_actions_60d,
        sum(income) over last_60d as income_60d
    from daily
    window
        last_30d as (partition by customer_id order by feature_date
                     range between interval 29 day preceding and current row),
        last_60d as (partition by customer_id order by feature_date
                     range between interval {{ lookback_days }} day preceding and current row),
        exactly_30d_before as (partition by customer_id order by feature_date
                               range between interval 30 day preceding and interval 30 day preceding)
),

in_scope as (
    select windowed.*
    from windowed, bounds
    where windowed.segment_date between bounds.first_segment_date and bounds.last_segment_date
),

accounts as (
    select
        in_scope.customer_id,
        in_scope.segment_date,
        count(*) filter (where accounts.opened_on <= in_scope.segment_date) as accounts_opened,
        count(*) filter (
            where accounts.opened_on <= in_scope.segment_date
            and (accounts.closed_on is null or accounts.closed_on > in_scope.segment_date)
        ) as open_accounts
    from in_scope
    -- The accounts as known at the end of the segment date (not as known today).
    inner join {{ ref('int_accounts_versioned') }} as accounts
        on accounts.customer_id = in_scope.customer_id
        and accounts.known_from <= in_scope.segment_date
        and (accounts.known_until is null or accounts.known_until > in_scope.segment_date)
    group by all
)

select
    in_scope.customer_id,
    in_scope.segment_date,
    in_scope.tenure_days,
    cast(in_scope.monthly_income as double) as monthly_income,
    cast(in_scope.balance_avg_30d as double) as balance_avg_30d,
    cast(in_scope.balance_avg_30d_prior as double) as balance_avg_30d_prior,
    cast(in_scope.observed_days_60d as integer) as observed_days_60d,
    cast(in_scope.customer_actions_30d as integer) as customer_actions_30d,
    cast(in_scope.customer_actions_60d as integer) as customer_actions_60d,
    cast(in_scope.income_60d as double) as income_60d,
    cast(coalesce(accounts.accounts_opened, 0) as integer) as accounts_opened,
    cast(coalesce(accounts.open_accounts, 0) as integer) as open_accounts
from in_scope
left join accounts using (customer_id, segment_date)
