"""Publish customer features: Parquet export, `feast apply`, materialisation, retrieval.

The warehouse is read through read-only DuckDB connections (dbt stays its only
writer); Feast reads the exported Parquet as its offline source. Publication is
Feast's own ``store.materialize``: the repo's ``feature_store.yaml`` names the
platform's plugin (:mod:`bankmkt.feast_plugin`: a batch engine and online
stores that write whole partitions in Feast's storage format), so the
``feast`` command line gets the same speed. ``FEATURE_PUBLISH=plain`` (or
``--plain``) publishes through Feast's plain stores and local engine instead.

Command line::

    python -m bankmkt.features materialize --date 2024-03-15 [--plain]
    python -m bankmkt.features backfill --from 2024-03-01 --to 2024-03-15 [--plain]

Parts: :mod:`.export` (the mart as Parquet), :mod:`.repo` (the Feast store,
`feast apply`, trial projects), :mod:`.publish` (materialisation of a day, the
backfill), :mod:`.retrieval` (training sets, scoring frame, online values),
:mod:`.cli` (the command line).
"""

from bankmkt.features.cli import main
from bankmkt.features.common import (
    CHURN_FEATURE_SERVICE,
    CUSTOMER_360_SERVICE,
    ENTITY_KEY,
    FEATURE_SERVICE,
    PUBLISH_METHODS,
    SEGMENT_COLUMNS,
    FeaturePublicationError,
)
from bankmkt.features.export import export_customer_attributes, export_feature_mart, staged_feature_dates
from bankmkt.features.publish import backfill, materialization_window, materialize_day, publish_method
from bankmkt.features.repo import (
    apply_feature_repo,
    feature_columns,
    feature_names,
    feature_store,
    model_feature_names,
    remove_project,
    settings_for_project,
    settings_with_store_yaml,
)
from bankmkt.features.retrieval import (
    churn_training_set,
    online_features,
    scoring_frame,
    training_set,
)

__all__ = [
    "CHURN_FEATURE_SERVICE",
    "CUSTOMER_360_SERVICE",
    "ENTITY_KEY",
    "FEATURE_SERVICE",
    "PUBLISH_METHODS",
    "SEGMENT_COLUMNS",
    "FeaturePublicationError",
    "apply_feature_repo",
    "backfill",
    "churn_training_set",
    "export_customer_attributes",
    "export_feature_mart",
    "feature_columns",
    "feature_names",
    "model_feature_names",
    "feature_store",
    "main",
    "materialization_window",
    "materialize_day",
    "online_features",
    "publish_method",
    "remove_project",
    "scoring_frame",
    "settings_for_project",
    "settings_with_store_yaml",
    "staged_feature_dates",
    "training_set",
]
