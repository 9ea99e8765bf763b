"""One small synthetic bank for the warehouse tests, and the builds both modules read.

The bank (200 customers, 72 days from Monday 2024-01-01) is long enough for every
mart to have rows: life-cycle trends need 60 observed days, and the first weekly
churn snapshot's 60-day outcome window closes on day 61. A few files are then
re-delivered on a later day, so every build also proves that "a file delivered
twice counts once".

`full_refresh_warehouse` is one `dbt build --full-refresh` at the last day (models,
data tests and unit tests, through bankmkt.warehouse like the DAG). The
incremental-equivalence test builds a second DATA_DIR day by day and compares.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from bankmkt.settings import Settings, get_settings

START = date(2024, 1, 1)  # a Monday: the first churn snapshot
DAYS = 72
CUSTOMERS = 200
SEED = 11
LAST_DAY = START + timedelta(days=DAYS - 1)  # 2024-03-12
# Re-deliveries: the rows of REDELIVERED_FROM's files (the first day's for customers, the
# whole base) are landed again, appended to REDELIVERED_ON's files.
REDELIVERED_FROM = LAST_DAY - timedelta(days=4)  # 2024-03-08
REDELIVERED_ON = LAST_DAY - timedelta(days=3)  # 2024-03-09
REDELIVERED_SOURCES = ("customers", "transactions", "daily_balances", "digital_events", "campaign_contacts")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow_warehouse: builds the warehouse many times (minutes)")


@dataclass(frozen=True)
class Bank:
    """A landed synthetic bank: its folder, calendar, and helpers to build and read warehouses of it."""

    root: Path
    start: date = START
    last_day: date = LAST_DAY
    redelivered_from: date = REDELIVERED_FROM
    redelivered_on: date = REDELIVERED_ON
    redelivered_sources: tuple[str, ...] = REDELIVERED_SOURCES

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    @property
    def truth_dir(self) -> Path:
        return self.root / "truth"

    def data_dir(self, parent: Path) -> Settings:
        """A fresh DATA_DIR under ``parent`` holding a copy of the bank's landing files.

        Every DATA_DIR of one bank shares one PII hash key (the local profile would give each a
        random key of its own), so that two warehouses of the bank hash identifiers alike
        whatever key an earlier test left in the environment.
        """
        parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.landing_dir, parent / "landing")
        secrets = parent / "secrets"
        secrets.mkdir(mode=0o700)
        (secrets / "pii_hash_key").write_text(f"small-bank-{self.root.name}\n")
        return dataclasses.replace(get_settings(), platform_env="local", data_dir=parent, pii_hash_key="")

    @staticmethod
    def dbt(settings: Settings, args: list[str], **options) -> dict:
        """Run dbt on the warehouse of ``settings`` through bankmkt.warehouse.run_dbt (the DAG's flags;
        ``options``: run_dbt's, such as ``run_date`` and ``tested_since``)."""
        from bankmkt import warehouse

        with preserved_environment():
            return warehouse.run_dbt(args, settings, **options)

    @classmethod
    def build(cls, settings: Settings, day: date, full_refresh: bool = False, with_tests: bool = True) -> dict:
        """Build the warehouse of ``settings`` for ``day`` as the daily run does.

        ``with_tests=False`` runs `dbt run` with the same selection and date (DBT_RUN_DATE,
        as the DAG passes it) instead of `dbt build`: the same models, without their
        data and unit tests.
        """
        from bankmkt import warehouse

        with preserved_environment():
            if with_tests:
                return warehouse.build_warehouse(day, full_refresh=full_refresh, settings=settings)
            args = ["run", "--exclude", warehouse.OUTPUT_SELECTOR] + (["--full-refresh"] if full_refresh else [])
            return warehouse.run_dbt(args, settings, run_date=day)

    @staticmethod
    def connect(settings: Settings):
        """Read-only DuckDB connection to the warehouse of ``settings``."""
        import duckdb

        return duckdb.connect(str(settings.warehouse_path), read_only=True)


class preserved_environment:
    """Restore os.environ afterwards: bankmkt.runtime.apply_environment exports a DATA_DIR's settings."""

    def __enter__(self):
        self._saved = dict(os.environ)
        return self

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self._saved)
        return False


def _redeliver(landing_dir: Path, source: str, earlier: date, later: date) -> int:
    """Append the data rows of ``earlier``'s file to ``later``'s file; return how many."""
    folder = landing_dir / source
    earlier_rows = (folder / f"dt={earlier.isoformat()}" / f"{source}.csv").read_text().splitlines()[1:]
    with open(folder / f"dt={later.isoformat()}" / f"{source}.csv", "a") as later_file:
        later_file.writelines(f"{row}\n" for row in earlier_rows)
    return len(earlier_rows)


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory) -> Bank:
    from bankmkt.generator import generate_bank

    root = tmp_path_factory.mktemp("small_bank")
    generate_bank(customers=CUSTOMERS, days=DAYS, start_date=START, seed=SEED, data_dir=root, contact_rate=0.1)
    redelivered = {
        source: _redeliver(
            root / "landing", source, START if source == "customers" else REDELIVERED_FROM, REDELIVERED_ON
        )
        for source in REDELIVERED_SOURCES
    }
    assert all(redelivered.values()), f"nothing to re-deliver: {redelivered}"
    _correct(root / "landing", REDELIVERED_ON)
    return Bank(root)


# The corrections delivered on REDELIVERED_ON (landing/<source>_corrections/): the first converted
# response of an earlier day was a visit, the first delivered contact of an earlier day failed.
CORRECTED = {
    "campaign_responses": ("response_type", "converted", "visited"),
    "campaign_contacts": ("delivery_status", "delivered", "failed"),
}


def _correct(landing_dir: Path, day: date) -> None:
    import pandas as pd

    for source, (column, wrong, right) in CORRECTED.items():
        earlier = pd.concat(
            pd.read_csv(path, dtype=str, keep_default_na=False)
            for path in sorted((landing_dir / source).glob("dt=*/*.csv"))
            if path.parent.name < f"dt={day}"
        )
        row = earlier.loc[earlier[column] == wrong].head(1).copy()
        assert len(row) == 1, f"no {source} row with {column} = {wrong} to correct"
        row[column] = right
        if source == "campaign_responses":
            row["amount"] = ""  # a visit has no amount
        row["correction_reason"] = f"{column} was recorded as {wrong}"
        folder = landing_dir / f"{source}_corrections" / f"dt={day.isoformat()}"
        folder.mkdir(parents=True)
        row.to_csv(folder / f"{source}_corrections.csv", index=False)


@pytest.fixture(scope="session")
def full_refresh_warehouse(small_bank, tmp_path_factory) -> Settings:
    """The small bank built in one `dbt build --full-refresh` at its last day (tests included).

    One build over the whole history (no monthly slices): the reference the daily chain and
    the sliced first load are compared with."""
    settings = dataclasses.replace(
        small_bank.data_dir(tmp_path_factory.mktemp("full_refresh")), warehouse_slice_months=0
    )
    summary = small_bank.build(settings, small_bank.last_day, full_refresh=True)
    assert summary["failures"] == []
    assert summary["history_slices"]["slices"] == []
    unit_tests = [uid for uid in summary["nodes"] if uid.startswith("unit_test.")]
    assert len(unit_tests) == 11 and all(summary["nodes"][uid]["status"] == "pass" for uid in unit_tests)
    return settings
