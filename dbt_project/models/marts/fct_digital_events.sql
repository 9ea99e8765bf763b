{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='delivered_on') }}
-- Grain: one row per digital event. A daily run reads only the days since the last
-- one built (normally the day's file) and skips ids delivered before (the same pattern as fct_transactions).
{% if is_incremental() %}{% set start = incremental_start('delivered_on') %}{% endif %}
with delivered as (
    select * from {{ ref('stg_core_banking__digital_events') }}
    {% if is_incremental() %}
    where delivered_on between {{ start }} and {{ run_date() }}
    {% endif %}
),

{% if is_incremental() %}
already_delivered as (
    {{ keys_delivered_before(['event_id'], start) }}
),
{% endif %}

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
anti join already_delivered using (event_id)
{% endif %}
