-- One row per account version (opening, closing); duplicates from re-delivered files removed.
with source as (
    select * from {{ source('core_banking', 'accounts') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        account_id,
        customer_id,
        account_type,
        cast(opened_on as date) as opened_on,
        cast(nullif(closed_on, '') as date) as closed_on,
        {{ utc_timestamp('updated_at') }} as updated_at,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by account_id, updated_at order by delivered_on) = 1
