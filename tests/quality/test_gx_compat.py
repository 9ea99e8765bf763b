"""The Great Expectations workaround: scoped to its block, same results, off on unchecked versions."""

from __future__ import annotations

import logging
from decimal import Decimal

import great_expectations as gx
import great_expectations.util as gx_util
import numpy as np
import pandas as pd
import pytest

from bankmkt import gx_compat


@pytest.fixture
def counted_scans(monkeypatch):
    """GX's Decimal scan, counting the arrays it really scans (the workaround wraps this counter)."""
    original = gx_util.does_ndarray_contain_decimal_dtype
    scanned: list[str] = []

    def scan(data) -> bool:
        scanned.append(str(data.dtype))
        return original(data=data)

    monkeypatch.setattr(gx_util, "does_ndarray_contain_decimal_dtype", scan)
    return scanned


def test_the_workaround_is_active_inside_the_block_and_gx_is_restored_after_it(counted_scans):
    scan = gx_util.does_ndarray_contain_decimal_dtype
    with gx_compat.numeric_columns_skip_decimal_scan() as active:
        assert active
        assert gx_util.does_ndarray_contain_decimal_dtype is not scan
        assert gx_util.does_ndarray_contain_decimal_dtype(data=np.arange(5.0)) is False
        assert gx_util.does_ndarray_contain_decimal_dtype(data=np.array([Decimal("1.5")], dtype=object)) is True
        with gx_compat.numeric_columns_skip_decimal_scan():  # nested: the outer block still holds it after
            pass
        assert gx_util.does_ndarray_contain_decimal_dtype is not scan
    assert gx_util.does_ndarray_contain_decimal_dtype is scan
    assert counted_scans == ["object"]  # the numeric array was never scanned

    with pytest.raises(RuntimeError), gx_compat.numeric_columns_skip_decimal_scan():
        raise RuntimeError("a failed validation")
    assert gx_util.does_ndarray_contain_decimal_dtype is scan


def _validate(frame: pd.DataFrame) -> list[tuple]:
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("customers")
        .add_dataframe_asset("features")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    E = gx.expectations
    suite = gx.ExpectationSuite(
        name="balances",
        expectations=[
            E.ExpectColumnMeanToBeBetween(column="balance_total", min_value=0, max_value=1000),
            E.ExpectColumnStdevToBeBetween(column="balance_total", min_value=0, max_value=1),  # fails
            E.ExpectColumnMeanToBeBetween(column="has_credit_card", min_value=0.2, max_value=0.8),
            E.ExpectColumnSumToBeBetween(column="fee", min_value=0, max_value=100),
            E.ExpectColumnMeanToBeBetween(column="fee", min_value=0, max_value=10),
        ],
    )
    result = batch.validate(suite)
    return sorted(
        (item.expectation_config.type, item.expectation_config.kwargs["column"], item.success, item.result)
        for item in result.results
    )


def test_results_are_the_same_with_and_without_the_workaround(counted_scans):
    frame = pd.DataFrame(
        {
            "balance_total": [120.5, 980.25, 15.0, 430.75, 77.0, 612.0],
            "has_credit_card": np.array([1, 0, 1, 1, 0, 0], dtype="int64"),
            "fee": [Decimal("1.50"), Decimal("2.25"), Decimal("0.00"), Decimal("3.10"), Decimal("4.00"), Decimal("1")],
        }
    )
    plain = _validate(frame)
    scanned_plain = list(counted_scans)
    counted_scans.clear()
    with gx_compat.numeric_columns_skip_decimal_scan():
        patched = _validate(frame)

    assert patched == plain
    observed = {
        (kind.removeprefix("expect_column_"), column): found["observed_value"] for kind, column, _, found in plain
    }
    assert observed[("stdev_to_be_between", "balance_total")] == pytest.approx(376.4953740)
    assert observed[("mean_to_be_between", "fee")] == pytest.approx(1.975)
    assert [success for _, _, success, _ in plain] == [True, True, True, False, True]
    assert "float64" in scanned_plain  # GX scans numeric columns on its own ...
    assert counted_scans and set(counted_scans) == {"object"}  # ... and only the Decimal column with the workaround


def test_an_unchecked_gx_version_runs_unpatched_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(gx, "__version__", "1.99.0")
    monkeypatch.setattr(gx_compat, "_warned", set())
    scan = gx_util.does_ndarray_contain_decimal_dtype
    with caplog.at_level(logging.WARNING, logger="bankmkt.gx_compat"):
        for _ in range(2):
            with gx_compat.numeric_columns_skip_decimal_scan() as active:
                assert not active
                assert gx_util.does_ndarray_contain_decimal_dtype is scan
    warnings = [r.getMessage() for r in caplog.records if r.name == "bankmkt.gx_compat"]
    assert len(warnings) == 1  # once per version and process
    assert "1.99.0" in warnings[0] and "1.24.1" in warnings[0]
