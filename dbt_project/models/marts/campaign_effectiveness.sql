-- Grain: one row per campaign and cut (grain column): the whole campaign ('campaign'),
-- per life-cycle stage at contact ('campaign_segment'), per channel ('campaign_channel'),
-- per contact week ('campaign_week'), and per stage, channel and week together
-- ('campaign_segment_channel_week'). Dimensions a cut does not split by read 'all'
-- (contact_week: null). Over contacts whose response window has closed.
--
-- Responses of several kinds: visit_uplift (visits, with its interval) and the converted amount
-- per contact (amount_uplift_per_contact_eur: spend, sums placed) are measured like conversions.
-- uplift = treated conversion rate - control conversion rate, with a 95% Newcombe
-- hybrid score interval (macros/uplift.sql). Treated counts every listed contact,
-- delivered or not (intent to treat). incremental_conversions = uplift x treated;
-- incremental_value_eur = that x the product's value per conversion; cost_eur = the
-- contacts' cost plus incentives paid on treated conversions; roi = (incremental value
-- - cost) / cost. Guardrails: complaint rate and mean NPS in the response window,
-- treated against control.
--
-- Arms of one experiment (campaigns with the same experiment_id) share its control group: each
-- arm's treated contacts are measured against every control contact of the experiment, whichever
-- arm the source system recorded it under (control_contacts then counts the shared group).
with evaluated as (
    select * from {{ ref('int_campaign_contacts_evaluated') }}
),

arms as (
    select campaign_id, experiment_id, count(*) over (partition by experiment_id) as arms_in_experiment
    from {{ ref('stg_core_banking__campaigns') }}
),

contacts as (
    select evaluated.*, arms.experiment_id, arms.arms_in_experiment
    from evaluated
    inner join arms using (campaign_id)
    where not evaluated.is_control
    union all
    select evaluated.* replace (arm.campaign_id as campaign_id), arm.experiment_id, arm.arms_in_experiment
    from evaluated
    inner join arms as recorded_under on evaluated.campaign_id = recorded_under.campaign_id
    inner join arms as arm on recorded_under.experiment_id = arm.experiment_id
    where evaluated.is_control
),

counted as (
    select
        case
            when grouping(lifecycle_stage) = 0 and grouping(channel) = 0 then 'campaign_segment_channel_week'
            when grouping(lifecycle_stage) = 0 then 'campaign_segment'
            when grouping(channel) = 0 then 'campaign_channel'
            when grouping(contact_week) = 0 then 'campaign_week'
            else 'campaign'
        end as grain,
        campaign_id,
        any_value(experiment_id) as experiment_id,
        any_value(arms_in_experiment) > 1 as has_shared_control,
        -- A shared control row carries the arm it was recorded under: name the campaign from its own rows.
        coalesce(any_value(campaign_name) filter (where not is_control), any_value(campaign_name)) as campaign_name,
        any_value(product_code) as product_code,
        bool_or(is_platform_list) as is_platform_campaign,
        case when grouping(lifecycle_stage) = 0 then lifecycle_stage else 'all' end as lifecycle_stage,
        case when grouping(channel) = 0 then channel else 'all' end as channel,
        case when grouping(contact_week) = 0 then contact_week end as contact_week,
        min(contacted_at) as first_contact_at,
        max(contacted_at) as last_contact_at,
        count(*) filter (where not is_control) as treated_contacts,
        count(*) filter (where is_control) as control_contacts,
        count(*) filter (where not is_control and delivery_status = 'delivered') as delivered_contacts,
        count(*) filter (where not is_control and is_converted) as treated_conversions,
        count(*) filter (where is_control and is_converted) as control_conversions,
        count(*) filter (where not is_control and has_opened) as treated_opened,
        count(*) filter (where not is_control and has_clicked) as treated_clicked,
        count(*) filter (where not is_control and has_visited) as treated_visited,
        count(*) filter (where is_control and has_visited) as control_visited,
        count(*) filter (where not is_control and has_complained_in_window) as treated_complaints,
        count(*) filter (where is_control and has_complained_in_window) as control_complaints,
        avg(nps_in_window) filter (where not is_control) as treated_mean_nps,
        avg(nps_in_window) filter (where is_control) as control_mean_nps,
        sum(converted_amount) filter (where not is_control) as treated_converted_amount,
        sum(converted_amount) filter (where is_control) as control_converted_amount,
        sum(contact_cost_eur + incentive_paid_eur) as cost_eur,
        any_value(value_per_conversion_eur) as value_per_conversion_eur
    from contacts
    group by grouping sets (
        (campaign_id),
        (campaign_id, lifecycle_stage),
        (campaign_id, channel),
        (campaign_id, contact_week),
        (campaign_id, lifecycle_stage, channel, contact_week)
    )
),

measured as (
    select
        *,
        treated_conversions / nullif(treated_contacts, 0) as treated_conversion_rate,
        control_conversions / nullif(control_contacts, 0) as control_conversion_rate,
        {{ uplift_interval('treated_conversions', 'treated_contacts', 'control_conversions', 'control_contacts', 'low') }}
            as uplift_ci_low,
        {{ uplift_interval('treated_conversions', 'treated_contacts', 'control_conversions', 'control_contacts', 'high') }}
            as uplift_ci_high,
        {{ uplift_interval('treated_visited', 'treated_contacts', 'control_visited', 'control_contacts', 'low') }}
            as visit_uplift_ci_low,
        {{ uplift_interval('treated_visited', 'treated_contacts', 'control_visited', 'control_contacts', 'high') }}
            as visit_uplift_ci_high
    from counted
)

select
    grain,
    campaign_id,
    campaign_name,
    experiment_id,
    has_shared_control,
    product_code,
    is_platform_campaign,
    lifecycle_stage,
    channel,
    contact_week,
    first_contact_at,
    last_contact_at,
    cast(treated_contacts as integer) as treated_contacts,
    cast(control_contacts as integer) as control_contacts,
    cast(delivered_contacts as integer) as delivered_contacts,
    cast(treated_conversions as integer) as treated_conversions,
    cast(control_conversions as integer) as control_conversions,
    cast(treated_conversion_rate as double) as treated_conversion_rate,
    cast(control_conversion_rate as double) as control_conversion_rate,
    cast(treated_conversion_rate - control_conversion_rate as double) as uplift,
    cast(uplift_ci_low as double) as uplift_ci_low,
    cast(uplift_ci_high as double) as uplift_ci_high,
    cast((treated_conversion_rate - control_conversion_rate) * treated_contacts as double) as incremental_conversions,
    cast((treated_conversion_rate - control_conversion_rate) * treated_contacts * value_per_conversion_eur as double)
        as incremental_value_eur,
    cast(uplift_ci_low * treated_contacts * value_per_conversion_eur as double) as incremental_value_ci_low_eur,
    cast(uplift_ci_high * treated_contacts * value_per_conversion_eur as double) as incremental_value_ci_high_eur,
    cast(cost_eur as double) as cost_eur,
    cast(
        ((treated_conversion_rate - control_conversion_rate) * treated_contacts * value_per_conversion_eur - cost_eur)
        / nullif(cost_eur, 0) as double
    ) as roi,
    cast(treated_opened / nullif(treated_contacts, 0) as double) as open_rate,
    cast(treated_clicked / nullif(treated_contacts, 0) as double) as click_rate,
    cast(treated_visited / nullif(treated_contacts, 0) as double) as visit_rate,
    cast(treated_converted_amount as double) as treated_converted_amount_eur,
    cast(control_visited / nullif(control_contacts, 0) as double) as control_visit_rate,
    cast(treated_visited / nullif(treated_contacts, 0) - control_visited / nullif(control_contacts, 0) as double)
        as visit_uplift,
    cast(visit_uplift_ci_low as double) as visit_uplift_ci_low,
    cast(visit_uplift_ci_high as double) as visit_uplift_ci_high,
    -- What a contact is worth in converted amounts (spend, sums placed), treated against control.
    cast(
        coalesce(treated_converted_amount, 0) / nullif(treated_contacts, 0)
        - coalesce(control_converted_amount, 0) / nullif(control_contacts, 0)
        as double
    ) as amount_uplift_per_contact_eur,
    cast(treated_complaints / nullif(treated_contacts, 0) as double) as treated_complaint_rate,
    cast(control_complaints / nullif(control_contacts, 0) as double) as control_complaint_rate,
    cast(treated_mean_nps as double) as treated_mean_nps,
    cast(control_mean_nps as double) as control_mean_nps
from measured
