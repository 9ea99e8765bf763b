-- One row per customer profile version (a file delivered twice counts once).
with source as (
    select * from {{ source('core_banking', 'customers') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        customer_id,
        {{ pii_hash('national_id') }} as national_id_hash,
        {{ pii_hash('email') }} as email_hash,
        {{ pii_hash('phone') }} as phone_hash,
        -- the month of birth only: the exact date is personal data and no model needs it
        cast(date_trunc('month', cast(birth_date as date)) as date) as birth_month,
        -- Unknown is a category of its own, never imputed.
        coalesce(nullif(gender, ''), 'unknown') as gender,
        coalesce(nullif(region, ''), 'unknown') as region,
        coalesce(nullif(occupation, ''), 'unknown') as occupation,
        cast(monthly_income as decimal(12, 2)) as monthly_income,
        cast(customer_since as date) as customer_since,
        {{ contract_bool('has_marketing_consent') }} as has_marketing_consent,
        {{ utc_timestamp('updated_at') }} as updated_at,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by customer_id, updated_at order by delivered_on) = 1
