"""Publishing a day to the SQLite online store: Feast's format, exactly the run's window, idempotent."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from bankmkt import features


def _rows(settings) -> dict[str, list[tuple]]:
    """Every row of the project's online tables, in Feast's own columns."""
    store = features.feature_store(settings)
    with sqlite3.connect(settings.feast_online_path) as con:
        return {
            view.name: con.execute(
                f'select entity_key, feature_name, value, event_ts, created_ts from "{store.project}_{view.name}" '
                "order by entity_key, feature_name"
            ).fetchall()
            for view in store.list_feature_views()
        }


@pytest.fixture
def project(local_store, days, tmp_path):
    """An empty online store (own Feast project) on the module's exported days."""
    settings = features.settings_for_project(days.unique_project("publish"), tmp_path, local_store)
    days.quiet_apply(settings)
    return settings


def test_fast_writer_rows_are_the_rows_feast_writes(local_store, days, tmp_path):
    fast = features.settings_for_project("rows_fast", tmp_path, local_store)
    plain = features.settings_for_project("rows_plain", tmp_path, local_store)
    for settings, method in ((fast, "fast"), (plain, "plain")):
        days.quiet_apply(settings)
        features.materialize_day(days.RUN_DAY, settings, method=method)

    assert _rows(fast) == _rows(plain)  # byte for byte: keys, ValueProtos, event times


def test_sdk_reads_the_parquet_values_written_by_the_fast_writer(project, days):
    result = features.materialize_day(days.RUN_DAY, project)

    served = days.feature_frame(features.online_features(days.CUSTOMERS + ["C9999999"], project))
    exported = days.feature_frame(pd.read_parquet(project.feature_export_file(days.RUN_DAY)))

    assert result["method"] == "fast" and result["customers"] == len(days.CUSTOMERS)
    pd.testing.assert_frame_equal(served.drop(index="C9999999"), exported)
    assert served.loc["C9999999"].isna().all()
    assert pd.isna(served.loc["C0000002", "last_nps"]) and served.loc["C0000003", "age"] == -1


def test_a_day_publishes_exactly_its_window(project, days):
    result = features.materialize_day(days.DAY_BEFORE, project)

    served = days.feature_frame(features.online_features(days.CUSTOMERS, project))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.DAY_BEFORE)))
    assert result["rows_outside_window"] == 0
    assert result["window_start"] == "2024-03-04T00:00:00+00:00"
    assert result["window_end"] == "2024-03-05T00:00:00+00:00"


def test_rerunning_a_day_leaves_the_online_store_identical(project, days):
    features.materialize_day(days.RUN_DAY, project)
    before = _rows(project)
    features.materialize_day(days.RUN_DAY, project)

    assert _rows(project) == before


def test_an_older_day_never_replaces_newer_values(project, days):
    features.materialize_day(days.RUN_DAY, project)
    late = features.materialize_day(days.DAY_BEFORE, project)  # a rerun of the day before, afterwards

    served = days.feature_frame(features.online_features(days.CUSTOMERS, project))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))
    assert late["stale_skipped"] == len(days.CUSTOMERS) * (len(served.columns) + len(features.SEGMENT_COLUMNS))


def test_the_registry_records_the_window_as_feast_does(project, days):
    features.materialize_day(days.RUN_DAY, project)

    store = features.feature_store(project)
    start, end = features.materialization_window(days.RUN_DAY)
    for view in store.list_feature_views():
        assert view.materialization_intervals == [(start, end)], view.name


def test_backfill_command_publishes_a_range_with_progress(project, days, capsys, monkeypatch):
    from bankmkt.runtime import apply_environment

    monkeypatch.setattr(
        features.publish, "get_settings", lambda: project
    )  # the command reads the environment's settings
    apply_environment(project)

    assert features.main(["backfill", "--from", "2024-03-04", "--to", "2024-03-05"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["[1/2] 2024-03-04", "[2/2] 2024-03-05"]
    assert all("4 customers via fast" in line for line in lines)
    served = days.feature_frame(features.online_features(days.CUSTOMERS, project))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))


def test_backfill_names_the_days_without_an_export(project, capsys, monkeypatch):
    monkeypatch.setattr(features.publish, "get_settings", lambda: project)

    assert features.main(["backfill", "--from", "2024-03-04", "--to", "2024-03-07"]) == 2
    assert "2 day(s) have no exported features" in capsys.readouterr().err


def test_plain_materialize_stays_available(project, days, monkeypatch):
    monkeypatch.setenv("FEATURE_PUBLISH", "plain")

    result = features.materialize_day(days.RUN_DAY, project)

    assert result["method"] == "plain"
    served = days.feature_frame(features.online_features(days.CUSTOMERS, project))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))


def test_applying_for_another_data_dir_registers_its_exports(local_store, days, tmp_path):
    """One process, two DATA_DIRs (test modules, a backfill elsewhere): each apply points at its own exports."""
    with days.isolated_environment(tmp_path / "other") as other:
        days.quiet_apply(other)
        source = features.feature_store(other).get_data_source("customer_features_source")
    assert source.path == other.feature_export_glob
    days.quiet_apply(local_store)
    source = features.feature_store(local_store).get_data_source("customer_features_source")
    assert source.path == local_store.feature_export_glob


def test_the_export_refuses_a_day_dbt_did_not_stage_and_publishes_nothing(tmp_path):
    """No staged file for D (the warehouse was not built for it), or a staging folder of another build."""
    from datetime import date

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bankmkt.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(tmp_path))
        patch.setenv("PLATFORM_ENV", "local")
        settings = get_settings()
    staged = settings.feature_export_staging_dir / "dt=2024-03-06" / "data_0.parquet"
    staged.parent.mkdir(parents=True)
    pq.write_table(pa.table({"customer_id": ["C0000001"]}), staged)

    with pytest.raises(features.FeaturePublicationError, match="staged no file for 2024-03-05"):
        features.export_feature_mart(date(2024, 3, 5), settings)
    with pytest.raises(
        features.FeaturePublicationError,
        match=r"feature dates after 2024-03-04 \(2024-03-06\.\.\.\): it belongs to another build",
    ):
        (settings.feature_export_staging_dir / "dt=2024-03-04").mkdir()
        pq.write_table(
            pa.table({"customer_id": ["C0000001"]}),
            settings.feature_export_staging_dir / "dt=2024-03-04" / "data_0.parquet",
        )
        features.export_feature_mart(date(2024, 3, 4), settings)
    assert not settings.feature_export_dir.exists() or not any(settings.feature_export_dir.rglob("*.parquet"))
