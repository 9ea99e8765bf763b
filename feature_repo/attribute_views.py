"""The bank's own customer attributes as one feature view, built from the bank's declaration.

The platform's core views (feature_views.py) are the same for every bank; what a bank knows
beyond them (marital status, education, a credit limit...) it declares in
``DATA_DIR/reference/customer_attributes.csv`` (docs/adapters.md). This module turns that
declaration into the view ``customer_attributes``: one field ``attr_<name>`` per attribute, a
category as its code (0 for unknown, then the declared categories in order, 1, 2, ...), a
number as a float. Without a declaration (or an empty one) there is no such view.

The values come from the platform's attribute export (FEAST_ATTRIBUTE_SOURCE): one row per
customer and change, holding every attribute's value after the change. An attribute holds
until it changes, so the TTL is long: ten years.
"""

import csv
import os
from datetime import timedelta
from pathlib import Path

from entities import customer
from feast import FeatureView, Field, FileSource
from feast.data_format import ParquetFormat
from feast.types import Float64, Int32

DECLARATION = os.environ.get("FEAST_CUSTOMER_ATTRIBUTES", "")
ATTRIBUTE_SOURCE = os.environ.get("FEAST_ATTRIBUTE_SOURCE", "")


def _declared() -> list[dict]:
    if not DECLARATION or not Path(DECLARATION).is_file():
        return []
    with open(DECLARATION, encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if (row.get("attribute") or "").strip()]


def _field(row: dict) -> Field:
    name = "attr_" + row["attribute"].strip()
    description = (row.get("description") or "").strip()
    if row["kind"].strip() == "category":
        codes = ["unknown", *[c.strip() for c in row["categories"].split(";") if c.strip() and c.strip() != "unknown"]]
        legend = ", ".join(f"{i} {value}" for i, value in enumerate(codes))
        return Field(name=name, dtype=Int32, description=f"{description} (codes: {legend})".strip())
    return Field(name=name, dtype=Float64, description=description)


DECLARED = _declared()
if DECLARED and not ATTRIBUTE_SOURCE:
    raise RuntimeError(
        "FEAST_ATTRIBUTE_SOURCE is not set: the bank declares customer attributes but the repo does not know "
        'where their export is. Export the platform\'s variables first: eval "$(python -m bankmkt.settings --shell)"'
    )

customer_attributes_source = (
    FileSource(
        name="customer_attributes_source",
        path=ATTRIBUTE_SOURCE,
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        description="The bank's declared customer attributes, one row per customer and change (bankmkt.features.export).",
    )
    if DECLARED
    else None
)

customer_attributes = (
    FeatureView(
        name="customer_attributes",
        entities=[customer],
        ttl=timedelta(days=3650),
        schema=[_field(row) for row in DECLARED],
        source=customer_attributes_source,
        online=True,
        description="The bank's own customer attributes, as declared in reference/customer_attributes.csv.",
        tags={"owner": "marketing-data", "mart": "customer_attribute_history"},
    )
    if DECLARED
    else None
)

# The views to add to the model services: none for a bank that declares nothing.
ATTRIBUTE_VIEWS = [customer_attributes] if customer_attributes is not None else []
