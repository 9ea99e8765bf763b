-- Grain: one row per customer who has not churned, as of the run date: the
-- behaviour measures the needs clustering (int_customer_needs_clustered) groups
-- customers by. Balances are put on a log scale here; the Python models only
-- standardise and cluster. Each column stands for the trait a cluster is named
-- after when it dominates. Reads customer_features of the run date and 90 days
-- of the activity table.
{% set window_days = 90 %}

with features as (
    select * from {{ ref('customer_features') }}
    where feature_date = {{ run_date() }}
),

lifecycle as (
    select customer_id, lifecycle_stage
    from {{ ref('customer_lifecycle_history') }}
    where segment_date = {{ run_date() }}
),

spending as (
    select
        customer_id,
        sum(discretionary_spend) as discretionary_spend,
        sum(spend_travel) as travel_spend
    from {{ ref('int_customer_activity_aggregated_daily') }}
    where activity_date between {{ run_date() }} - {{ window_days - 1 }} and {{ run_date() }}
    group by customer_id
),

-- Days of the window the warehouse has seen the customer, so a young warehouse or a
-- new customer is not taken for a small spender.
observed as (
    select
        customer_id,
        least({{ window_days }}, {{ run_date() }} - first_delivered_on + 1) as observed_days
    from {{ ref('dim_customers') }}
)

select
    features.customer_id,
    features.feature_date as segment_date,
    -- saver: money kept with the bank
    round(log10(1 + greatest(features.balance_avg_30d, 0)), 6) as balance_level,
    -- spender: discretionary spend per 30 days over declared monthly income
    round(least(
        coalesce(spending.discretionary_spend, 0) / observed.observed_days * 30
        / greatest(features.monthly_income, 100),
        3
    ), 6) as spend_to_income,
    -- traveller: share of discretionary spend on travel
    round(case
        when spending.discretionary_spend > 0 then spending.travel_spend / spending.discretionary_spend
        else 0
    end, 6) as travel_share,
    -- digital: app and web logins
    round(ln(1 + features.digital_logins_30d), 6) as digital_use,
    -- borrower: credit products held
    cast(features.has_credit_card + features.has_personal_loan + features.has_mortgage as double) as credit_products,
    -- investor: savings and investment products held
    cast(features.has_term_deposit + features.has_wealth_management as double) as investment_products
from features
inner join lifecycle using (customer_id)
inner join observed using (customer_id)
left join spending using (customer_id)
where lifecycle.lifecycle_stage <> 'churned'
