-- One row per holding version (opening, closing); a file delivered twice counts once.
with source as (
    select * from {{ source('core_banking', 'product_holdings') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        holding_id,
        customer_id,
        product_code,
        cast(opened_on as date) as opened_on,
        cast(nullif(closed_on, '') as date) as closed_on,
        {{ utc_timestamp('updated_at') }} as updated_at,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by holding_id, updated_at order by delivered_on) = 1
