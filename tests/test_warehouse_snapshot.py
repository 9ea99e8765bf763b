"""Readers while the warehouse is written: the published snapshot (bankmkt.warehouse.publish_snapshot)."""

from __future__ import annotations

import duckdb
import pytest

from bankmkt import warehouse
from bankmkt.settings import _read


@pytest.fixture
def settings(tmp_path):
    settings = _read({"DATA_DIR": str(tmp_path), "PLATFORM_ENV": "local"})
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table fct_target_lists as select 1 as run_day, 'C0000001' as customer_id")
    return settings


WRITER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("insert into fct_target_lists values (2, 'C0000002')")
print("writing", flush=True)
time.sleep(60)
"""


def test_readers_read_the_snapshot_while_a_writer_holds_the_warehouse(settings):
    import subprocess
    import sys

    published = warehouse.publish_snapshot(settings)
    assert published["bytes"] > 0 and settings.warehouse_snapshot_path.exists()
    # dbt building day 2: another process holds the writer's lock
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(settings.warehouse_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        with pytest.raises(duckdb.IOException, match="lock"):
            warehouse.read_only_connection(settings)  # the file being written refuses readers
        with warehouse.read_only_connection(settings, snapshot=True) as reader:
            assert reader.execute("select max(run_day) from fct_target_lists").fetchall() == [
                (1,)
            ]  # the last published day
    finally:
        writer.kill()
        writer.wait()


def test_a_build_that_fails_before_publishing_leaves_readers_on_the_previous_day(settings):
    warehouse.publish_snapshot(settings)
    with duckdb.connect(str(settings.warehouse_path)) as writer:  # half of a day, then the build fails
        writer.execute("insert into fct_target_lists values (2, 'C0000002')")
    with warehouse.read_only_connection(settings, snapshot=True) as reader:
        assert reader.execute("select count(*) from fct_target_lists").fetchall() == [(1,)]
    warehouse.publish_snapshot(settings)  # the day passed its gate
    with warehouse.read_only_connection(settings, snapshot=True) as reader:
        assert reader.execute("select count(*) from fct_target_lists").fetchall() == [(2,)]


def test_a_reader_keeps_its_snapshot_while_a_new_one_replaces_it(settings):
    warehouse.publish_snapshot(settings)
    with warehouse.read_only_connection(settings, snapshot=True) as reader:
        with duckdb.connect(str(settings.warehouse_path)) as writer:
            writer.execute("insert into fct_target_lists values (2, 'C0000002')")
        warehouse.publish_snapshot(settings)  # renamed into place: the open reader keeps the old file
        assert reader.execute("select count(*) from fct_target_lists").fetchall() == [(1,)]
    with warehouse.read_only_connection(settings, snapshot=True) as reader:
        assert reader.execute("select count(*) from fct_target_lists").fetchall() == [(2,)]


def test_without_a_snapshot_readers_read_the_warehouse(settings):
    with warehouse.read_only_connection(settings, snapshot=True) as reader:
        assert reader.execute("select count(*) from fct_target_lists").fetchall() == [(1,)]


def test_a_warehouse_whose_lists_name_customers_by_number_is_migrated_in_place(tmp_path):
    """fct_target_lists built before pseudonyms: customer_id becomes customer_key, earlier days kept."""
    from bankmkt.pseudonyms import customer_keys

    settings = _read({"DATA_DIR": str(tmp_path), "PLATFORM_ENV": "local"})
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "create table fct_target_lists (run_date date not null, customer_id varchar not null, is_control boolean)"
        )
        con.execute(
            "insert into fct_target_lists values ('2024-03-01', 'C0000001', false), ('2024-03-02', 'C0000002', true)"
        )
    assert warehouse.migrate_target_lists(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("select * from fct_target_lists order by run_date").df()
    assert "customer_id" not in rows.columns and len(rows) == 2
    expected = customer_keys(rows.assign(c=["C0000001", "C0000002"])["c"], settings)
    assert rows["customer_key"].tolist() == expected.tolist()
    assert not warehouse.migrate_target_lists(settings)  # once
