"""Which nodes a build runs: dbt unit tests with full-refresh and first builds, not in daily ones."""

import duckdb
import pytest

from bankmkt import warehouse


class Calls(list):
    """The dbt argument lists of the calls, in order; `.tested_since`: the first day each call tests."""

    def __init__(self):
        super().__init__()
        self.tested_since = []


@pytest.fixture
def dbt_calls(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    calls = Calls()

    def run_dbt(args, settings=None, **kw):
        calls.append(args)
        calls.tested_since.append(kw.get("tested_since"))
        return {}

    monkeypatch.setattr(warehouse, "run_dbt", run_dbt)
    return calls


def test_a_daily_build_leaves_out_unit_tests_a_full_refresh_or_first_build_runs_them(dbt_calls, tmp_path):
    from datetime import date

    from bankmkt.settings import get_settings

    day = date(2024, 3, 1)
    warehouse.build_warehouse(day)  # no warehouse file yet: the first build
    path = get_settings().warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:  # the warehouse holds the day before
        con.execute("create table customer_features as select date '2024-02-29' as feature_date")
    warehouse.build_warehouse(day)  # a daily build
    warehouse.build_warehouse(day, full_refresh=True)
    first, daily, full = dbt_calls
    assert first == ["build", "--exclude", warehouse.OUTPUT_SELECTOR]
    assert daily == ["build", "--exclude", warehouse.OUTPUT_SELECTOR, "resource_type:unit_test"]
    assert full == ["build", "--exclude", warehouse.OUTPUT_SELECTOR, "--full-refresh"]
    # The daily build's data tests check the day it computes; a first or full build, every row.
    assert dbt_calls.tested_since == [None, day, None]


def test_the_build_command_names_a_mistyped_date_and_builds_nothing(dbt_calls, capsys):
    with pytest.raises(SystemExit) as stop:
        warehouse.main(["build", "--date", "2024-13-01"])
    assert stop.value.code == 2
    assert "--date: run date '2024-13-01' is not a date of the form YYYY-MM-DD" in capsys.readouterr().err
    assert dbt_calls == []


def test_a_dbt_project_edited_after_its_manifest_is_parsed_again_before_a_run(tmp_path):
    """A stale manifest would render the DAG from the old project (its test tasks then wait for results the
    new project never produces): `cli run` parses again when any project file is newer."""
    import dataclasses
    import os
    import shutil

    from bankmkt.settings import get_settings
    from bankmkt.warehouse import manifest_is_stale

    settings = get_settings()
    root = tmp_path / "project"
    (root / "dbt_project" / "models").mkdir(parents=True)
    shutil.copy(settings.dbt_project_dir / "dbt_project.yml", root / "dbt_project" / "dbt_project.yml")
    model = root / "dbt_project" / "models" / "a.sql"
    model.write_text("select 1 as a\n")
    copy = dataclasses.replace(settings, project_root=root)
    assert manifest_is_stale(copy)  # no manifest yet
    manifest = copy.dbt_manifest_path
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    os.utime(model, (manifest.stat().st_mtime - 10,) * 2)
    os.utime(root / "dbt_project" / "dbt_project.yml", (manifest.stat().st_mtime - 10,) * 2)
    assert not manifest_is_stale(copy)
    os.utime(model, (manifest.stat().st_mtime + 10,) * 2)  # the model edited after the parse
    assert manifest_is_stale(copy)


def test_a_first_load_of_three_months_builds_two_monthly_slices_first(dbt_calls, tmp_path):
    """Landed days from January to March: January and February are built as slices (the incremental
    models, what they read and the tests whose every parent is in the slice), then D's own build."""
    from datetime import date

    for day in ("2024-01-05", "2024-02-10", "2024-03-01"):
        folder = tmp_path / "landing" / "customers" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "customers.csv").write_text("customer_id\n")
    summary = warehouse.build_warehouse(date(2024, 3, 12))
    *slices, final = dbt_calls
    assert [piece["until"] for piece in summary["history_slices"]["slices"]] == ["2024-01-31", "2024-02-29"]
    slice_args = ["build", "--select", warehouse.SLICE_SELECTOR, "--exclude", *warehouse.DAILY_BUILD_EXCLUDE]
    assert slices == [[*slice_args, "--indirect-selection", "cautious"]] * 2
    assert final == ["build", "--exclude", warehouse.OUTPUT_SELECTOR]  # a first build: unit tests included
    # Each build's data tests check the days it computes: all of January's, then from each slice on.
    assert dbt_calls.tested_since == [None, date(2024, 2, 1), date(2024, 3, 1)]
    assert summary["history_slices"]["tested_since"] == "2024-03-01"
