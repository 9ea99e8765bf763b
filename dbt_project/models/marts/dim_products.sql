-- Grain: one row per product of the bank's catalogue (the codes the landing
-- contract allows in product_holdings), with the eligibility rules
-- customer_product_gaps applies. The catalogue is small and changes with a
-- release, so it lives here rather than in a source.
select
    product_code,
    product_name,
    product_family,
    is_promoted,
    min_age,
    max_age,
    cast(min_monthly_income as decimal(12, 2)) as min_monthly_income,
    cast(min_balance_total as decimal(14, 2)) as min_balance_total
from (
    values
        ('credit_card',       'Credit card',       'cards',      true,  18, 80, 600,  0),
        ('personal_loan',     'Personal loan',     'lending',    true,  18, 70, 900,  0),
        ('term_deposit',      'Term deposit',      'savings',    true,  18, null, 0,  1000),
        ('wealth_management', 'Wealth management', 'investment', true,  18, null, 0,  25000),
        ('mortgage',          'Mortgage',          'lending',    false, 18, 65, 1500, 0)
) as catalogue (
    product_code, product_name, product_family, is_promoted,
    min_age, max_age, min_monthly_income, min_balance_total
)
