{#- Newcombe's hybrid score interval (his method 10) for the difference of two
    proportions x1/n1 - x2/n2: Wilson intervals per arm, combined. It keeps its 95%
    coverage at the low conversion rates and small control groups of campaigns, where
    the Wald interval is too narrow. Null when an arm is empty. -#}
{% macro wilson_bound(x, n, sign, z=1.959964) -%}
    case when {{ n }} > 0 then
        (({{ x }}) / ({{ n }}) + {{ z }} * {{ z }} / (2.0 * {{ n }})
         {{ sign }} {{ z }} * sqrt(
            (({{ x }}) / ({{ n }})) * (1 - ({{ x }}) / ({{ n }})) / ({{ n }})
            + {{ z }} * {{ z }} / (4.0 * {{ n }} * {{ n }})
         )) / (1 + {{ z }} * {{ z }} / ({{ n }}))
    end
{%- endmacro %}

{% macro uplift_interval(x1, n1, x2, n2, bound) -%}
    {%- set p1 = '((' ~ x1 ~ ') / nullif(' ~ n1 ~ ', 0))' -%}
    {%- set p2 = '((' ~ x2 ~ ') / nullif(' ~ n2 ~ ', 0))' -%}
    {%- if bound == 'low' -%}
    ({{ p1 }} - {{ p2 }}) - sqrt(
        power({{ p1 }} - {{ wilson_bound(x1, n1, '-') }}, 2) + power({{ wilson_bound(x2, n2, '+') }} - {{ p2 }}, 2)
    )
    {%- else -%}
    ({{ p1 }} - {{ p2 }}) + sqrt(
        power({{ wilson_bound(x1, n1, '+') }} - {{ p1 }}, 2) + power({{ p2 }} - {{ wilson_bound(x2, n2, '-') }}, 2)
    )
    {%- endif -%}
{%- endmacro %}
