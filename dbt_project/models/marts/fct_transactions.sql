{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='delivered_on') }}
-- Grain: one row per booked transaction. A daily run reads only the days since the
-- last one built, normally the day's file (the dt filter prunes the other landing folders), and skips ids delivered before.
{% if is_incremental() %}{% set start = incremental_start('delivered_on') %}{% endif %}
with delivered as (
    select * from {{ ref('stg_core_banking__transactions') }}
    {% if is_incremental() %}
    where delivered_on between {{ start }} and {{ run_date() }}
    {% endif %}
),

accounts as (
    select distinct account_id, customer_id from {{ ref('stg_core_banking__accounts') }}
),

{% if is_incremental() %}
already_delivered as (
    {{ keys_delivered_before(['transaction_id'], start) }}
),
{% endif %}

deduplicated as (
    select * from delivered
    qualify row_number() over (partition by transaction_id order by delivered_on) = 1
)

select
    deduplicated.transaction_id,
    deduplicated.account_id,
    accounts.customer_id,
    deduplicated.booked_at,
    cast(deduplicated.booked_at as date) as booked_on,
    deduplicated.amount,
    deduplicated.direction,
    deduplicated.merchant_category,
    deduplicated.channel,
    deduplicated.delivered_on
from deduplicated
left join accounts using (account_id)
{% if is_incremental() %}
anti join already_delivered using (transaction_id)
{% endif %}
