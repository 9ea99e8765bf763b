{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='feature_date') }}
-- Grain: one row per customer and feature date: what the bank knew at the end of that
-- day. event_timestamp is the start of the next day, the first moment the values could
-- be used (Feast joins on it point-in-time).
-- Windows come from the running totals of int_customer_activity_running: a window of n
-- days ending on t is total(t) - total(t - n), so a day's features read three days of
-- totals (t, t - 30, t - 90, and the balance of t - 29) whatever the history's length.
-- The windows count the days since the customer's first delivery (the days the
-- warehouse saw), and a daily run and a full refresh compute the same values.

with bounds as (
    select
        {% if is_incremental() %}
        {{ incremental_start('feature_date', history_start()) }} as first_feature_date,
        {% else %}
        {{ history_start() }} as first_feature_date,
        {% endif %}
        {{ run_date() }} as last_feature_date
),

{% set running = ref('int_customer_activity_running') %}
-- The running totals on the feature date, and shifted forward by 30 and 90 days (and the
-- balance by 29): each read is one range of days of the totals.
today as (
    select running.*
    from {{ running }} as running, bounds
    where running.activity_date between bounds.first_feature_date and bounds.last_feature_date
),

{% for days in [29, 30, 90] %}
before_{{ days }}d as (
    select running.*, cast(running.activity_date + {{ days }} as date) as feature_date
    from {{ running }} as running, bounds
    where running.activity_date between bounds.first_feature_date - {{ days }} and bounds.last_feature_date - {{ days }}
),
{% endfor %}

in_scope as (
    select
        today.customer_id,
        today.activity_date as feature_date,
        {{ running_window('txn_count', 30) }} as txn_count_30d,
        {{ running_window('txn_count', 90) }} as txn_count_90d,
        {{ running_window('spend', 30) }} as spend_30d,
        {{ running_window('spend', 90) }} as spend_90d,
        {{ running_window('discretionary_spend', 90) }} as discretionary_spend_90d,
        least(today.days_delivered, 90) as delivered_days_90d,
        {{ running_window('income', 90) }} as income_90d,
        {{ running_window('spend_travel', 90) }} as spend_travel_90d,
        {{ running_window('spend_dining', 90) }} as spend_dining_90d,
        {{ running_window('spend_groceries', 90) }} as spend_groceries_90d,
        case when today.last_txn_date > today.activity_date - 90 then today.last_txn_date end as last_txn_date,
        today.balance_total,
        today.balance_savings,
        {{ running_window('balance_total', 30) }} / least(today.days_delivered, 30) as balance_avg_30d,
        -- The first day of the 30-day window, or the first day delivered when that is later.
        coalesce(before_29d.balance_total, today.first_balance_total) as balance_30d_ago,
        {{ running_window('digital_logins', 30) }} as digital_logins_30d,
        {{ running_window('product_views', 30) }} as product_views_30d,
        {{ running_window('complaints', 90) }} as complaints_90d
    from today
    {% for days in [29, 30, 90] %}
    left join before_{{ days }}d
        on before_{{ days }}d.customer_id = today.customer_id
        and before_{{ days }}d.feature_date = today.activity_date
    {% endfor %}
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
