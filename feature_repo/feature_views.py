"""Customer feature views, grouped by meaning.

Every view reads the same daily snapshot; the TTL says how old a value may be
when a training row uses it: a day's snapshot lands every morning, so the
behavioural views tolerate a missed run or two, the profile and experience
views change slowly and tolerate more.

The TTL bounds Feast's point-in-time join (training sets). Feast's online read
serves the last published value whatever its age; the serving API returns each
view's event time with the values (docs/feature_store.md).
"""

from datetime import timedelta

from data_sources import customer_features_source
from entities import customer
from feast import FeatureView, Field
from feast.types import Float64, Int32


def _view(name: str, description: str, ttl_days: int, fields: list[Field]) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[customer],
        ttl=timedelta(days=ttl_days),
        schema=fields,
        source=customer_features_source,
        online=True,
        description=description,
        tags={"owner": "marketing-data", "mart": "customer_features"},
    )


customer_profile = _view(
    "customer_profile",
    "Age, tenure, declared income, gender and marketing consent.",
    35,
    [
        Field(name="age", dtype=Int32),
        Field(name="tenure_days", dtype=Int32),
        Field(name="monthly_income", dtype=Float64),
        Field(name="is_female", dtype=Int32),
        Field(name="has_marketing_consent", dtype=Int32),
    ],
)

customer_balances = _view(
    "customer_balances",
    "End-of-day balance over all accounts and of the savings accounts, the 30-day average and trend.",
    3,
    [
        Field(name="balance_total", dtype=Float64),
        Field(name="balance_savings", dtype=Float64),
        Field(name="balance_avg_30d", dtype=Float64),
        Field(name="balance_trend_30d", dtype=Float64),
    ],
)

customer_transactions = _view(
    "customer_transactions",
    "Recency, frequency, monetary value and spend mix over 30 and 90 days.",
    3,
    [
        Field(name="txn_count_30d", dtype=Int32),
        Field(name="txn_count_90d", dtype=Int32),
        Field(name="spend_30d", dtype=Float64),
        Field(name="spend_90d", dtype=Float64),
        Field(name="income_90d", dtype=Float64),
        Field(name="spend_to_income_90d", dtype=Float64),
        Field(name="days_since_last_txn", dtype=Int32),
        Field(name="spend_share_travel_90d", dtype=Float64),
        Field(name="spend_share_dining_90d", dtype=Float64),
        Field(name="spend_share_groceries_90d", dtype=Float64),
    ],
)

customer_digital = _view(
    "customer_digital",
    "Digital engagement: logins and product page views over 30 days.",
    3,
    [
        Field(name="digital_logins_30d", dtype=Int32),
        Field(name="product_views_30d", dtype=Int32),
    ],
)

customer_holdings = _view(
    "customer_holdings",
    "Products held at the end of the day.",
    7,
    [
        Field(name="n_products_held", dtype=Int32),
        Field(name="has_credit_card", dtype=Int32),
        Field(name="has_personal_loan", dtype=Int32),
        Field(name="has_term_deposit", dtype=Int32),
        Field(name="has_wealth_management", dtype=Int32),
        Field(name="has_mortgage", dtype=Int32),
    ],
)

customer_experience = _view(
    "customer_experience",
    "Complaints over 90 days and the last NPS answer.",
    35,
    [
        Field(name="complaints_90d", dtype=Int32),
        Field(name="last_nps", dtype=Float64),
    ],
)

ALL_VIEWS = [
    customer_profile,
    customer_balances,
    customer_transactions,
    customer_digital,
    customer_holdings,
    customer_experience,
]
