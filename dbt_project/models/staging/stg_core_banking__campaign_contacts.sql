-- One row per contact (control hold-outs included); a file delivered twice counts once.
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
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by contact_id order by delivered_on) = 1
