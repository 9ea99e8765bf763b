"""Shared fixtures of the quality-gate tests.

* :func:`published_bank`: ONE tiny bank taken through the real stages up to
  publication for day 19 (landing check, dbt build, GX gate, Parquet export,
  feast apply and materialisation), built once per module; each test starts
  from it and lands day 20's good batch to break.
* :func:`mart_settings`: an empty DATA_DIR whose warehouse a test fills with
  tiny hand-made marts (no dbt), for the gate's own tests.

Every stage reads DATA_DIR from the environment and exports the settings it
derives (AIRFLOW_HOME, WAREHOUSE_PATH, ...); the environment is restored after
each test and each module so later tests see the session's own DATA_DIR.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bankmkt.settings import Settings, get_settings

START = date(2024, 1, 1)
GOOD_DAY = date(2024, 1, 19)  # published when a test starts
BAD_DAY = date(2024, 1, 20)  # landed by each test, then broken
NEXT_DAY = date(2024, 1, 21)  # for days that arrive out of order


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@dataclass
class PublishedBank:
    """The good state: day 19 published; day 20's (and 21's) batches kept aside."""

    settings: Settings
    snapshot: Path
    batches: Path
    dirty: bool = False  # something besides landing and quarantine may have changed

    def reset(self) -> None:
        """Put DATA_DIR back to the good state (same path, so dbt, Feast and the ledger see the same files)."""
        shutil.rmtree(self.settings.data_dir, ignore_errors=True)
        shutil.copytree(self.snapshot, self.settings.data_dir)
        self.dirty = False

    def start_case(self) -> None:
        """Good state for the next case: only the landing days are reset after a clean case.

        A case that passed changed nothing but landing and quarantine (it checks
        that); after any other case the whole DATA_DIR is restored.
        """
        if self.dirty:
            self.reset()
        for day in (BAD_DAY, NEXT_DAY):
            for folder in self.settings.landing_dir.glob(f"*/dt={day.isoformat()}"):
                shutil.rmtree(folder)
        self.dirty = True

    def deliver(self, day: date) -> None:
        """Land the good batch of ``day`` (every source's file)."""
        for folder in sorted((self.batches / f"dt={day.isoformat()}").iterdir()):
            target = self.settings.landing_dir / folder.name / f"dt={day.isoformat()}"
            shutil.copytree(folder, target, dirs_exist_ok=True)

    def batch_file(self, source: str, day: date = BAD_DAY) -> Path:
        return self.batches / f"dt={day.isoformat()}" / source / f"{source}.csv"


@pytest.fixture(scope="module")
def published_bank(tmp_path_factory) -> PublishedBank:
    from bankmkt import pipeline
    from bankmkt.generator import generate_bank

    root = tmp_path_factory.mktemp("published_bank")
    saved = dict(os.environ)
    os.environ["DATA_DIR"] = str(root / "data")
    os.environ["PLATFORM_ENV"] = "local"
    for name in ("TARGET_LIST_SIZE", "CONTROL_SHARE", "FEATURE_PUBLISH"):
        os.environ.pop(name, None)
    try:
        settings = get_settings()
        generate_bank(
            customers=150,
            days=(NEXT_DAY - START).days + 1,
            start_date=START,
            seed=5,
            data_dir=settings.data_dir,
            contact_rate=0.1,
        )
        batches = root / "batches"
        for day in (BAD_DAY, NEXT_DAY):
            for folder in sorted(settings.landing_dir.glob(f"*/dt={day.isoformat()}")):
                shutil.move(folder, batches / f"dt={day.isoformat()}" / folder.parent.name)
        pipeline.check_landing(GOOD_DAY)
        pipeline.build_warehouse(GOOD_DAY)
        pipeline.validate_features(GOOD_DAY)
        pipeline.publish_features(GOOD_DAY)
        snapshot = root / "snapshot"
        shutil.copytree(settings.data_dir, snapshot)
        yield PublishedBank(settings=settings, snapshot=snapshot, batches=batches)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---- tiny hand-made marts ------------------------------------------------------------------


@pytest.fixture
def mart_settings(tmp_path) -> Settings:
    """An empty DATA_DIR (its own GX context, reports and warehouse) for one test."""
    settings = Settings(platform_env="local", data_dir=tmp_path / "data")
    settings.ensure_dirs()
    return settings


@pytest.fixture
def write_marts():
    """``write_marts(settings, customer_features=frame, ...)``: (re)create warehouse tables as dbt would."""

    def write(settings: Settings, **tables: pd.DataFrame) -> None:
        with duckdb.connect(str(settings.warehouse_path)) as con:
            for name, frame in tables.items():
                con.register("incoming", frame)
                con.execute(f"create or replace table {name} as select * from incoming")
                if name == "customer_features":  # and dbt's feature_export: staged Parquet files and their view
                    staging = settings.feature_export_staging_dir
                    shutil.rmtree(staging, ignore_errors=True)
                    staging.mkdir(parents=True)
                    con.execute(
                        "copy (select strftime(feature_date, '%Y-%m-%d') as dt, * from incoming) "
                        f"to '{staging}' (format parquet, partition_by dt, overwrite true)"
                    )
                    con.execute(
                        f"create or replace view feature_export as select * from read_parquet('{staging}/*/*.parquet')"
                    )
                con.unregister("incoming")

    return write
