{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='delivered_on') }}
-- Grain: one row per digital event. A daily run reads only the days since the last
-- one built (normally the day's file) and skips ids delivered before (the same pattern as fct_transactions).
with delivered as (
    select * from {{ ref('stg_core_banking__digital_events') }}
    {% if is_incremental() %}
    where delivered_on between {{ incremental_start('delivered_on') }} and {{ run_date() }}
    {% endif %}
),

deduplicated as (
    select * from delivered
    qualify row_number() over (partition by event_id order by delivered_on) = 1
)

select
    event_id,
    customer_id,
    event_at,
    cast(event_at as date) as event_on,
    channel,
    event_type,
    product_code,
    delivered_on
from deduplicated
{% if is_incremental() %}
where event_id not in (
    select event_id from {{ this }} where delivered_on < {{ incremental_start('delivered_on') }}
)
{% endif %}
