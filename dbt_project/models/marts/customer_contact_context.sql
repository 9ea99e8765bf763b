-- Grain: one row per customer with a treated contact through the run date: what a contact made the
-- next day would know of the customer's earlier campaigns, as training_labels derives it for each
-- past contact from the warehouse's own history (its contact_* features). Scoring reads it: a
-- customer not in it was never contacted (no earlier contacts, no outcome).
with contacts as (
    select contacts.contact_id, contacts.customer_id, contacts.contacted_at, campaigns.response_window_days
    from {{ ref('stg_core_banking__campaign_contacts') }} as contacts
    inner join {{ ref('stg_core_banking__campaigns') }} as campaigns using (campaign_id)
    where not contacts.is_control
        and contacts.contacted_at < {{ run_date() }} + interval 1 day
),

conversions as (
    select contact_id, min(responded_at) as first_converted_at
    from {{ ref('stg_core_banking__campaign_responses') }}
    where response_type = 'converted'
    group by contact_id
),

evaluated as (
    select
        contacts.customer_id,
        contacts.contacted_at,
        cast(cast(contacts.contacted_at as date) + contacts.response_window_days + 1 as timestamp) as closes_at,
        coalesce(
            conversions.first_converted_at
            < cast(cast(contacts.contacted_at as date) + contacts.response_window_days + 1 as timestamp),
            false
        ) as converted
    from contacts
    left join conversions using (contact_id)
),

-- The latest closed window's outcome; windows closing at the same moment count as one, a success
-- when any of them converted (so every build picks the same one).
latest_outcome as (
    select customer_id, arg_max(converted, closes_at) as converted
    from (
        select customer_id, closes_at, bool_or(converted) as converted
        from evaluated
        where closes_at <= {{ run_date() }} + interval 1 day
        group by customer_id, closes_at
    )
    group by customer_id
),

history as (
    select
        customer_id,
        count(*) as previous_contacts,
        max(contacted_at) as last_contacted_at
    from evaluated
    group by customer_id
)

select
    history.customer_id,
    {{ run_date() }} as as_of_date,
    cast(history.previous_contacts as integer) as contact_previous_campaign_contacts,
    cast(date_diff('day', cast(history.last_contacted_at as date), {{ run_date() }} + 1) as integer)
        as contact_days_since_previous_campaign,
    {{ previous_outcome_code(
        "case when latest_outcome.converted then 'success' when not latest_outcome.converted then 'failure' end"
    ) }} as contact_previous_outcome
from history
left join latest_outcome using (customer_id)
