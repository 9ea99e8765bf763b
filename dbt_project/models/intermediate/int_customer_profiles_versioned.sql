-- Grain: one row per customer profile version, with its validity interval.
with versions as (
    select * from {{ ref('stg_core_banking__customers') }}
)

select
    customer_id,
    national_id_hash,
    email_hash,
    phone_hash,
    birth_month,
    gender,
    region,
    occupation,
    monthly_income,
    customer_since,
    has_marketing_consent,
    min(delivered_on) over (partition by customer_id) as first_delivered_on,
    updated_at as valid_from,
    lead(updated_at) over (partition by customer_id order by updated_at) as valid_to,
    row_number() over (partition by customer_id order by updated_at) as version_number,
    lead(updated_at) over (partition by customer_id order by updated_at) is null as is_current
from versions
