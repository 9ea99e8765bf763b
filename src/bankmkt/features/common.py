"""Names every part of the feature publication shares."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

FEATURE_SERVICE = "propensity_v3"
CHURN_FEATURE_SERVICE = "churn_v2"
CUSTOMER_360_SERVICE = "customer_360_v1"
ENTITY_KEY = "customer_id"
# The segment labels the export adds to every feature date (feature view customer_segments).
SEGMENT_COLUMNS = ("lifecycle_stage", "value_tier", "needs_segment")
PUBLISH_METHODS = ("fast", "plain")


class FeaturePublicationError(RuntimeError):
    """The feature mart could not be exported or published."""


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
