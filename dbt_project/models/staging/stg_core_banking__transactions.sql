with source as (
    select * from {{ source('core_banking', 'transactions') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        transaction_id,
        account_id,
        {{ utc_timestamp('booked_at') }} as booked_at,
        cast(amount as decimal(14, 2)) as amount,
        direction,
        merchant_category,
        channel,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by transaction_id order by delivered_on) = 1
