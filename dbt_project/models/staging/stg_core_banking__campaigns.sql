-- One row per campaign; a file delivered twice counts once.
with source as (
    select * from {{ source('core_banking', 'campaigns') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        campaign_id,
        campaign_name,
        product_code,
        channel,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(response_window_days as integer) as response_window_days,
        -- Arms of one experiment share its control group; a campaign without one is its own experiment.
        coalesce(nullif(experiment_id, ''), campaign_id) as experiment_id,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by campaign_id order by delivered_on) = 1
