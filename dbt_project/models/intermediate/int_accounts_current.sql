-- Grain: one row per account, its latest known state (opened, and closed if it was).
select
    account_id,
    customer_id,
    account_type,
    opened_on,
    closed_on,
    updated_at
from {{ ref('stg_core_banking__accounts') }}
qualify row_number() over (partition by account_id order by updated_at desc) = 1
