{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='segment_date') }}
-- Grain: one row per customer and segment date: the life-cycle stage and value
-- tier the rules give at the end of that day. A daily run adds the days since the last one built (the run date); a
-- full refresh recomputes every day from the same inputs, so both agree.
--
-- Life-cycle rules, first match wins (thresholds are vars in dbt_project.yml;
-- docs/warehouse.md gives their measured agreement with the synthetic bank's
-- hidden stage):
--   churned    every account the customer opened is closed
--   dormant    60 days observed and at most lifecycle_dormant_max_actions
--              customer-initiated actions (transactions that are not standing
--              orders, plus logins) in them
--   new        tenure under lifecycle_new_tenure_days
--   growing    60 days observed, the 30-day average balance rose by at least
--              lifecycle_growing_min_balance_trend months of income against a
--              month earlier, and actions did not fall by more than
--              lifecycle_growing_min_activity_trend
--   declining  60 days observed and the balance fell by lifecycle_declining_max_balance_trend
--              months of income, or actions fell by lifecycle_declining_max_activity_trend,
--              or less than lifecycle_declining_min_income_ratio of the declared
--              income arrived in 60 days (salary moving away)
--   mature     everything else (also whoever the warehouse has seen for under 60 days)
with signals as (
    select * from {{ ref('int_customer_lifecycle_signals') }}
    {% if is_incremental() %}
    where segment_date between {{ incremental_start('segment_date') }} and {{ run_date() }}
    {% endif %}
),

trends as (
    select
        *,
        accounts_opened > 0 and open_accounts = 0 as is_churned,
        observed_days_60d >= 60 as has_60d_history,
        -- Trends in months of declared income (at least 500 EUR, so tiny incomes do not explode them).
        (balance_avg_30d - balance_avg_30d_prior) / greatest(monthly_income, 500) as balance_trend,
        (customer_actions_30d - (customer_actions_60d - customer_actions_30d))
            / greatest(customer_actions_60d - customer_actions_30d, 5) as activity_trend,
        income_60d / (2 * greatest(monthly_income, 500)) as income_ratio_60d
    from signals
),

staged as (
    select
        *,
        case
            when is_churned then 'churned'
            when has_60d_history
                and customer_actions_60d <= {{ var('lifecycle_dormant_max_actions') }} then 'dormant'
            when tenure_days < {{ var('lifecycle_new_tenure_days') }} then 'new'
            when has_60d_history
                and balance_trend >= {{ var('lifecycle_growing_min_balance_trend') }}
                and activity_trend >= {{ var('lifecycle_growing_min_activity_trend') }} then 'growing'
            when has_60d_history
                and (balance_trend <= {{ var('lifecycle_declining_max_balance_trend') }}
                     or activity_trend <= {{ var('lifecycle_declining_max_activity_trend') }}
                     or income_ratio_60d < {{ var('lifecycle_declining_min_income_ratio') }}) then 'declining'
            else 'mature'
        end as lifecycle_stage
    from trends
),

-- Value: the mean of the customer's percentile ranks of 30-day average balance
-- and declared income among the customers who have not churned, that day.
ranked as (
    select
        customer_id,
        segment_date,
        (percent_rank() over (partition by segment_date order by balance_avg_30d)
         + percent_rank() over (partition by segment_date order by monthly_income)) / 2 as value_score
    from staged
    where not is_churned
),

tiered as (
    select
        customer_id,
        segment_date,
        value_score,
        percent_rank() over (partition by segment_date order by value_score) as value_percentile
    from ranked
)

select
    staged.customer_id,
    staged.segment_date,
    staged.lifecycle_stage,
    case
        when tiered.value_percentile >= 0.95 then 'platinum'
        when tiered.value_percentile >= 0.80 then 'gold'
        when tiered.value_percentile >= 0.50 then 'silver'
        else 'bronze'
    end as value_tier,
    cast(round(tiered.value_score, 6) as double) as value_score,
    staged.tenure_days,
    staged.has_60d_history,
    staged.customer_actions_60d,
    cast(round(staged.balance_trend, 6) as double) as balance_trend,
    cast(round(staged.activity_trend, 6) as double) as activity_trend,
    cast(round(staged.income_ratio_60d, 6) as double) as income_ratio_60d,
    staged.open_accounts
from staged
left join tiered using (customer_id, segment_date)
