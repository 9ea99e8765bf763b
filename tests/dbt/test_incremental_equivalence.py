"""Daily incremental builds give the same warehouse as one full refresh.

The small bank of conftest.py (200 customers, 72 days from 2024-01-01) is built
twice from the same landing files:

* DATA_DIR A: a full refresh on 2024-02-11 (day 42), then incremental builds,
  one per day, 2024-02-12 to 2024-03-12 (each reading only its day's files),
  except 2024-02-16: the build of 2024-02-17 catches that day up (every
  incremental model fills the days since the last one it holds);
* DATA_DIR B: one full refresh on 2024-03-12, in one build;
* DATA_DIR C: a first build on 2024-03-12 in monthly slices, as a first load
  runs (bankmkt.warehouse.build_history_slices): January, February, then the
  days of March.

Every table of the two warehouses (staging views aside: they are queries) must
hold the same rows, compared both ways with EXCEPT ALL over read-only
connections. The thirty days cover what daily runs have to get right: a day
whose files re-deliver the previous day's rows (2024-03-09), weekly churn
snapshots whose outcome windows close (2024-03-01 and 2024-03-08), campaign
starts, response windows closing every day, 30- and 60-day windows filling and
then sliding, and life-cycle stages moving.

The chain starts from a full refresh at day 42 rather than at day 1 so that
its thirty days fall where every mart has rows (churn windows close from day
61, life-cycle trends need 60 observed days). Each daily build is a `dbt run`
(models only) with the date in DBT_RUN_DATE, so dbt's partial parse carries
over from day to day as in production; the full refresh is a `dbt build`, so
the data and unit tests run once on the same bank.
"""

from __future__ import annotations

import time
from datetime import timedelta

import duckdb
import pytest

pytestmark = pytest.mark.slow_warehouse

INCREMENTAL_DAYS = 30
SKIPPED_DAY = 5  # 2024-02-16: no build; the next day's catches it up


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    rows = con.execute(
        """
        select table_name, list(column_name order by ordinal_position)
        from information_schema.columns
        where table_catalog = ? and table_schema = 'main'
            and table_name in (select table_name from duckdb_tables() where database_name = ?)
        group by table_name
        """,
        [catalog, catalog],
    ).fetchall()
    return dict(rows)


def _differences(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> dict[str, list]:
    column_list = ", ".join(f'"{column}"' for column in columns)
    found = {}
    for left, right in (("daily_build", "full_build"), ("full_build", "daily_build")):
        rows = con.execute(
            f"select {column_list} from {left}.main.{table} except all "
            f"select {column_list} from {right}.main.{table} limit 3"
        ).fetchall()
        if rows:
            found[f"only in {left}"] = rows
    return found


@pytest.fixture(scope="module")
def daily_warehouse(small_bank, tmp_path_factory):
    settings = small_bank.data_dir(tmp_path_factory.mktemp("daily"))
    full_refresh_day = small_bank.last_day - timedelta(days=INCREMENTAL_DAYS)
    started = time.perf_counter()
    small_bank.build(settings, full_refresh_day, full_refresh=True, with_tests=False)
    timings = []
    for offset in range(1, INCREMENTAL_DAYS + 1):
        if offset == SKIPPED_DAY:
            continue
        day = full_refresh_day + timedelta(days=offset)
        day_started = time.perf_counter()
        small_bank.build(settings, day, with_tests=False)
        timings.append(round(time.perf_counter() - day_started, 1))
    print(f"daily chain: {time.perf_counter() - started:.0f}s, incremental runs {timings}")
    return settings


@pytest.fixture(scope="module")
def sliced_warehouse(small_bank, tmp_path_factory):
    """The small bank's first build at its last day, in slices of one month (the default)."""
    settings = small_bank.data_dir(tmp_path_factory.mktemp("sliced"))
    assert settings.warehouse_slice_months == 1
    summary = small_bank.build(settings, small_bank.last_day)
    assert summary["failures"] == []
    return settings, summary


def _assert_same_warehouse(built, full_refresh_warehouse, what: str) -> None:
    con = duckdb.connect()
    con.execute(f"attach '{built.warehouse_path}' as daily_build (read_only)")
    con.execute(f"attach '{full_refresh_warehouse.warehouse_path}' as full_build (read_only)")
    daily_tables, full_tables = _tables(con, "daily_build"), _tables(con, "full_build")
    assert sorted(daily_tables) == sorted(full_tables)
    assert {"customer_features", "customer_segments", "churn_labels", "campaign_effectiveness"} <= set(full_tables)

    mismatched = {
        table: _differences(con, table, columns)
        for table, columns in full_tables.items()
        if daily_tables[table] != columns or _differences(con, table, columns)
    }
    assert not mismatched, f"{what} and one full build differ: {mismatched}"


def test_daily_builds_equal_one_full_refresh(daily_warehouse, full_refresh_warehouse):
    _assert_same_warehouse(daily_warehouse, full_refresh_warehouse, "daily builds")


def test_first_load_in_monthly_slices_equals_one_build(small_bank, sliced_warehouse, full_refresh_warehouse):
    settings, summary = sliced_warehouse
    slices = summary["history_slices"]["slices"]
    assert [piece["until"] for piece in slices] == ["2024-01-31", "2024-02-29"]
    assert all(piece.get("error", 0) == 0 and piece.get("fail", 0) == 0 for piece in slices)
    # The unit tests ran with the first build, once, after the slices.
    assert any(uid.startswith("unit_test.") for uid in summary["nodes"])
    _assert_same_warehouse(settings, full_refresh_warehouse, "a first load in monthly slices")
    # A second build of the same day slices nothing: the warehouse holds the days before it.
    with small_bank.connect(settings) as con:
        assert con.execute("select max(feature_date) from customer_features").fetchall() == [(small_bank.last_day,)]
    from bankmkt.warehouse import build_history_slices
    from tests.dbt.conftest import preserved_environment

    with preserved_environment():
        assert build_history_slices(small_bank.last_day, settings)["slices"] == []


def test_incremental_days_added_rows(small_bank, daily_warehouse):
    """The comparison is not vacuous: the daily runs produced the rows of their days."""
    full_refresh_day = small_bank.last_day - timedelta(days=INCREMENTAL_DAYS)
    with small_bank.connect(daily_warehouse) as con:
        features_per_day = con.execute(
            "select count(distinct feature_date) from customer_features where feature_date > ?",
            [full_refresh_day],
        ).fetchone()[0]
        churn_snapshots = con.execute("select count(distinct snapshot_date) from churn_labels").fetchone()[0]
    assert features_per_day == INCREMENTAL_DAYS
    assert churn_snapshots == 2  # 2024-01-01 and 2024-01-08, added by the daily runs of 2024-03-01 and 2024-03-08
