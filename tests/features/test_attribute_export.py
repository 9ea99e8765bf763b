"""The bank's declared attributes as Feast's source: the state after each change, typed by the declaration."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pandas as pd

from bankmkt.attributes import AttributeSpec, write_declaration
from bankmkt.features.export import export_customer_attributes
from bankmkt.features.retrieval import with_attributes
from bankmkt.settings import Settings

SPECS = [
    AttributeSpec("marital", "category", ("single", "married", "divorced")),
    AttributeSpec("credit_limit", "number"),
]


def _history(settings: Settings, rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "attribute", "value", "valid_from"])
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.register("history_rows", frame)
        con.execute("create or replace table customer_attribute_history as select * from history_rows")


def test_each_change_carries_every_attribute_known_then_and_unknown_is_code_0(tmp_path):
    settings = Settings(platform_env="local", data_dir=tmp_path / "data")
    write_declaration(settings, SPECS)
    _history(
        settings,
        [
            ("C1", "marital", "single", datetime(2024, 1, 1)),
            ("C1", "credit_limit", "1000", datetime(2024, 1, 1)),
            ("C1", "marital", "married", datetime(2024, 1, 5, 9)),
            ("C2", "credit_limit", "unknown", datetime(2024, 1, 2)),
            ("C2", "marital", "divorced", datetime(2024, 1, 9)),  # after the run date: not exported yet
        ],
    )
    result = export_customer_attributes(date(2024, 1, 6), settings)
    assert result["attributes"] == 2 and result["attribute_rows"] == 3
    exported = pd.read_parquet(settings.attribute_export_path)
    assert exported.dtypes["attr_marital"] == "int32" and exported.dtypes["attr_credit_limit"] == "float64"
    rows = {(r.customer_id, r.event_timestamp): (r.attr_marital, r.attr_credit_limit) for r in exported.itertuples()}
    assert rows[("C1", pd.Timestamp("2024-01-01"))] == (1, 1000.0)  # single
    assert rows[("C1", pd.Timestamp("2024-01-05 09:00"))] == (2, 1000.0)  # married, the limit still holds
    marital, limit = rows[("C2", pd.Timestamp("2024-01-02"))]
    assert marital == 0 and pd.isna(limit)  # no value yet: unknown; 'unknown' number: missing

    # The scoring frame of the run date: each customer's latest state, unknown for a customer without one.
    scoring = with_attributes(pd.DataFrame({"customer_id": ["C1", "C2", "C3"]}), date(2024, 1, 6), settings)
    assert scoring["attr_marital"].tolist() == [2, 0, 0]
    assert scoring["attr_credit_limit"].iloc[0] == 1000.0 and scoring["attr_credit_limit"].iloc[1:].isna().all()


def test_a_bank_that_declares_nothing_exports_nothing(tmp_path):
    settings = Settings(platform_env="local", data_dir=tmp_path / "data")
    assert export_customer_attributes(date(2024, 1, 6), settings) == {"attributes": 0}
    assert not settings.attribute_export_path.exists()
    frame = pd.DataFrame({"customer_id": ["C1"]})
    assert with_attributes(frame, date(2024, 1, 6), settings) is frame
