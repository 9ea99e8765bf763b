-- One row per account, balance date and delivery day. Repeats within a file are
-- removed here; a balance delivered again on a later day is removed by
-- fct_daily_balances, because a window over every delivery would make the daily
-- run read every landed file (partitioning by delivered_on lets DuckDB prune the
-- dt= folders).
with source as (
    select * from {{ source('core_banking', 'daily_balances') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        account_id,
        cast(balance_date as date) as balance_date,
        cast(balance as decimal(14, 2)) as balance,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by delivered_on, account_id, balance_date order by balance) = 1
