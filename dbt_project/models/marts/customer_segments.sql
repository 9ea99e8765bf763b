-- Grain: one row per customer delivered by the run date: life-cycle stage, value
-- tier and needs segment as of the end of the run date. event_timestamp (start of
-- the next day) is when the segments became known, as in customer_features.
-- The stage and tier history is customer_lifecycle_history; how the needs
-- segments were chosen is needs_segment_selection. A customer who has not churned
-- but has no behaviour measures (no account or feature row yet) is "unsegmented".
with lifecycle as (
    select * from {{ ref('customer_lifecycle_history') }}
    where segment_date = {{ run_date() }}
),

needs as (
    select customer_id, needs_segment from {{ ref('int_customer_needs_clustered') }}
)

select
    lifecycle.customer_id,
    lifecycle.segment_date,
    cast(lifecycle.segment_date + interval 1 day as timestamp) as event_timestamp,
    lifecycle.lifecycle_stage,
    lifecycle.value_tier,
    case
        when lifecycle.lifecycle_stage = 'churned' then needs.needs_segment
        else coalesce(needs.needs_segment, 'unsegmented')
    end as needs_segment,
    lifecycle.value_score,
    lifecycle.tenure_days,
    lifecycle.has_60d_history
from lifecycle
left join needs using (customer_id)
