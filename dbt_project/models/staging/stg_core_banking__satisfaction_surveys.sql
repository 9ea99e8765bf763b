-- One row per survey answer; a file delivered twice counts once.
with source as (
    select * from {{ source('core_banking', 'satisfaction_surveys') }}
    where dt <= {{ run_date() }}
),

renamed as (
    select
        survey_id,
        customer_id,
        {{ utc_timestamp('answered_at') }} as answered_at,
        cast(nps_score as integer) as nps_score,
        cast(csat_score as integer) as csat_score,
        dt as delivered_on
    from source
)

select * from renamed
qualify row_number() over (partition by survey_id order by delivered_on) = 1
