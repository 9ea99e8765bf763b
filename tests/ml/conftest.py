"""Shared fixtures for the ml tests: a synthetic training frame with a known signal and
an isolated DATA_DIR (hence MLflow tracking DB and artifact store) per test module."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import DEFAULT_FEATURE_COLUMNS

FEATURES = list(DEFAULT_FEATURE_COLUMNS)
# The features that drive conversion in the synthetic frames (everything else is noise).
SIGNAL_FEATURES = ("digital_logins_30d", "product_views_30d", "balance_total")


def _features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    frame = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES})
    frame["age"] = rng.integers(18, 80, size=n).astype(float)
    frame["is_female"] = rng.integers(0, 2, size=n).astype(float)
    frame["has_marketing_consent"] = 1.0
    for flag in ("has_credit_card", "has_personal_loan", "has_term_deposit", "has_wealth_management", "has_mortgage"):
        frame[flag] = (rng.random(n) < 0.2).astype(float)
    frame["digital_logins_30d"] = rng.poisson(6, size=n).astype(float)
    frame["product_views_30d"] = rng.poisson(2, size=n).astype(float)
    frame["balance_total"] = rng.lognormal(8, 1, size=n)
    # Feast leaves gaps: a few missing values must not break anything.
    frame.loc[rng.random(n) < 0.05, "last_nps"] = np.nan
    frame.loc[rng.random(n) < 0.05, "monthly_income"] = np.nan
    return frame


def _conversion_logit(frame: pd.DataFrame, strength: float = 1.0) -> np.ndarray:
    z = lambda col: (frame[col] - frame[col].mean()) / frame[col].std()  # noqa: E731
    return -2.0 + strength * (
        1.8 * z("digital_logins_30d") + 1.4 * z("product_views_30d") + 0.8 * np.log(frame["balance_total"]).sub(8)
    )


def make_training_frame(
    n: int = 900,
    product_code: str = "credit_card",
    seed: int = 0,
    days: int = 60,
    end: str = "2024-03-01",
    control_share: float = 0.1,
    noise_labels_before: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Contacts spread over ``days`` days up to ``end`` with labels driven by SIGNAL_FEATURES.

    ``noise_labels_before`` shuffles the labels of contacts before that time, which
    gives a model with no signal while keeping the later (holdout) contacts intact.
    """
    rng = np.random.default_rng(seed)
    frame = _features(rng, n)
    end_at = pd.Timestamp(end, tz="UTC")
    frame["event_timestamp"] = end_at - pd.to_timedelta(rng.uniform(0, days, size=n), unit="D")
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-_conversion_logit(frame)))).astype(int)
    if noise_labels_before is not None:
        early = frame["event_timestamp"] < noise_labels_before
        # A separate generator: everything else stays identical to the frame without noise.
        shuffle = np.random.default_rng(seed + 10_000)
        frame.loc[early, "label"] = shuffle.permutation(frame.loc[early, "label"].to_numpy())
    frame.insert(0, "contact_id", [f"ct{seed}_{i:05d}" for i in range(n)])
    frame.insert(1, "customer_id", [f"cu{i:05d}" for i in range(n)])
    frame.insert(2, "campaign_id", f"cmp_{product_code}")
    frame.insert(3, "product_code", product_code)
    frame["is_control"] = rng.random(n) < control_share
    frame["segment"] = rng.choice(["mass", "affluent", "young"], size=n)
    return frame


def true_probability(frame: pd.DataFrame) -> np.ndarray:
    """The probability the synthetic labels of :func:`make_training_frame` were drawn with."""
    return 1 / (1 + np.exp(-_conversion_logit(frame).to_numpy()))


def make_churn_frame(customers: int = 600, snapshots: int = 4, seed: int = 0, end: str = "2024-03-04") -> pd.DataFrame:
    """Weekly churn snapshots (Mondays up to ``end``) as ``churn_labels`` joined to the features:
    churn is likelier for customers with few logins and transactions (a known signal)."""
    rng = np.random.default_rng(seed)
    parts = []
    for week in range(snapshots):
        frame = _features(rng, customers)
        snapshot_date = pd.Timestamp(end) - pd.Timedelta(weeks=snapshots - 1 - week)
        logit = -1.8 - 0.35 * (frame["digital_logins_30d"] - 6) - 0.9 * frame["txn_count_30d"]
        frame["label"] = (rng.random(customers) < 1 / (1 + np.exp(-logit))).astype(int)
        frame.insert(0, "customer_id", [f"cu{i:05d}" for i in range(customers)])
        frame.insert(1, "snapshot_date", snapshot_date.date())
        frame.insert(2, "event_timestamp", (snapshot_date + pd.Timedelta(days=1)).tz_localize("UTC"))
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="session")
def training_frame_factory():
    return make_training_frame


@pytest.fixture(scope="session")
def true_probability_of():
    return true_probability


@pytest.fixture(scope="session")
def churn_frame_factory():
    return make_churn_frame


@pytest.fixture(scope="session")
def feature_columns() -> list[str]:
    return list(FEATURES)


@pytest.fixture(scope="module")
def isolated_settings(tmp_path_factory):
    """Settings whose DATA_DIR (so MLflow DB, artifacts, outputs, reports) is a fresh folder.

    Module-scoped: the SQLite tracking DB is created once per test module.
    """
    from bankmkt.settings import get_settings

    data_dir = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        patch.setenv("PLATFORM_ENV", "local")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        for name in ("TARGET_LIST_SIZE", "CONTROL_SHARE"):
            patch.delenv(name, raising=False)
        settings = get_settings()
        assert settings.data_dir == data_dir.resolve()
        yield settings
