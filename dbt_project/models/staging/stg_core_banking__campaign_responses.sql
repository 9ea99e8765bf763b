-- One row per response; a file delivered twice counts once.
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
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by response_id order by delivered_on) = 1
