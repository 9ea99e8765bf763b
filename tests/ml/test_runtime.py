"""The one run-date parser and the one atomic writer (ml.runtime), which ml and the platform share."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from ml.runtime import parse_run_date, write_atomically


@pytest.mark.parametrize(
    "value",
    [
        date(2024, 3, 1),
        datetime(2024, 3, 1, 23, 59, tzinfo=UTC),
        pd.Timestamp("2024-03-01 06:00"),
        "2024-03-01",
        " 2024-03-01\n",
        "2024-03-01T00:00:00+00:00",
        "2024-03-01 00:00:00",
    ],
)
def test_a_run_date_from_a_date_a_datetime_or_iso_text(value):
    parsed = parse_run_date(value)
    assert parsed == date(2024, 3, 1) and type(parsed) is date


@pytest.mark.parametrize("value", ["2024-13-01", "01/03/2024", "", "2024-03-01garbage", None])
def test_anything_else_is_an_error_that_names_the_value(value):
    with pytest.raises(ValueError, match=r"run date .* is not a date of the form YYYY-MM-DD"):
        parse_run_date(value)


def test_an_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "lists.csv"
    path.write_text("old\n")
    write_atomically(path, lambda partial: partial.write_text("new\n"))
    assert path.read_text() == "new\n"
    write_atomically(path, lambda partial: partial.write_bytes(b"\x00bytes"))
    assert path.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["lists.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = tmp_path / "lists.csv"
    path.write_text("old\n")

    def fails(partial):
        partial.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, fails)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["lists.csv"]
