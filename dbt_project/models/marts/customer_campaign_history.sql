-- Grain: one row per customer and campaign the customer has entered as of the end of the run
-- date: listed (treated or held out) or contacted by the source system. A customer enters a
-- campaign once: the contact policy keeps everyone here off the campaign's later lists, so a
-- control stays a control for the campaign's life.
select
    customer_id,
    campaign_id,
    {{ run_date() }} as as_of_date,
    min(contacted_at) as first_entered_at,
    bool_or(is_control) as is_held_out
from {{ ref('int_customer_contacts_unioned') }}
group by customer_id, campaign_id
