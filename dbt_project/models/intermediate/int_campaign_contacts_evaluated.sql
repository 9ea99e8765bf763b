-- Grain: one row per campaign contact (treated and control) whose response window has
-- closed by the end of the run date, with everything campaign measurement needs: the
-- life-cycle stage the bank knew when it selected the customer (end of the day before),
-- the week of the contact, the funnel (opened, clicked, visited, converted within the
-- window), what the contact cost, and the experience guardrails in the same window
-- (a complaint opened, the mean NPS of surveys answered). Treated rows count whether the
-- message was delivered or not (intent to treat: the list decided, the channel executed).
with labels as (
    select * from {{ ref('training_labels') }}
),

contacts as (
    select contact_id, delivery_status, list_row_id
    from {{ ref('stg_core_banking__campaign_contacts') }}
),

campaigns as (
    select campaign_id, campaign_name from {{ ref('stg_core_banking__campaigns') }}
),

catalogue as (
    select campaign_id, channel, cost_per_contact_eur, incentive_eur, campaign_name
    from {{ ref('stg_marketing__campaign_channels') }}
),

responses as (
    select
        responses.contact_id,
        bool_or(response_type = 'opened') as has_opened,
        bool_or(response_type = 'clicked') as has_clicked,
        bool_or(response_type = 'visited') as has_visited,
        sum(amount) filter (where response_type = 'converted') as converted_amount
    from {{ ref('stg_core_banking__campaign_responses') }} as responses
    inner join labels
        on responses.contact_id = labels.contact_id
        and responses.responded_at < labels.window_closes_at
    group by responses.contact_id
),

complaints as (
    select labels.contact_id, count(*) as complaints_in_window
    from labels
    inner join {{ ref('stg_core_banking__complaints') }} as complaints
        on complaints.customer_id = labels.customer_id
        and complaints.opened_at >= labels.event_timestamp
        and complaints.opened_at < labels.window_closes_at
    group by labels.contact_id
),

surveys as (
    select labels.contact_id, avg(surveys.nps_score) as nps_in_window
    from labels
    inner join {{ ref('stg_core_banking__satisfaction_surveys') }} as surveys
        on surveys.customer_id = labels.customer_id
        and surveys.answered_at >= labels.event_timestamp
        and surveys.answered_at < labels.window_closes_at
    group by labels.contact_id
),

products as (
    select product_code, value_per_conversion_eur from {{ ref('dim_products') }}
)

select
    labels.contact_id,
    labels.campaign_id,
    coalesce(catalogue.campaign_name, campaigns.campaign_name, labels.campaign_id) as campaign_name,
    labels.customer_id,
    labels.product_code,
    labels.channel,
    labels.is_control,
    contacts.list_row_id,
    contacts.list_row_id is not null as is_platform_list,
    contacts.delivery_status,
    labels.event_timestamp as contacted_at,
    cast(date_trunc('week', labels.event_timestamp) as date) as contact_week,
    coalesce(lifecycle.lifecycle_stage, 'unknown') as lifecycle_stage,
    labels.window_closes_at,
    labels.label = 1 as is_converted,
    coalesce(responses.has_opened, false) as has_opened,
    coalesce(responses.has_clicked, false) as has_clicked,
    coalesce(responses.has_visited, false) as has_visited,
    cast(responses.converted_amount as decimal(18, 2)) as converted_amount,
    coalesce(complaints.complaints_in_window, 0) > 0 as has_complained_in_window,
    cast(surveys.nps_in_window as double) as nps_in_window,
    -- A held-out customer costs nothing; the source system's own campaigns cost the var's per-channel rate.
    -- Money stays decimal so that sums do not depend on the order rows are added in.
    cast(case
        when labels.is_control then 0
        else coalesce(catalogue.cost_per_contact_eur, {{ var('source_campaign_cost_per_contact_eur') }})
    end as decimal(10, 2)) as contact_cost_eur,
    cast(case
        when not labels.is_control and labels.label = 1 then coalesce(catalogue.incentive_eur, 0)
        else 0
    end as decimal(10, 2)) as incentive_paid_eur,
    cast(products.value_per_conversion_eur as double) as value_per_conversion_eur
from labels
left join contacts using (contact_id)
left join campaigns using (campaign_id)
left join catalogue
    on labels.campaign_id = catalogue.campaign_id
    and labels.channel = catalogue.channel
left join responses using (contact_id)
left join complaints using (contact_id)
left join surveys using (contact_id)
left join products using (product_code)
left join {{ ref('customer_lifecycle_history') }} as lifecycle
    on labels.customer_id = lifecycle.customer_id
    and lifecycle.segment_date = cast(labels.event_timestamp as date) - 1
