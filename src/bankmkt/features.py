"""Publish customer features: Parquet export, `feast apply`, materialisation, retrieval.

The warehouse is read through read-only DuckDB connections (dbt stays its only
writer); Feast reads the exported Parquet as its offline source.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pandas as pd

from bankmkt.runtime import apply_environment
from bankmkt.settings import Settings, get_settings

FEATURE_SERVICE = "propensity_v1"
ENTITY_KEY = "customer_id"


class FeaturePublicationError(RuntimeError):
    """The feature mart could not be exported or published."""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def export_feature_mart(run_date: date, settings: Settings | None = None) -> dict:
    """Write the feature mart's rows as Parquet, one folder per feature date.

    A daily run writes only D's folder; the first run (no export yet) also writes
    every earlier feature date so that training sets can look back in time.
    Re-running a day overwrites that day's file, so the export is idempotent.
    """
    import duckdb

    settings = settings or get_settings()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        dates = [
            row[0]
            for row in con.execute(
                "select distinct feature_date from customer_features where feature_date <= ? order by 1",
                [run_date],
            ).fetchall()
        ]
        if run_date not in dates:
            raise FeaturePublicationError(
                f"customer_features has no rows for feature_date {run_date}; was dbt build run for it?"
            )
        already = {
            path.name.removeprefix("dt=")
            for path in settings.feature_export_dir.glob("dt=*")
            if any(path.glob("*.parquet"))
        }
        to_write = [d for d in dates if d == run_date or d.isoformat() not in already]
        rows = 0
        for feature_date in to_write:
            target = settings.feature_export_file(feature_date)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".parquet.tmp")
            con.execute(
                f"copy (select * from customer_features where feature_date = ? order by customer_id) "
                f"to '{partial}' (format parquet, compression zstd)",
                [feature_date],
            )
            os.replace(partial, target)  # readers never see a half-written file
            rows += con.execute(
                "select count(*) from customer_features where feature_date = ?", [feature_date]
            ).fetchone()[0]
    return {
        "feature_dates_written": len(to_write),
        "rows_written": rows,
        "export_dir": str(settings.feature_export_dir),
    }


def feature_store(settings: Settings | None = None):
    """The Feast store of the current profile."""
    from feast import FeatureStore

    settings = apply_environment(settings or get_settings())
    _importable_repo(settings)
    return FeatureStore(repo_path=str(settings.feature_repo_dir), fs_yaml_file=settings.feature_store_yaml)


def _importable_repo(settings: Settings) -> None:
    repo = str(settings.feature_repo_dir)
    if repo not in sys.path:
        sys.path.insert(0, repo)  # the definition files import each other by module name


def apply_feature_repo(settings: Settings | None = None) -> dict:
    """`feast apply` of feature_repo/ (idempotent: an unchanged repo changes nothing)."""
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    settings = apply_environment(settings or get_settings())
    repo = settings.feature_repo_dir
    _importable_repo(settings)
    config = load_repo_config(repo, settings.feature_store_yaml)
    cwd = os.getcwd()
    try:
        apply_total(config, repo, skip_source_validation=True)
    finally:
        os.chdir(cwd)  # apply_total changes directory into the repo
    store = feature_store(settings)
    return {
        "project": store.project,
        "feature_views": sorted(v.name for v in store.list_feature_views()),
        "feature_services": sorted(s.name for s in store.list_feature_services()),
    }


def materialize_day(run_date: date, settings: Settings | None = None) -> dict:
    """Write the features of D (event time = start of D+1) to the online store."""
    store = feature_store(settings)
    start = _day_start(run_date)
    end = _day_start(run_date + timedelta(days=1))
    store.materialize(start_date=start, end_date=end + timedelta(seconds=1))
    return {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "feature_views": len(store.list_feature_views()),
    }


def feature_names(settings: Settings | None = None, service: str = FEATURE_SERVICE) -> list[str]:
    """Feature columns of a feature service, in definition order."""
    store = feature_store(settings)
    fs = store.get_feature_service(service)
    return [f.name for projection in fs.feature_view_projections for f in projection.features]


def training_set(run_date: date, settings: Settings | None = None, service: str = FEATURE_SERVICE) -> pd.DataFrame:
    """Point-in-time training set: every labelled contact joined to the features known at contact time."""
    settings = settings or get_settings()
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        labels = con.execute(
            """
            select contact_id, campaign_id, customer_id, product_code, is_control,
                   event_timestamp, label
            from training_labels order by event_timestamp, contact_id
            """
        ).df()
    if labels.empty:
        return labels
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    store = feature_store(settings)
    job = store.get_historical_features(
        entity_df=labels,
        features=store.get_feature_service(service),
    )
    frame = job.to_df()
    return frame.sort_values(["event_timestamp", "contact_id"]).reset_index(drop=True)


def scoring_frame(run_date: date, settings: Settings | None = None) -> pd.DataFrame:
    """Every customer's features as of the end of D (the exported partition of D)."""
    settings = settings or get_settings()
    path = settings.feature_export_file(run_date)
    if not path.exists():
        raise FeaturePublicationError(f"no exported features for {run_date} at {path}")
    return pd.read_parquet(path)


def online_features(customer_ids: list[str], settings: Settings | None = None, service: str = FEATURE_SERVICE) -> pd.DataFrame:
    """Features served by the online store for the given customers."""
    store = feature_store(settings)
    response = store.get_online_features(
        features=store.get_feature_service(service),
        entity_rows=[{ENTITY_KEY: customer_id} for customer_id in customer_ids],
    )
    return response.to_df()
