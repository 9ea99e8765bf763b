-- Grain: one row per customer, the profile valid at the end of the run date.
with versions as (
    select * from {{ ref('int_customer_profiles_versioned') }}
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
    first_delivered_on,
    valid_from as profile_updated_at,
    version_number as profile_versions
from versions
where is_current
