{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='delivered_on') }}
-- Grain: one row per account and balance date. A daily run reads only the days since the last one
-- built (incremental_start): normally the day's file.
{% if is_incremental() %}{% set start = incremental_start('delivered_on') %}{% endif %}
with delivered as (
    select * from {{ ref('stg_core_banking__daily_balances') }}
    {% if is_incremental() %}
    where delivered_on between {{ start }} and {{ run_date() }}
    {% endif %}
),

accounts as (
    select distinct account_id, customer_id from {{ ref('stg_core_banking__accounts') }}
),

{% if is_incremental() %}
already_delivered as (
    -- A balance delivered again is one of the same recent dates: only the older rows of those dates.
    {{ keys_delivered_before(['account_id', 'balance_date'], start, also="old.balance_date >= (select min(balance_date) from delivered)") }}
),
{% endif %}

deduplicated as (
    select * from delivered
    qualify row_number() over (partition by account_id, balance_date order by delivered_on) = 1
)

select
    deduplicated.account_id,
    accounts.customer_id,
    deduplicated.balance_date,
    deduplicated.balance,
    deduplicated.delivered_on
from deduplicated
left join accounts using (account_id)
{% if is_incremental() %}
anti join already_delivered using (account_id, balance_date)
{% endif %}
