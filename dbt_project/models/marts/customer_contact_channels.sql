-- Grain: one row per customer and marketing channel that can reach the customer on the
-- run date, ranked by how the customer actually deals with the bank (channel_rank 1 =
-- the channel to use first). Reachability: push needs app use in the last 90 days,
-- e-mail an address on file, SMS and phone a phone number on file; a branch adviser
-- reaches anyone who comes in. Preference: the app for its regular users, e-mail for
-- online customers, the phone for offline ones with a number, the branch for those who
-- transact there.
with customers as (
    select customer_id, email_hash is not null as has_email, phone_hash is not null as has_phone
    from {{ ref('dim_customers') }}
),

digital as (
    select
        customer_id,
        count(*) filter (where channel = 'mobile_app') as app_events_90d,
        count(*) filter (where channel = 'web') as web_events_90d
    from {{ ref('fct_digital_events') }}
    where event_on between {{ run_date() }} - 89 and {{ run_date() }}
    group by customer_id
),

branch as (
    select customer_id, count(*) as branch_transactions_90d
    from {{ ref('fct_transactions') }}
    where channel = 'branch'
      and booked_on between {{ run_date() }} - 89 and {{ run_date() }}
    group by customer_id
),

signals as (
    select
        customers.customer_id,
        customers.has_email,
        customers.has_phone,
        coalesce(digital.app_events_90d, 0) as app_events_90d,
        coalesce(digital.web_events_90d, 0) as web_events_90d,
        coalesce(branch.branch_transactions_90d, 0) as branch_transactions_90d
    from customers
    left join digital using (customer_id)
    left join branch using (customer_id)
),

candidates as (
    select customer_id, 'push' as channel, 3.0 + ln(1 + app_events_90d) as preference
    from signals where app_events_90d > 0
    union all
    select customer_id, 'email', 2.0 + case when app_events_90d + web_events_90d > 0 then 1.5 else 0 end
    from signals where has_email
    union all
    select customer_id, 'sms', 1.5 from signals where has_phone
    union all
    select customer_id, 'phone', 1.0 + case when app_events_90d + web_events_90d = 0 then 2.0 else 0 end
    from signals where has_phone
    union all
    select customer_id, 'branch', 0.5 + case when branch_transactions_90d > 0 then 3.0 else 0 end
    from signals
)

select
    customer_id,
    channel,
    {{ run_date() }} as as_of_date,
    cast(row_number() over (
        partition by customer_id order by preference desc, channel
    ) as integer) as channel_rank
from candidates
