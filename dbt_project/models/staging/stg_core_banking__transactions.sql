-- One row per transaction and delivery day. Repeats within a file are removed
-- here; a transaction delivered again on a later day is removed by
-- fct_transactions, because a window over every delivery would make the daily
-- run read every landed file (partitioning by delivered_on lets DuckDB prune the
-- dt= folders).
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
qualify row_number() over (partition by delivered_on, transaction_id order by delivered_on) = 1
