{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot_date') }}
-- Grain: one row per customer and weekly snapshot date (Mondays) whose 60-day
-- outcome window (the 60 days after the snapshot) has closed by the end of the
-- run date. Customers with at least one open account at the end of the snapshot
-- date are labelled. label = 1 when the customer churned within the window:
-- every account closed by its last day, or not one transaction (standing orders
-- included) and not one login in its 60 days. event_timestamp is the start of
-- the day after the snapshot, when the snapshot's features (customer_features of
-- snapshot_date) became known.
-- A daily run adds the snapshots whose window closed since the last one stored
-- (normally none, on one day a week one) and reads the activity table from that
-- snapshot on.
{% set outcome_days = 60 %}

with bounds as (
    select
        {% if is_incremental() %}
        coalesce(
            (select max(snapshot_date) from {{ this }}) + 1,
            {{ history_start() }}
        ) as first_snapshot_date,
        {% else %}
        {{ history_start() }} as first_snapshot_date,
        {% endif %}
        {{ run_date() }} - {{ outcome_days }} as last_snapshot_date
),

snapshots as (
    select cast(day as date) as snapshot_date
    from bounds,
        generate_series(
            cast(first_snapshot_date as timestamp),
            cast(last_snapshot_date as timestamp),
            interval 1 day
        ) as days(day)
    where isodow(day) = 1
),

accounts as (
    select * from {{ ref('int_accounts_versioned') }}
),

population as (
    select
        snapshots.snapshot_date,
        accounts.customer_id,
        -- Accounts opened during the window keep the customer (they are open at its end).
        count(*) filter (
            where accounts.closed_on is null
            or accounts.closed_on > snapshots.snapshot_date + {{ outcome_days }}
        ) as open_accounts_at_window_end
    from snapshots
    -- The accounts as known when the outcome window closed: what the daily run that labels the
    -- snapshot reads, whichever build (daily, a slice of the first load, a full refresh) labels it.
    inner join accounts
        on accounts.opened_on <= snapshots.snapshot_date + {{ outcome_days }}
        and accounts.known_from <= snapshots.snapshot_date + {{ outcome_days }}
        and (accounts.known_until is null or accounts.known_until > snapshots.snapshot_date + {{ outcome_days }})
    group by all
    having count(*) filter (
        where accounts.opened_on <= snapshots.snapshot_date
        and (accounts.closed_on is null or accounts.closed_on > snapshots.snapshot_date)
    ) > 0
),

active_days as (
    select activity.customer_id, activity.activity_date
    from {{ ref('int_customer_activity_aggregated_daily') }} as activity, bounds
    where activity.txn_count + activity.digital_logins > 0
        and activity.activity_date > bounds.first_snapshot_date
        and activity.activity_date <= {{ run_date() }}
),

-- Active days inside each snapshot's window (a hash join on the customer; an as-of
-- join was planned as a nested loop on small row estimates, quadratic in customers).
window_activity as (
    select population.snapshot_date, population.customer_id, count(*) as active_days
    from population
    inner join active_days
        on population.customer_id = active_days.customer_id
        and active_days.activity_date > population.snapshot_date
        and active_days.activity_date <= population.snapshot_date + {{ outcome_days }}
    group by all
),

outcomes as (
    select
        population.*,
        window_activity.active_days is null as is_inactive
    from population
    left join window_activity using (snapshot_date, customer_id)
)

select
    customer_id,
    snapshot_date,
    cast(snapshot_date + interval 1 day as timestamp) as event_timestamp,
    cast(snapshot_date + {{ outcome_days }} as date) as outcome_window_ends_on,
    case
        when open_accounts_at_window_end = 0 then 'accounts_closed'
        when is_inactive then 'no_activity'
    end as churn_reason,
    cast(open_accounts_at_window_end = 0 or is_inactive as integer) as label
from outcomes
