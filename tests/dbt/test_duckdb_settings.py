"""DuckDB's memory limit, threads and spill folder reach dbt (its profile) and the platform's own connections."""

from __future__ import annotations

import dataclasses

import pytest

pytestmark = pytest.mark.slow_warehouse


def test_dbt_and_the_readers_run_with_the_platforms_duckdb_settings(full_refresh_warehouse, small_bank, capsys):
    from bankmkt import warehouse

    settings = dataclasses.replace(full_refresh_warehouse, duckdb_memory_limit="1GiB", duckdb_threads=1)
    query = (
        "select current_setting('memory_limit') as memory_limit, current_setting('threads') as threads, "
        f"current_setting('temp_directory') = '{settings.duckdb_temp_dir}' as spills_in_data_dir"
    )
    small_bank.dbt(settings, ["show", "--inline", query])
    shown = capsys.readouterr().out
    assert [cell.strip() for cell in shown.split("Previewing inline node:")[1].splitlines()[3].split("|")[1:4]] == [
        "1.0 GiB",
        "1",
        "True",
    ], shown[-2000:]
    with warehouse.read_only_connection(settings) as con:
        assert con.execute(query).fetchall() == [("1.0 GiB", 1, True)]
