"""Feature services: the exact feature set each model version was trained on (`<model>_v<N>`).

A model version's MLflow run is tagged with its service; a new feature set is
a new service (``_v2``), so that models trained on ``_v1`` keep reading
exactly their features while the new one is rolled out.
"""

from feast import FeatureService

from feature_views import ALL_VIEWS
from segment_views import customer_segments

# Version 1 of the product propensity models reads every customer view.
propensity_v1 = FeatureService(
    name="propensity_v1",
    features=ALL_VIEWS,
    description="Features of the product propensity models, version 1.",
    tags={"model": "propensity", "version": "1"},
)

# Version 1 of the churn-risk model: the same views, its own service so that either can move on alone.
churn_v1 = FeatureService(
    name="churn_v1",
    features=ALL_VIEWS,
    description="Features of the churn-risk model, version 1.",
    tags={"model": "churn", "version": "1"},
)

# Everything the store knows about a customer, segments included: what marketing tools and
# analysts read online (python -m bankmkt.serving --feature-service customer_360_v1).
customer_360_v1 = FeatureService(
    name="customer_360_v1",
    features=[*ALL_VIEWS, customer_segments],
    description="Every customer feature view plus the segments, version 1.",
    tags={"model": "none", "version": "1", "audience": "marketing"},
)
