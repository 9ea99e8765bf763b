"""Offline sources: the customer feature mart exported from the warehouse as Parquet.

The path comes from the platform settings (one partition folder per feature date).
"""

from feast import FileSource
from feast.data_format import ParquetFormat

from bankmkt.settings import get_settings

customer_features_source = FileSource(
    name="customer_features_source",
    path=str(get_settings().feature_export_glob),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    description="Daily customer feature mart (dbt model customer_features); "
    "event_timestamp is the start of the day after the feature date.",
)
