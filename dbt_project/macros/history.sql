{#- The first day the warehouse knows anything of: the first day with activity (transactions,
    balances, digital events, complaints) or, for a bank whose extracts carry none (an e-mail
    experiment, an attrition snapshot), the first day a customer was delivered. -#}
{% macro history_start() -%}
    coalesce(
        (select min(activity_date) from {{ ref('int_customer_activity_aggregated_daily') }}),
        (select min(first_delivered_on) from {{ ref('dim_customers') }})
    )
{%- endmacro %}
