-- Grain: one row per customer contacted (not held out) as of the end of the run date: how often
-- in the last 30 days and when last, over every contact made or decided
-- (int_customer_contacts_unioned). The contact policy's frequency cap and cool-down read it.
select
    customer_id,
    {{ run_date() }} as as_of_date,
    count(*) filter (where contacted_at >= {{ run_date() }} - interval 29 day) as contacts_30d,
    max(contacted_at) as last_contacted_at
from {{ ref('int_customer_contacts_unioned') }}
where not is_control
group by customer_id
