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


def test_the_spill_folder_is_set_once_per_database_not_on_every_dbt_cursor(tmp_path):
    """dbt-duckdb runs a profile's `settings` on every new cursor; DuckDB refuses to set the temporary
    directory again once something spilled there, so a large first load failed on the first node after
    a spilling model. The profile sets it once, at connect (`config_options`)."""
    import duckdb
    import yaml

    from bankmkt.settings import get_settings

    profile = yaml.safe_load(get_settings().dbt_project_dir.joinpath("profiles.yml").read_text())
    for target in profile["bank_marketing"]["outputs"].values():
        assert "temp_directory" not in target["settings"]
        assert "temp_directory" in target["config_options"]
    # What DuckDB does, which the profile avoids: spill, then set the folder again on a new cursor.
    spill = str(tmp_path / "spill")
    con = duckdb.connect(str(tmp_path / "w.duckdb"), config={"temp_directory": spill, "memory_limit": "64MiB"})
    con.execute("create table t as select random() as r, i from range(4000000) t(i) order by r").fetchall()
    with pytest.raises(duckdb.NotImplementedException, match="Cannot switch temporary directory"):
        con.cursor().execute(f"SET temp_directory = '{spill}'")
