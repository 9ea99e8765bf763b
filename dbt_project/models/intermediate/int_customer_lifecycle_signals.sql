{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='segment_date') }}
-- Grain: one row per customer and segment date: the inputs of the life-cycle
-- rules (customer_lifecycle_history) as known at the end of that day.
-- Windows of 30 and 60 days are differences of the running totals
-- (int_customer_activity_running): a day reads the totals of t, t - 30 and t - 60
-- and the customer_features rows of t and t - 30, whatever the history's length.

with bounds as (
    select
        {% if is_incremental() %}
        {{ incremental_start('segment_date', "(select min(feature_date) from " ~ ref('customer_features') ~ ")") }} as first_segment_date,
        {% else %}
        (select min(feature_date) from {{ ref('customer_features') }}) as first_segment_date,
        {% endif %}
        {{ run_date() }} as last_segment_date,
        -- The first feature date of the warehouse: no customer has features before it.
        (select min(feature_date) from {{ ref('customer_features') }}) as first_feature_date
),

features as (
    select
        features.customer_id,
        features.feature_date as segment_date,
        features.tenure_days,
        features.monthly_income,
        features.balance_avg_30d
    from {{ ref('customer_features') }} as features, bounds
    where features.feature_date between bounds.first_segment_date and bounds.last_segment_date
),

-- The 30-day average balance a month earlier: null until the warehouse has seen that day.
features_30d_before as (
    select features.customer_id, cast(features.feature_date + 30 as date) as segment_date, features.balance_avg_30d
    from {{ ref('customer_features') }} as features, bounds
    where features.feature_date between bounds.first_segment_date - 30 and bounds.last_segment_date - 30
),

{% set running = ref('int_customer_activity_running') %}
{% for days in [0, 30, 60] %}
totals_{{ days }}d_before as (
    select
        running.customer_id,
        cast(running.activity_date + {{ days }} as date) as segment_date,
        running.days_delivered,
        running.initiated_txn_count_to_date + running.digital_logins_to_date as customer_actions_to_date,
        running.income_to_date
    from {{ running }} as running, bounds
    where running.activity_date between bounds.first_segment_date - {{ days }} and bounds.last_segment_date - {{ days }}
),
{% endfor %}

in_scope as (
    select
        features.customer_id,
        features.segment_date,
        features.tenure_days,
        features.monthly_income,
        features.balance_avg_30d,
        features_30d_before.balance_avg_30d as balance_avg_30d_prior,
        -- The customer's feature rows in the 60 days: one a day since the first delivery,
        -- and not before the warehouse's first feature date.
        least(60, totals_0d_before.days_delivered, features.segment_date - bounds.first_feature_date + 1)
            as observed_days_60d,
        totals_0d_before.customer_actions_to_date - coalesce(totals_30d_before.customer_actions_to_date, 0)
            as customer_actions_30d,
        totals_0d_before.customer_actions_to_date - coalesce(totals_60d_before.customer_actions_to_date, 0)
            as customer_actions_60d,
        totals_0d_before.income_to_date - coalesce(totals_60d_before.income_to_date, 0) as income_60d
    from features
    cross join bounds
    inner join totals_0d_before using (customer_id, segment_date)
    left join totals_30d_before using (customer_id, segment_date)
    left join totals_60d_before using (customer_id, segment_date)
    left join features_30d_before using (customer_id, segment_date)
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
