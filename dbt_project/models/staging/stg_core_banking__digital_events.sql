-- One row per digital event and delivery day. Repeats within a file are removed
-- here; an event delivered again on a later day is removed by
-- fct_digital_events, because a window over every delivery would make the daily
-- run read every landed file (partitioning by delivered_on lets DuckDB prune the
-- dt= folders).
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
qualify row_number() over (partition by delivered_on, event_id order by delivered_on) = 1
