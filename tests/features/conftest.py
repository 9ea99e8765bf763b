"""A throw-away feature store per test module: tiny exported partitions, the real repo applied.

Feature dates are written as the warehouse export does (one Parquet file per
``dt=``; ``event_timestamp`` = start of the next day, UTC). Values are chosen
per customer and day so that any mix-up between days shows.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast.types import Float32, Float64

from bankmkt import features
from bankmkt.settings import PRODUCTION_SECRETS, get_settings

DAY_BEFORE = date(2024, 3, 4)
RUN_DAY = date(2024, 3, 5)
CUSTOMERS = ["C0000001", "C0000002", "C0000003", "C0000004"]


def known_at(feature_date: date) -> datetime:
    """When a feature date's values become usable: the start of the next day (UTC)."""
    return datetime.combine(feature_date + timedelta(days=1), time.min, tzinfo=UTC)


def partition(feature_date: date, customers: list[str] = CUSTOMERS) -> pd.DataFrame:
    """One day of the feature mart: every value encodes (customer, day, feature), a few are missing."""
    day = (feature_date - DAY_BEFORE).days
    frame = pd.DataFrame({"customer_id": customers})
    frame["feature_date"] = feature_date
    frame["event_timestamp"] = pd.Timestamp(known_at(feature_date)).tz_localize(None)
    number = np.array([int(c[1:]) for c in customers])
    for position, (name, dtype) in enumerate(features.feature_columns().items()):
        if dtype in (Float32, Float64):
            frame[name] = number * 1000.25 + day * 10.5 + position  # day 0 and day 1 always differ
        else:
            frame[name] = (number * 100 + day * 10 + position).astype("int32")
    stages = ["new", "growing", "mature", "declining"]
    frame["lifecycle_stage"] = [stages[(n + day) % len(stages)] for n in number]
    frame["value_tier"] = ["gold" if n % 2 else "silver" for n in number]
    frame["needs_segment"] = [None if n == 4 else f"cluster_{n + day}" for n in number]  # C0000004: none yet
    frame.loc[frame["customer_id"] == "C0000002", "last_nps"] = np.nan  # never surveyed
    frame.loc[frame["customer_id"] == "C0000003", "age"] = -1  # a negative int: a 10-byte varint
    return frame


def write_partition(settings, frame: pd.DataFrame, feature_date: date) -> None:
    path = settings.feature_export_file(feature_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(
        table.schema.get_field_index("event_timestamp"),
        "event_timestamp",
        table.column("event_timestamp").cast(pa.timestamp("us")),
    )
    pq.write_table(table, path)


def quiet_apply(settings) -> dict:
    with contextlib.redirect_stdout(io.StringIO()):
        return features.apply_feature_repo(settings)


@contextlib.contextmanager
def isolated_environment(data_dir, platform_env: str = "local", **extra: str):
    """DATA_DIR (and the variables the settings hand to Feast) for one module, restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        patch.setenv("PLATFORM_ENV", platform_env)
        if platform_env == "prod":  # the secrets the production profile refuses to start without
            for name in PRODUCTION_SECRETS:
                patch.setenv(name, f"test-{name.lower()}")
            patch.setenv("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        for name, value in extra.items():
            patch.setenv(name, value)
        for name, value in get_settings().environment().items():
            patch.setenv(name, value)
        yield get_settings()


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    """The local profile (file registry, SQLite online store) on a fresh DATA_DIR with two exported days."""
    with isolated_environment(tmp_path_factory.mktemp("feature-store")) as settings:
        write_partition(settings, partition(DAY_BEFORE), DAY_BEFORE)
        write_partition(settings, partition(RUN_DAY), RUN_DAY)
        quiet_apply(settings)
        yield settings


def unique_project(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def feature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the customer and feature columns, indexed by customer, as floats (None -> NaN)."""
    names = list(features.feature_columns())
    return frame.set_index("customer_id")[names].astype("float64").sort_index()


@pytest.fixture(scope="session")
def days():
    """The factory above for the tests: days, customers, partitions and helpers."""
    from types import SimpleNamespace

    return SimpleNamespace(
        DAY_BEFORE=DAY_BEFORE,
        RUN_DAY=RUN_DAY,
        CUSTOMERS=CUSTOMERS,
        known_at=known_at,
        partition=partition,
        write_partition=write_partition,
        quiet_apply=quiet_apply,
        isolated_environment=isolated_environment,
        unique_project=unique_project,
        feature_frame=feature_frame,
    )
