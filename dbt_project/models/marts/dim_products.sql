-- Grain: one row per product of the bank's catalogue (the codes the landing
-- contract allows in product_holdings), with the eligibility rules
-- customer_product_gaps applies. The catalogue is small and changes with a
-- release, so it lives here rather than in a source. value_per_conversion_eur is the
-- expected first-year margin of one conversion; ml.PRODUCT_VALUE holds the same figures
-- for targeting (a test keeps the two equal).
select
    product_code,
    product_name,
    product_family,
    is_promoted,
    min_age,
    max_age,
    cast(min_monthly_income as decimal(12, 2)) as min_monthly_income,
    cast(min_balance_total as decimal(14, 2)) as min_balance_total,
    cast(value_per_conversion_eur as double) as value_per_conversion_eur
from (
    values
        ('credit_card',       'Credit card',       'cards',      true,  18, 80, 600,  0,     150),
        ('personal_loan',     'Personal loan',     'lending',    true,  18, 70, 900,  0,     400),
        ('term_deposit',      'Term deposit',      'savings',    true,  18, null, 0,  1000,  100),
        ('wealth_management', 'Wealth management', 'investment', true,  18, null, 0,  25000, 600),
        ('mortgage',          'Mortgage',          'lending',    false, 18, 65, 1500, 0,     null)
) as catalogue (
    product_code, product_name, product_family, is_promoted,
    min_age, max_age, min_monthly_income, min_balance_total, value_per_conversion_eur
)
