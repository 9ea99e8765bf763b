-- Grain: one row per campaign contact (treatment and control) whose response
-- window has closed by the end of the run date. label = 1 when the customer
-- converted within the campaign's response window after the contact.
-- event_timestamp is the contact time: features must be known before it.
-- The window counts days, as the campaign's response_window_days says: a
-- conversion on the contact day or on any of the next response_window_days days
-- counts, whatever its time of day. window_closes_at is the (exclusive) midnight
-- that ends the last of those days.
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

windows as (
    select
        contacts.contact_id,
        contacts.campaign_id,
        contacts.customer_id,
        campaigns.product_code,
        contacts.channel,
        contacts.is_control,
        contacts.contacted_at,
        cast(cast(contacts.contacted_at as date) + campaigns.response_window_days + 1 as timestamp) as window_closes_at
    from contacts
    inner join campaigns using (campaign_id)
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
    conversions.first_converted_at,
    cast(
        conversions.first_converted_at is not null
        and conversions.first_converted_at < windows.window_closes_at
        as integer
    ) as label
from windows
left join conversions using (contact_id)
where windows.window_closes_at <= {{ run_date() }} + interval 1 day
