with source as (
    select * from {{ source('core_banking', 'digital_events') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        event_id,
        customer_id,
        {{ utc_timestamp('event_at') }} as event_at,
        channel,
        event_type,
        nullif(product_code, '') as product_code,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by event_id order by delivered_on) = 1
