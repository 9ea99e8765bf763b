{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='feature_date') }}
-- Grain: one row per customer and feature date: what the bank knew about the
-- customer at the end of that day. event_timestamp is the start of the next day,
-- the first moment the values could be used (Feast joins on it point-in-time).
-- Every window is at most 90 days long, so a daily run (one feature date) and a
-- full refresh compute the same values. The spine starts at the customer's first
-- delivery, so counting its days in a window counts the days the warehouse saw.
{% set lookback_days = 89 %}

with bounds as (
    select
        {% if is_incremental() %}
        {{ incremental_start('feature_date', history_start()) }} as first_feature_date,
        {% else %}
        {{ history_start() }} as first_feature_date,
        {% endif %}
        {{ run_date() }} as last_feature_date
),

calendar as (
    select cast(day as date) as activity_date
    from bounds,
        generate_series(
            first_feature_date - interval {{ lookback_days }} day,
            cast(last_feature_date as timestamp),
            interval 1 day
        ) as days(day)
),

customers as (
    select customer_id, first_delivered_on
    from {{ ref('dim_customers') }}
),

spine as (
    select customers.customer_id, calendar.activity_date
    from customers
    inner join calendar on calendar.activity_date >= customers.first_delivered_on
),

daily as (
    select
        spine.customer_id,
        spine.activity_date,
        coalesce(activity.txn_count, 0) as txn_count,
        coalesce(activity.spend, 0) as spend,
        coalesce(activity.discretionary_spend, 0) as discretionary_spend,
        coalesce(activity.income, 0) as income,
        coalesce(activity.spend_travel, 0) as spend_travel,
        coalesce(activity.spend_dining, 0) as spend_dining,
        coalesce(activity.spend_groceries, 0) as spend_groceries,
        coalesce(activity.balance_total, 0) as balance_total,
        coalesce(activity.balance_savings, 0) as balance_savings,
        coalesce(activity.digital_logins, 0) as digital_logins,
        coalesce(activity.product_views, 0) as product_views,
        coalesce(activity.complaints, 0) as complaints
    from spine
    left join {{ ref('int_customer_activity_aggregated_daily') }} as activity
        using (customer_id, activity_date)
),

windowed as (
    select
        customer_id,
        activity_date as feature_date,
        sum(txn_count) over last_30d as txn_count_30d,
        sum(txn_count) over last_90d as txn_count_90d,
        sum(spend) over last_30d as spend_30d,
        sum(spend) over last_90d as spend_90d,
        sum(discretionary_spend) over last_90d as discretionary_spend_90d,
        count(*) over last_90d as delivered_days_90d,
        sum(income) over last_90d as income_90d,
        sum(spend_travel) over last_90d as spend_travel_90d,
        sum(spend_dining) over last_90d as spend_dining_90d,
        sum(spend_groceries) over last_90d as spend_groceries_90d,
        max(case when txn_count > 0 then activity_date end) over last_90d as last_txn_date,
        balance_total,
        balance_savings,
        avg(balance_total) over last_30d as balance_avg_30d,
        first_value(balance_total) over last_30d as balance_30d_ago,
        sum(digital_logins) over last_30d as digital_logins_30d,
        sum(product_views) over last_30d as product_views_30d,
        sum(complaints) over last_90d as complaints_90d
    from daily
    window
        last_30d as (partition by customer_id order by activity_date
                     range between interval 29 day preceding and current row),
        last_90d as (partition by customer_id order by activity_date
                     range between interval 89 day preceding and current row)
),

in_scope as (
    select windowed.*
    from windowed, bounds
    where windowed.feature_date between bounds.first_feature_date and bounds.last_feature_date
),

profiles as (
    select * from {{ ref('int_customer_profiles_versioned') }}
),

with_profile as (
    select
        in_scope.*,
        profiles.birth_month,
        profiles.gender,
        profiles.monthly_income,
        profiles.customer_since,
        profiles.has_marketing_consent
    from in_scope
    asof inner join profiles
        on in_scope.customer_id = profiles.customer_id
        and in_scope.feature_date >= cast(profiles.valid_from as date)
),

holdings as (
    select
        with_profile.customer_id,
        with_profile.feature_date,
        count(*) filter (where product_code = 'credit_card') > 0 as has_credit_card,
        count(*) filter (where product_code = 'personal_loan') > 0 as has_personal_loan,
        count(*) filter (where product_code = 'term_deposit') > 0 as has_term_deposit,
        count(*) filter (where product_code = 'wealth_management') > 0 as has_wealth_management,
        count(*) filter (where product_code = 'mortgage') > 0 as has_mortgage,
        count(distinct product_code) as n_products_held
    from with_profile
    inner join {{ ref('int_product_holdings_current') }} as held
        on with_profile.customer_id = held.customer_id
        and held.opened_on <= with_profile.feature_date
        and (held.closed_on is null or held.closed_on > with_profile.feature_date)
    group by all
),

surveys as (
    select customer_id, cast(answered_at as date) as answered_on, nps_score
    from {{ ref('stg_core_banking__satisfaction_surveys') }}
),

with_nps as (
    select
        with_profile.*,
        surveys.nps_score as last_nps,
        -- Days of the 90-day window on or after both the first delivery and customer_since.
        least(with_profile.delivered_days_90d, with_profile.feature_date - with_profile.customer_since + 1)
            as observed_days_90d
    from with_profile
    asof left join surveys
        on with_profile.customer_id = surveys.customer_id
        and with_profile.feature_date >= surveys.answered_on
)

select
    with_nps.customer_id,
    with_nps.feature_date,
    cast(with_nps.feature_date + interval 1 day as timestamp) as event_timestamp,
    -- date_sub counts whole years; date_diff would count year boundaries crossed.
    cast(date_sub('year', with_nps.birth_month, with_nps.feature_date) as integer) as age,
    cast(with_nps.feature_date - with_nps.customer_since as integer) as tenure_days,
    cast(with_nps.monthly_income as double) as monthly_income,
    -- An unknown gender stays missing (the model sees NaN), never a guessed 0.
    cast(case when with_nps.gender in ('F', 'M') then with_nps.gender = 'F' end as integer) as is_female,
    cast(with_nps.has_marketing_consent as integer) as has_marketing_consent,
    cast(with_nps.txn_count_30d as integer) as txn_count_30d,
    cast(with_nps.txn_count_90d as integer) as txn_count_90d,
    cast(with_nps.spend_30d as double) as spend_30d,
    cast(with_nps.spend_90d as double) as spend_90d,
    cast(with_nps.income_90d as double) as income_90d,
    cast(with_nps.observed_days_90d as integer) as observed_days_90d,
    -- Per 30 observed days, so a window still filling (young warehouse, new customer)
    -- is not taken for a small spender.
    cast(with_nps.discretionary_spend_90d / greatest(with_nps.observed_days_90d, 1) * 30
         / greatest(with_nps.monthly_income, 100) as double) as spend_to_income_90d,
    cast(coalesce(with_nps.feature_date - with_nps.last_txn_date, 90) as integer) as days_since_last_txn,
    cast(with_nps.balance_total as double) as balance_total,
    cast(with_nps.balance_savings as double) as balance_savings,
    cast(with_nps.balance_avg_30d as double) as balance_avg_30d,
    cast(with_nps.balance_total - with_nps.balance_30d_ago as double) as balance_trend_30d,
    cast(case when with_nps.spend_90d > 0 then with_nps.spend_travel_90d / with_nps.spend_90d else 0 end as double) as spend_share_travel_90d,
    cast(case when with_nps.spend_90d > 0 then with_nps.spend_dining_90d / with_nps.spend_90d else 0 end as double) as spend_share_dining_90d,
    cast(case when with_nps.spend_90d > 0 then with_nps.spend_groceries_90d / with_nps.spend_90d else 0 end as double) as spend_share_groceries_90d,
    cast(with_nps.digital_logins_30d as integer) as digital_logins_30d,
    cast(with_nps.product_views_30d as integer) as product_views_30d,
    cast(coalesce(holdings.n_products_held, 0) as integer) as n_products_held,
    cast(coalesce(holdings.has_credit_card, false) as integer) as has_credit_card,
    cast(coalesce(holdings.has_personal_loan, false) as integer) as has_personal_loan,
    cast(coalesce(holdings.has_term_deposit, false) as integer) as has_term_deposit,
    cast(coalesce(holdings.has_wealth_management, false) as integer) as has_wealth_management,
    cast(coalesce(holdings.has_mortgage, false) as integer) as has_mortgage,
    cast(with_nps.complaints_90d as integer) as complaints_90d,
    cast(with_nps.last_nps as double) as last_nps
from with_nps
left join holdings using (customer_id, feature_date)
