-- Grain: one row per campaign delivered by the run date.
select
    campaign_id,
    campaign_name,
    product_code,
    channel,
    start_date,
    end_date,
    response_window_days,
    delivered_on
from {{ ref('stg_core_banking__campaigns') }}
