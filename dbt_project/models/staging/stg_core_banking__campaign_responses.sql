-- One row per response; a file delivered twice counts once, and a
-- correction delivered later (landing/campaign_responses_corrections/) replaces the record.
with source as (
    select * from {{ source('core_banking', 'campaign_responses') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        response_id,
        contact_id,
        customer_id,
        campaign_id,
        {{ utc_timestamp('responded_at') }} as responded_at,
        response_type,
        cast(amount as decimal(14, 2)) as amount,
        dt as delivery_day,
        -- A correction (landing/campaign_responses_corrections/, checked by the contract) replaces the record.
        coalesce(regexp_matches(filename, '_corrections\.csv$'), false) as is_correction
    from source
)

-- The latest correction of a record replaces it; delivered_on stays the first delivery's day.
select
    * exclude (delivery_day, is_correction),
    min(delivery_day) over (partition by response_id) as delivered_on,
    case when is_correction then delivery_day end as corrected_on
from renamed
qualify row_number() over (partition by response_id order by is_correction desc, delivery_day desc) = 1
