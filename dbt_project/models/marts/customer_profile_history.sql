-- Grain: one row per customer profile version (slowly changing dimension, type 2).
-- A version is valid from valid_from (inclusive) to valid_to (exclusive, the next
-- version's valid_from); the current version has no valid_to. PII only as keyed hashes.
select
    customer_id,
    cast(version_number as integer) as profile_version,
    valid_from,
    valid_to,
    is_current,
    national_id_hash,
    email_hash,
    phone_hash,
    birth_month,
    gender,
    region,
    occupation,
    monthly_income,
    customer_since,
    has_marketing_consent
from {{ ref('int_customer_profiles_versioned') }}
