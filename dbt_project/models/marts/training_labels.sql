-- Grain: one row per campaign contact (treatment and control) whose response
-- window has closed by the end of the run date. label = 1 when the customer
-- converted within the campaign's response window after the contact.
-- event_timestamp is the contact time: features must be known before it.
-- The window counts days, as the campaign's response_window_days says: a
-- conversion on the contact day or on any of the next response_window_days days
-- counts, whatever its time of day. window_closes_at is the (exclusive) midnight
-- that ends the last of those days.
-- The contact's own attributes (contact_*) are what was known when it was made: the attempt
-- number in its campaign, the contacts and outcome of earlier campaigns and the days since, as
-- the source system records them (the telemarketing shape) or, where it says nothing, as the
-- warehouse's own history says (treated contacts only: a control was not contacted).
with contacts as (
    select * from {{ ref('stg_core_banking__campaign_contacts') }}
),

campaigns as (
    select * from {{ ref('stg_core_banking__campaigns') }}
),

conversions as (
    select contact_id, min(responded_at) as first_converted_at
    from {{ ref('stg_core_banking__campaign_responses') }}
    where response_type = 'converted'
    group by contact_id
),

treated_history as (
    select
        treated.customer_id,
        treated.contacted_at,
        cast(cast(treated.contacted_at as date) + campaigns.response_window_days + 1 as timestamp) as closes_at,
        conversions.first_converted_at is not null
        and conversions.first_converted_at
        < cast(cast(treated.contacted_at as date) + campaigns.response_window_days + 1 as timestamp) as converted
    from contacts as treated
    inner join campaigns using (campaign_id)
    left join conversions using (contact_id)
    where not treated.is_control
),

-- Contacts of one customer whose windows close at the same moment count as one outcome, a success
-- when any of them converted (an as-of join over ties would pick one at random).
closed_outcomes as (
    select customer_id, closes_at, bool_or(converted) as converted
    from treated_history
    group by customer_id, closes_at
),

-- What the warehouse's own history says at each contact, from earlier treated contacts only
-- (windows and as-of joins: the cost grows with the contacts, not with their square).
counted as (
    select
        contact_id,
        customer_id,
        contacted_at,
        coalesce(count(*) filter (where not is_control) over (
            partition by customer_id, campaign_id order by contacted_at, contact_id
            rows between unbounded preceding and 1 preceding
        ), 0) as before_in_campaign,
        coalesce(count(*) filter (where not is_control) over (
            partition by customer_id order by contacted_at, contact_id
            rows between unbounded preceding and 1 preceding
        ), 0) as before_in_all
    from contacts
),

derived_history as (
    select
        counted.contact_id,
        counted.before_in_campaign + 1 as attempt_number,
        counted.before_in_all - counted.before_in_campaign as previous_campaign_contacts,
        date_diff('day', cast(last_contact.contacted_at as date), cast(counted.contacted_at as date))
            as days_since_previous_campaign,
        -- The latest earlier contact whose response window had closed when this one was made.
        case when last_outcome.converted then 'success' when not last_outcome.converted then 'failure' end
            as previous_campaign_outcome
    from counted
    asof left join treated_history as last_contact
        on counted.customer_id = last_contact.customer_id
        and counted.contacted_at > last_contact.contacted_at
    asof left join closed_outcomes as last_outcome
        on counted.customer_id = last_outcome.customer_id
        and counted.contacted_at >= last_outcome.closes_at
),

windows as (
    select
        contacts.contact_id,
        contacts.campaign_id,
        contacts.customer_id,
        campaigns.product_code,
        contacts.channel,
        contacts.is_control,
        contacts.contacted_at,
        cast(cast(contacts.contacted_at as date) + campaigns.response_window_days + 1 as timestamp) as window_closes_at,
        coalesce(contacts.attempt_number, derived_history.attempt_number) as contact_attempt_number,
        coalesce(contacts.previous_campaign_contacts, derived_history.previous_campaign_contacts)
            as contact_previous_campaign_contacts,
        case
            when contacts.previous_campaign_contacts is not null or contacts.previous_campaign_outcome is not null
                then contacts.days_since_previous_campaign
            else derived_history.days_since_previous_campaign
        end as contact_days_since_previous_campaign,
        coalesce(contacts.previous_campaign_outcome, derived_history.previous_campaign_outcome)
            as contact_previous_outcome
    from contacts
    inner join campaigns using (campaign_id)
    left join derived_history using (contact_id)
)

select
    windows.contact_id,
    windows.campaign_id,
    windows.customer_id,
    windows.product_code,
    windows.channel,
    windows.is_control,
    windows.contacted_at as event_timestamp,
    windows.window_closes_at,
    cast(windows.contact_attempt_number as integer) as contact_attempt_number,
    cast(windows.contact_previous_campaign_contacts as integer) as contact_previous_campaign_contacts,
    cast(windows.contact_days_since_previous_campaign as integer) as contact_days_since_previous_campaign,
    {{ previous_outcome_code('windows.contact_previous_outcome') }} as contact_previous_outcome,
    cast(month(windows.contacted_at) as integer) as contact_month,
    conversions.first_converted_at,
    cast(
        conversions.first_converted_at is not null
        and conversions.first_converted_at < windows.window_closes_at
        as integer
    ) as label
from windows
left join conversions using (contact_id)
where windows.window_closes_at <= {{ run_date() }} + interval 1 day
