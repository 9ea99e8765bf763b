-- One row per campaign and channel of marketing's catalogue (validated by bankmkt.campaigns).
with source as (
    select * from {{ source('marketing', 'campaign_catalogue') }}
),

renamed as (
    select
        campaign_id,
        campaign_name,
        product_code,
        offer,
        cast(incentive_eur as decimal(10, 2)) as incentive_eur,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(response_window_days as integer) as response_window_days,
        cast(control_share as double) as control_share,
        cast(nullif(min_age, '') as integer) as min_age,
        cast(nullif(max_age, '') as integer) as max_age,
        nullif(lifecycle_stages, '') as lifecycle_stages,
        channel,
        cast(daily_capacity as integer) as daily_capacity,
        cast(cost_per_contact_eur as decimal(10, 2)) as cost_per_contact_eur
    from source
)

select * from renamed
