-- One row per complaint; a file delivered twice counts once.
with source as (
    select * from {{ source('core_banking', 'complaints') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        complaint_id,
        customer_id,
        {{ utc_timestamp('opened_at') }} as opened_at,
        category,
        channel,
        cast(severity as integer) as severity,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by complaint_id order by delivered_on) = 1
