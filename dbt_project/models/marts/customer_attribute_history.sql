-- Grain: one row per customer, attribute and change: the bank's own attributes (declared in
-- DATA_DIR/reference/customer_attributes.csv), each value with its validity interval. 'unknown'
-- is a value of its own. The platform's publication pivots it into Feast's customer_attributes
-- view (one field per declared attribute, bankmkt.features.export).
select
    customer_id,
    attribute,
    value,
    valid_from,
    lead(valid_from) over (partition by customer_id, attribute order by valid_from) as valid_to,
    delivered_on
from {{ ref('stg_core_banking__customer_attributes') }}
