{#- Rows must be unique over a combination of columns (a composite key).
    With `new_since` (a day column), the rows written from tested_since() on are checked against
    every row, old or new, without grouping the whole table: a daily build's test reads the new
    keys and looks each one up once in the older rows. -#}
{% test unique_combination_of_columns(model, columns, new_since=none) %}
{%- set key = columns | join(', ') -%}
{%- if new_since is none %}
select {{ key }}, count(*) as occurrences
from {{ model }}
group by {{ key }}
having count(*) > 1
{%- else %}
with new_rows as (
    select {{ key }} from {{ model }} where {{ new_since }} >= {{ tested_since() }}
),

new_keys as (
    select {{ key }}, count(*) as occurrences from new_rows group by {{ key }}
),

older as (
    select {{ key }}, count(*) as occurrences
    from (select {{ key }} from {{ model }} where {{ new_since }} < {{ tested_since() }}) as previous
    semi join new_keys using ({{ key }})
    group by {{ key }}
)

select {{ key }}, new_keys.occurrences + coalesce(older.occurrences, 0) as occurrences
from new_keys
left join older using ({{ key }})
where new_keys.occurrences + coalesce(older.occurrences, 0) > 1
{%- endif %}
{% endtest %}
