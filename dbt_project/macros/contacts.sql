{#- The outcome of a customer's earlier campaign as a model feature's code: 0 none or unknown,
    1 success, 2 failure, 3 other (ml.CONTACT_OUTCOME_CODES says the same). -#}
{% macro previous_outcome_code(column) -%}
    cast(case {{ column }} when 'success' then 1 when 'failure' then 2 when 'other' then 3 else 0 end as integer)
{%- endmacro %}
