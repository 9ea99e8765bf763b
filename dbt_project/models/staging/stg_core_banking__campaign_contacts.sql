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
        channel,
        {{ contract_bool('is_control') }} as is_control,
        delivery_status,
        list_row_id,
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
