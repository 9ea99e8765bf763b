-- Grain: one row per product holding, its latest known state at the end of the
-- run date: when it was opened, closed (if it was) and whether it is held.
select
    holding_id,
    customer_id,
    product_code,
    opened_on,
    closed_on,
    closed_on is null or closed_on > {{ run_date() }} as is_active,
    cast(coalesce(least(closed_on, {{ run_date() }}), {{ run_date() }}) - opened_on as integer) as days_held,
    updated_at
from {{ ref('int_product_holdings_current') }}
where opened_on <= {{ run_date() }}
