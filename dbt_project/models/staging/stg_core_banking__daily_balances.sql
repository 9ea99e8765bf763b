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
qualify row_number() over (partition by account_id, balance_date order by delivered_on) = 1
