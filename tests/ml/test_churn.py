"""The churn-risk model: trained on weekly snapshots, registered and gated, scored, used in targeting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import CHURN, RETENTION_VALUE
from ml.registry import alias_version, gate_metrics, use_tracking
from ml.scoring import CHURN_RISK_COLUMNS, score_churn_risk, write_churn_risk
from ml.training import train_churn_model

RUN_DATE = "2024-03-05"


@pytest.fixture(scope="module")
def snapshots(churn_frame_factory) -> pd.DataFrame:
    return churn_frame_factory(customers=1500, snapshots=4, seed=21)  # a quarter of them: the holdout


@pytest.fixture(scope="module")
def trained(isolated_settings, snapshots, feature_columns):
    return train_churn_model(
        snapshots, RUN_DATE, feature_columns, isolated_settings, tags={"feature_service": "propensity_v1"}
    )


def test_churn_model_is_registered_and_champion(trained, isolated_settings):
    assert trained["status"] == "trained"
    assert trained["model_name"] == f"propensity_{CHURN}"
    assert trained["promoted"] is True
    client = use_tracking(isolated_settings)
    assert alias_version(trained["model_name"], "champion", client) == trained["version"]
    run = client.get_run(trained["run_id"])
    assert run.data.tags["product_code"] == CHURN
    assert run.data.params["holdout_snapshots"] == "1"


def test_the_holdout_is_the_latest_snapshot_of_customers_never_seen_in_training(trained, snapshots):
    from ml.splits import held_out_customers

    latest = snapshots["event_timestamp"].max()
    held = held_out_customers(snapshots["customer_id"])
    metrics = trained["metrics"]
    assert metrics["holdout_rows"] == ((snapshots["event_timestamp"] == latest) & held).sum()
    assert metrics["train_rows"] == ((snapshots["event_timestamp"] < latest) & ~held).sum()
    assert 0.15 < held.mean() < 0.35  # about a quarter of the customers
    assert pd.Timestamp(trained["holdout_cutoff"]) == latest and trained["holdout_split"] == "time_and_customer"


def test_churn_model_finds_the_signal_and_is_calibrated(trained):
    metrics = trained["metrics"]
    assert metrics["roc_auc"] > 0.75
    assert abs(metrics["holdout_mean_propensity"] - metrics["holdout_base_rate"]) < 0.05


def test_gate_values_a_churner_reached_at_the_retention_value():
    labels, risk = np.array([1, 0, 0, 0]), np.array([0.9, 0.1, 0.2, 0.3])
    assert gate_metrics(labels, risk, CHURN, capacity=1)["profit_at_k"] == RETENTION_VALUE - 5.0


def test_one_snapshot_is_split_by_customer(isolated_settings, snapshots, feature_columns):
    """A bank that delivers one attrition extract: a quarter of its customers are the holdout."""
    latest = snapshots.loc[snapshots["event_timestamp"] == snapshots["event_timestamp"].max()]
    result = train_churn_model(latest, RUN_DATE, feature_columns, isolated_settings)
    assert result["status"] == "trained", result.get("reason")
    assert result["holdout_split"] == "customer" and result["holdout_cutoff"] is None
    assert result["metrics"]["holdout_rows"] + result["metrics"]["train_rows"] == len(latest)


def test_too_few_churners_is_a_readable_refusal(isolated_settings, snapshots, feature_columns):
    calm = snapshots.assign(label=0)
    calm.loc[calm.index[:3], "label"] = 1
    result = train_churn_model(calm, RUN_DATE, feature_columns, isolated_settings)
    assert result["status"] == "skipped"
    assert "conversion" in result["reason"] or "positive" in result["reason"] or "churn" in result["reason"]


def test_no_closed_outcome_window_yet_is_a_skip(isolated_settings, feature_columns):
    empty = pd.DataFrame(columns=["customer_id", "snapshot_date", "event_timestamp", "label"])
    result = train_churn_model(empty, RUN_DATE, feature_columns, isolated_settings)
    assert result == {"status": "skipped", "product_code": CHURN, "reason": "no labelled churn snapshots"}


def test_snapshots_after_the_run_date_are_not_used(isolated_settings, snapshots, feature_columns):
    result = train_churn_model(snapshots, "2024-02-01", feature_columns, isolated_settings)
    assert result["status"] == "skipped"


def test_every_customer_gets_a_churn_risk_with_reasons(trained, snapshots, feature_columns, isolated_settings):
    customers = snapshots.loc[snapshots["event_timestamp"] == snapshots["event_timestamp"].max()]
    risk = score_churn_risk(customers, feature_columns, RUN_DATE, isolated_settings)
    assert list(risk.columns) == list(CHURN_RISK_COLUMNS)
    assert len(risk) == len(customers)
    assert risk["churn_risk"].between(0, 1).all()
    assert (risk["model_version"] == trained["champion_version"]).all()
    assert risk["reason_1"].notna().mean() > 0.9
    # The riskiest customers are the inactive ones the signal was built on.
    top = customers.set_index("customer_id").loc[risk.nlargest(30, "churn_risk")["customer_id"]]
    assert top["txn_count_30d"].mean() < customers["txn_count_30d"].mean()
    path = write_churn_risk(risk, RUN_DATE, isolated_settings)
    assert path == isolated_settings.outputs_dir / "churn_risk" / f"dt={RUN_DATE}" / "churn_risk.parquet"
    assert len(pd.read_parquet(path)) == len(risk)
