-- Grain: one row per holding, its latest known state (opened, and closed if it was).
select
    holding_id,
    customer_id,
    product_code,
    opened_on,
    closed_on,
    updated_at
from {{ ref('stg_core_banking__product_holdings') }}
qualify row_number() over (partition by holding_id order by updated_at desc) = 1
