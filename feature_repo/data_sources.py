"""Offline sources: the customer feature mart exported from the warehouse as Parquet.

The path is the platform's export glob (one partition folder per feature date), from the variable
FEAST_OFFLINE_SOURCE that the platform exports beside the ones feature_store.yaml reads
(``eval "$(python -m bankmkt.settings --shell)"`` in a shell, docs/feature_store.md).
"""

import os

from feast import FileSource
from feast.data_format import ParquetFormat

EXPORT_GLOB = os.environ.get("FEAST_OFFLINE_SOURCE", "")
if not EXPORT_GLOB:
    raise RuntimeError(
        "FEAST_OFFLINE_SOURCE is not set: the feature repo reads the platform's exported features from it. "
        'Export the platform\'s variables first: eval "$(python -m bankmkt.settings --shell)"'
    )

customer_features_source = FileSource(
    name="customer_features_source",
    path=EXPORT_GLOB,
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="Daily customer feature mart (dbt model feature_export, validated then published); "
    "event_timestamp is the start of the day after the feature date.",
)
