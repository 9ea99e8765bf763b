"""The customer's segments as features: life-cycle stage, value tier and needs segment.

Read from the same daily export as the behavioural views (the export joins the
segments of each feature date, see bankmkt.features.EXPORT_QUERY). They are
labels, not model inputs: the propensity and churn services leave them out and
the models report their metrics per life-cycle stage instead; marketing tools
read them online through the ``customer_360_v1`` service.
"""

from datetime import timedelta

from data_sources import customer_features_source
from entities import customer
from feast import FeatureView, Field
from feast.types import String

# Segments are recomputed every day; two days tolerate one missed run.
customer_segments = FeatureView(
    name="customer_segments",
    entities=[customer],
    ttl=timedelta(days=2),
    schema=[
        Field(name="lifecycle_stage", dtype=String, description="new, growing, mature, declining, dormant or churned"),
        Field(name="value_tier", dtype=String, description="platinum, gold, silver or bronze"),
        Field(name="needs_segment", dtype=String, description="needs cluster of the run date (empty on earlier dates)"),
    ],
    source=customer_features_source,
    online=True,
    description="Life-cycle stage, value tier and needs segment of the day (dbt customer_lifecycle_history, customer_segments).",
    tags={"owner": "marketing-data", "mart": "customer_segments"},
)
