{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='activity_date') }}
-- Grain: one row per customer and day from the customer's first delivery on: the
-- running totals of the daily activity since that day, so that any window is two
-- reads, never a scan of its days. A window of n days ending on t sums to
--     total(t) - total(t - n)        (no row at t - n: nothing before, so 0)
-- A daily run reads the day before's totals and adds the new day's activity: its
-- work follows the number of customers, not the length of the history. Sums are
-- exact (DECIMAL and integers), so a window built by differences equals the sum of
-- its days and a daily run equals a full refresh.
{% set summed = [
    'txn_count', 'initiated_txn_count', 'spend', 'discretionary_spend', 'income',
    'spend_travel', 'spend_dining', 'spend_groceries', 'balance_total',
    'digital_logins', 'product_views', 'complaints',
] %}

with bounds as (
    select
        {% if is_incremental() %}
        {{ incremental_start('activity_date', "(select min(first_delivered_on) from " ~ ref('dim_customers') ~ ")") }} as first_date,
        {% else %}
        (select min(first_delivered_on) from {{ ref('dim_customers') }}) as first_date,
        {% endif %}
        {{ run_date() }} as last_date
),

calendar as (
    select cast(day as date) as activity_date
    from bounds, generate_series(cast(first_date as timestamp), cast(last_date as timestamp), interval 1 day) as days(day)
),

spine as (
    select customers.customer_id, customers.first_delivered_on, calendar.activity_date
    from {{ ref('dim_customers') }} as customers
    inner join calendar on calendar.activity_date >= customers.first_delivered_on
),

activity as (
    select activity.*
    from {{ ref('int_customer_activity_aggregated_daily') }} as activity, bounds
    where activity.activity_date between bounds.first_date and bounds.last_date
),

daily as (
    select
        spine.customer_id,
        spine.first_delivered_on,
        spine.activity_date,
        {% for column in summed %}
        coalesce(activity.{{ column }}, 0) as {{ column }},
        {% endfor %}
        coalesce(activity.balance_savings, 0) as balance_savings,
        case when activity.txn_count > 0 then spine.activity_date end as txn_date,
        case when activity.initiated_txn_count > 0 then spine.activity_date end as initiated_txn_date
    from spine
    left join activity using (customer_id, activity_date)
),

{% if is_incremental() %}
-- The totals of the day before the first computed day (none for a customer delivered since).
carried as (
    select this.*
    from {{ this }} as this, bounds
    where this.activity_date = bounds.first_date - 1
),
{% endif %}

running as (
    select
        daily.customer_id,
        daily.activity_date,
        cast(daily.activity_date - daily.first_delivered_on + 1 as integer) as days_delivered,
        daily.balance_total,
        daily.balance_savings,
        first_value(daily.balance_total) over since_delivered as first_balance_total,
        max(daily.txn_date) over since_delivered as last_txn_date,
        max(daily.initiated_txn_date) over since_delivered as last_initiated_txn_date,
        {% for column in summed %}
        sum(daily.{{ column }}) over since_delivered as {{ column }}_to_date{{ "," if not loop.last }}
        {% endfor %}
    from daily
    window since_delivered as (
        partition by daily.customer_id order by daily.activity_date
        rows between unbounded preceding and current row
    )
)

select
    running.customer_id,
    running.activity_date,
    running.days_delivered,
    running.balance_total,
    running.balance_savings,
    {% if is_incremental() %}
    -- The balance of the first day delivered: where a 30-day window starts for a customer
    -- delivered less than 30 days ago.
    coalesce(carried.first_balance_total, running.first_balance_total) as first_balance_total,
    coalesce(running.last_txn_date, carried.last_txn_date) as last_txn_date,
    coalesce(running.last_initiated_txn_date, carried.last_initiated_txn_date) as last_initiated_txn_date,
    {% for column in summed %}
    coalesce(carried.{{ column }}_to_date, 0) + running.{{ column }}_to_date as {{ column }}_to_date{{ "," if not loop.last }}
    {% endfor %}
    {% else %}
    running.first_balance_total,
    running.last_txn_date,
    running.last_initiated_txn_date,
    {% for column in summed %}
    running.{{ column }}_to_date{{ "," if not loop.last }}
    {% endfor %}
    {% endif %}
from running
{% if is_incremental() %}
left join carried using (customer_id)
{% endif %}
-- In date order, so that the reads of one day (t, t - 30, t - 90) skip the other days' row groups.
order by running.activity_date, running.customer_id
