-- One row per customer, attribute and change (a file delivered twice counts once). The
-- attributes are the bank's own, declared in DATA_DIR/reference/customer_attributes.csv; an
-- empty value is 'unknown' (a category of its own; for a number, missing).
with source as (
    select * from {{ source('core_banking', 'customer_attributes') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        customer_id,
        attribute,
        coalesce(nullif(value, ''), 'unknown') as value,
        {{ utc_timestamp('valid_from') }} as valid_from,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by customer_id, attribute, valid_from order by delivered_on desc) = 1
