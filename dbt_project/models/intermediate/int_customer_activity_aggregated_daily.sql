{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='activity_date') }}
-- Grain: one row per customer and day with any activity or balance.
-- A daily run aggregates only the days since the last one built (normally the run
-- date), from the incremental facts.
{% set day_filter %}
    {% if is_incremental() %} between {{ incremental_start('activity_date') }} and {{ run_date() }}
    {% else %} <= {{ run_date() }} {% endif %}
{% endset %}

with transactions as (
    select
        customer_id,
        booked_on as activity_date,
        count(*) as txn_count,
        -- Standing orders (salary, bills, repayments) run without the customer.
        count(*) filter (where channel <> 'standing_order') as initiated_txn_count,
        sum(case when direction = 'debit' then -amount else 0 end) as spend,
        sum(case when direction = 'credit' then amount else 0 end) as income,
        -- Card, cash and shopping spend: what the customer chooses to spend, not bills,
        -- repayments, investments or transfers.
        sum(case when direction = 'debit' and merchant_category in (
            'groceries', 'dining', 'travel', 'fuel', 'shopping', 'health', 'entertainment', 'cash'
        ) then -amount else 0 end) as discretionary_spend,
        sum(case when merchant_category = 'travel' then -amount else 0 end) as spend_travel,
        sum(case when merchant_category = 'dining' then -amount else 0 end) as spend_dining,
        sum(case when merchant_category = 'groceries' then -amount else 0 end) as spend_groceries
    from {{ ref('fct_transactions') }}
    where booked_on {{ day_filter }}
    group by all
),

balances as (
    select
        balances.customer_id,
        balances.balance_date as activity_date,
        sum(balances.balance) as balance_total,
        coalesce(sum(balances.balance) filter (where accounts.account_type = 'savings'), 0) as balance_savings
    from {{ ref('fct_daily_balances') }} as balances
    left join {{ ref('int_accounts_current') }} as accounts using (account_id)
    where balances.balance_date {{ day_filter }}
    group by all
),

digital as (
    select
        customer_id,
        event_on as activity_date,
        count(*) filter (where event_type = 'login') as digital_logins,
        count(*) filter (where event_type = 'view_product') as product_views
    from {{ ref('fct_digital_events') }}
    where event_on {{ day_filter }}
    group by all
),

complaints as (
    select customer_id, cast(opened_at as date) as activity_date, count(*) as complaints
    from {{ ref('stg_core_banking__complaints') }}
    where cast(opened_at as date) {{ day_filter }}
    group by all
)

select
    customer_id,
    activity_date,
    coalesce(transactions.txn_count, 0) as txn_count,
    coalesce(transactions.initiated_txn_count, 0) as initiated_txn_count,
    coalesce(transactions.spend, 0) as spend,
    coalesce(transactions.income, 0) as income,
    coalesce(transactions.discretionary_spend, 0) as discretionary_spend,
    coalesce(transactions.spend_travel, 0) as spend_travel,
    coalesce(transactions.spend_dining, 0) as spend_dining,
    coalesce(transactions.spend_groceries, 0) as spend_groceries,
    balances.balance_total,
    balances.balance_savings,
    coalesce(digital.digital_logins, 0) as digital_logins,
    coalesce(digital.product_views, 0) as product_views,
    coalesce(complaints.complaints, 0) as complaints
from transactions
full outer join balances using (customer_id, activity_date)
full outer join digital using (customer_id, activity_date)
full outer join complaints using (customer_id, activity_date)
where customer_id is not null
