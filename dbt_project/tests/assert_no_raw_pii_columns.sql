-- PII never reaches the warehouse: no table or view has a column that carries a raw
-- name, national id, e-mail or phone (staging drops the names and keeps the others as
-- keyed hashes). It checks every relation present when it runs, which the hints below
-- make after the customer models.
-- depends_on: {{ ref('dim_customers') }}
-- depends_on: {{ ref('customer_profile_history') }}
select table_name, column_name
from information_schema.columns
where table_schema = 'main'
    and lower(column_name) in ('first_name', 'last_name', 'national_id', 'email', 'phone')
