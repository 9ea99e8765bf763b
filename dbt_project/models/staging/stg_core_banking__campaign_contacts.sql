-- One row per contact (control hold-outs included); a file delivered twice counts once, and a
-- correction delivered later (landing/campaign_contacts_corrections/) replaces the record.
with source as (
    select * from {{ source('core_banking', 'campaign_contacts') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        contact_id,
        campaign_id,
        customer_id,
        {{ utc_timestamp('contacted_at') }} as contacted_at,
        -- A channel the source system did not record is the channel 'unknown', not a guess.
        coalesce(nullif(channel, ''), 'unknown') as channel,
        {{ contract_bool('is_control') }} as is_control,
        delivery_status,
        list_row_id,
        -- What the source system says of the contact's history (the telemarketing shape);
        -- null when it says nothing: the warehouse's own contact history is used then.
        cast(attempt_number as integer) as attempt_number,
        cast(previous_campaign_contacts as integer) as previous_campaign_contacts,
        cast(days_since_previous_campaign as integer) as days_since_previous_campaign,
        nullif(previous_campaign_outcome, '') as previous_campaign_outcome,
        dt as delivery_day,
        -- A correction (landing/campaign_contacts_corrections/, checked by the contract) replaces the record.
        coalesce(regexp_matches(filename, '_corrections\.csv$'), false) as is_correction
    from source
)

-- The latest correction of a record replaces it; delivered_on stays the first delivery's day.
select
    * exclude (delivery_day, is_correction),
    min(delivery_day) over (partition by contact_id) as delivered_on,
    case when is_correction then delivery_day end as corrected_on
from renamed
qualify row_number() over (partition by contact_id order by is_correction desc, delivery_day desc) = 1
