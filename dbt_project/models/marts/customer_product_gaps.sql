-- Grain: one row per customer and catalogue product the customer does not hold at
-- the end of the run date. is_eligible applies dim_products' rules; the first
-- rule a customer fails is the ineligibility_reason, checked in this order:
--   churned               every account is closed
--   no_marketing_consent  the customer has not agreed to marketing contact
--   below_min_age         younger than the product's min_age
--   above_max_age         older than the product's max_age (lending ends before old age)
--   income_below_minimum  declared monthly income under the product's minimum
--   balance_below_minimum end-of-day balance over all accounts under the product's minimum (only
--                         for a bank that delivers accounts: without account data a balance is
--                         unknown, not zero, and the rule cannot be judged)
--   recent_complaint      a complaint in the last 90 days
with customers as (
    select
        features.customer_id,
        features.feature_date as as_of_date,
        features.age,
        features.monthly_income,
        features.balance_total,
        features.has_marketing_consent = 1 as has_marketing_consent,
        features.complaints_90d,
        lifecycle.lifecycle_stage
    from {{ ref('customer_features') }} as features
    inner join {{ ref('customer_lifecycle_history') }} as lifecycle
        on features.customer_id = lifecycle.customer_id
        and features.feature_date = lifecycle.segment_date
    where features.feature_date = {{ run_date() }}
),

holdings as (
    select
        customer_id,
        product_code,
        bool_or(is_active) as is_held,
        max(closed_on) as last_closed_on
    from {{ ref('fct_product_holdings') }}
    group by all
),

bank as (
    select exists (select 1 from {{ ref('int_accounts_current') }}) as delivers_accounts
),

gaps as (
    select
        customers.*,
        bank.delivers_accounts,
        products.product_code,
        products.min_age,
        products.max_age,
        products.min_monthly_income,
        products.min_balance_total,
        holdings.last_closed_on
    from customers
    cross join {{ ref('dim_products') }} as products
    cross join bank
    left join holdings
        on customers.customer_id = holdings.customer_id
        and products.product_code = holdings.product_code
    where not coalesce(holdings.is_held, false)
),

checked as (
    select
        *,
        case
            when lifecycle_stage = 'churned' then 'churned'
            when not has_marketing_consent then 'no_marketing_consent'
            when age < min_age then 'below_min_age'
            when age > max_age then 'above_max_age'
            when monthly_income < min_monthly_income then 'income_below_minimum'
            when balance_total < min_balance_total and delivers_accounts then 'balance_below_minimum'
            when complaints_90d > 0 then 'recent_complaint'
        end as ineligibility_reason
    from gaps
)

select
    customer_id,
    product_code,
    as_of_date,
    ineligibility_reason is null as is_eligible,
    ineligibility_reason,
    last_closed_on is not null as has_held_before,
    last_closed_on
from checked
