"""Feature services: the exact feature set a model version was trained on."""

from feast import FeatureService

from feature_views import ALL_VIEWS

# Version 1 of the propensity models reads every customer view.
propensity_v1 = FeatureService(
    name="propensity_v1",
    features=ALL_VIEWS,
    description="Features of the product propensity models, version 1.",
    tags={"model": "propensity", "version": "1"},
)
