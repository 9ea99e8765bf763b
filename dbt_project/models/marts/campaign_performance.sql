-- Grain: one row per campaign, life-cycle stage at contact and channel, over the
-- contacts whose response window has closed by the end of the run date (the rows
-- of training_labels). The stage at contact is the customer's stage at the end of
-- the day before the contact, what the bank knew when it selected the customer;
-- 'unknown' before the warehouse's first day. uplift = treatment conversion rate
-- minus control conversion rate (null without control or treatment contacts).
with contacts as (
    select
        labels.campaign_id,
        labels.product_code,
        labels.channel,
        labels.is_control,
        labels.label,
        coalesce(lifecycle.lifecycle_stage, 'unknown') as lifecycle_stage
    from {{ ref('training_labels') }} as labels
    left join {{ ref('customer_lifecycle_history') }} as lifecycle
        on labels.customer_id = lifecycle.customer_id
        and lifecycle.segment_date = cast(labels.event_timestamp as date) - 1
),

counted as (
    select
        campaign_id,
        product_code,
        lifecycle_stage,
        channel,
        count(*) as contacts,
        count(*) filter (where not is_control) as treatment_contacts,
        count(*) filter (where is_control) as control_contacts,
        count(*) filter (where not is_control and label = 1) as treatment_conversions,
        count(*) filter (where is_control and label = 1) as control_conversions
    from contacts
    group by all
),

rated as (
    select
        *,
        treatment_conversions / nullif(treatment_contacts, 0) as treatment_conversion_rate,
        control_conversions / nullif(control_contacts, 0) as control_conversion_rate
    from counted
)

select
    campaign_id,
    product_code,
    lifecycle_stage,
    channel,
    cast(contacts as integer) as contacts,
    cast(treatment_contacts as integer) as treatment_contacts,
    cast(control_contacts as integer) as control_contacts,
    cast(treatment_conversions as integer) as treatment_conversions,
    cast(control_conversions as integer) as control_conversions,
    cast(treatment_conversion_rate as double) as treatment_conversion_rate,
    cast(control_conversion_rate as double) as control_conversion_rate,
    cast(treatment_conversion_rate - control_conversion_rate as double) as uplift
from rated
