"""Feature services: the exact feature set each model version was trained on (`<model>_v<N>`).

A model version's MLflow run is tagged with its service; a new feature set is
a new service (``_v2``), so that models trained on ``_v1`` keep reading
exactly their features while the new one is rolled out.

History:

* ``propensity_v1``: the six behavioural views as first published (28 features).
* ``propensity_v2``: v1 plus ``balance_savings``, the savings accounts' balance
  (the term-deposit and wealth propensities depend on savings, which the total
  balance hides). What the product models train on now.
* ``churn_v1``: the v1 features.
* ``propensity_v3`` / ``churn_v2``: v2's views plus the bank's own declared customer
  attributes (``customer_attributes``, attribute_views.py; a bank that declares none gets v2's
  features under the new name). What the models train on now.
"""

from attribute_views import ATTRIBUTE_VIEWS
from feast import FeatureService
from feature_views import ALL_VIEWS
from segment_views import customer_segments

# Features added after version 1 of the model services, by the service version that added them.
ADDED_IN_V2 = ("balance_savings",)


def _as_of_v1(view):
    """``view`` projected on the features it had in version 1 (the whole view when nothing was added)."""
    names = [field.name for field in view.features]
    kept = [name for name in names if name not in ADDED_IN_V2]
    return view if kept == names else view[kept]


V1_VIEWS = [_as_of_v1(view) for view in ALL_VIEWS]

# Version 1 of the product propensity models: the views as first published.
propensity_v1 = FeatureService(
    name="propensity_v1",
    features=V1_VIEWS,
    description="Features of the product propensity models, version 1.",
    tags={"model": "propensity", "version": "1"},
)

# Version 2: every customer view, the savings balance included.
propensity_v2 = FeatureService(
    name="propensity_v2",
    features=ALL_VIEWS,
    description="Features of the product propensity models, version 2 (v1 plus balance_savings).",
    tags={"model": "propensity", "version": "2"},
)

# Version 1 of the churn-risk model: its own service so that either model can move on alone.
churn_v1 = FeatureService(
    name="churn_v1",
    features=V1_VIEWS,
    description="Features of the churn-risk model, version 1.",
    tags={"model": "churn", "version": "1"},
)

# Version 3: v2 plus the attributes the bank declares (reference/customer_attributes.csv).
propensity_v3 = FeatureService(
    name="propensity_v3",
    features=[*ALL_VIEWS, *ATTRIBUTE_VIEWS],
    description="Features of the product propensity models, version 3 (v2 plus the bank's declared attributes).",
    tags={"model": "propensity", "version": "3"},
)

# Version 2 of the churn-risk model: every customer view plus the bank's declared attributes.
churn_v2 = FeatureService(
    name="churn_v2",
    features=[*ALL_VIEWS, *ATTRIBUTE_VIEWS],
    description="Features of the churn-risk model, version 2 (every view plus the bank's declared attributes).",
    tags={"model": "churn", "version": "2"},
)

# Everything the store knows about a customer, segments included: what marketing tools and
# analysts read online (python -m bankmkt.serving --feature-service customer_360_v1).
# A lookup service read by column name, so new features are added to it in place.
customer_360_v1 = FeatureService(
    name="customer_360_v1",
    features=[*ALL_VIEWS, customer_segments, *ATTRIBUTE_VIEWS],
    description="Every customer feature view plus the segments, version 1.",
    tags={"model": "none", "version": "1", "audience": "marketing"},
)
