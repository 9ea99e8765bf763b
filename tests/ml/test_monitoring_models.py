"""Monitoring a registered champion end to end (real MLflow registry): its logged reference profile,
drift of the served features and scores, and realised performance on outcomes that matured later."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from bankmkt import monitoring


@pytest.fixture(scope="module")
def champion(isolated_settings, training_frame_factory, feature_columns):
    from ml.training import train_and_register

    frame = training_frame_factory(n=3_000, seed=7, end="2024-03-01", days=60)
    population = training_frame_factory(n=2_000, seed=8)[feature_columns]
    result = train_and_register(
        frame, "credit_card", date(2024, 3, 1), feature_columns, isolated_settings, population=population
    )
    assert result["status"] == "trained" and result["promoted"], result
    from ml.registry import use_tracking

    model = monitoring.MonitoredModel(result["model_name"], "propensity", "credit_card")
    state = {
        "run_date": "2024-03-01",
        "status": "trained",
        "rows": result["rows"],
        "labels_through": result["labels_through"],
    }
    return model, state, use_tracking(isolated_settings), result


def later_outcomes(factory, seed: int, shuffled: bool) -> pd.DataFrame:
    """Contacts made after the champion's training data; ``shuffled`` breaks the features-label link."""
    frame = factory(n=2_500, seed=seed, end="2024-04-15", days=30)
    if shuffled:
        frame["label"] = np.random.default_rng(seed).permutation(frame["label"].to_numpy())
    return frame


def test_a_stable_day_fires_nothing(champion, training_frame_factory, isolated_settings):
    model, state, client, result = champion
    record = monitoring.monitor_model(
        model,
        training_frame_factory(n=2_000, seed=9),
        later_outcomes(training_frame_factory, 10, shuffled=False),
        state,
        client,
    )
    assert record["champion_version"] == result["version"]
    assert max(record["feature_psi"].values()) < 0.1 and record["prediction_psi"] < 0.1
    assert record["performance"]["matured"] > 2_000 and record["new_labels"] > 2_000
    decision = monitoring.decide(
        model.model_name,
        "propensity",
        "credit_card",
        record["champion_version"],
        record,
        {**state, "rows": 100_000},
        0,
        isolated_settings,
    )
    assert not decision.retrain, decision.reason


def test_drifted_features_and_decayed_outcomes_fire_their_triggers(champion, training_frame_factory, isolated_settings):
    model, state, client, _ = champion
    drifted = training_frame_factory(n=2_000, seed=11)
    drifted["digital_logins_30d"] = drifted["digital_logins_30d"] * 3 + 5  # a feed changed its unit
    record = monitoring.monitor_model(
        model, drifted, later_outcomes(training_frame_factory, 12, shuffled=True), state, client
    )
    decision = monitoring.decide(
        model.model_name,
        "propensity",
        "credit_card",
        record["champion_version"],
        record,
        {**state, "rows": 100_000},
        0,
        isolated_settings,
    )
    assert {"feature_drift", "prediction_drift", "auc_decay"} <= set(decision.fired), decision.reason
    assert "digital_logins_30d" in next(t.reason for t in decision.triggers if t.name == "feature_drift")
    rows = monitoring.monitoring_rows(date(2024, 4, 15), [record])
    assert set(rows["metric"]) >= {"feature_psi", "prediction_psi", "realised_auc", "new_labels", "holdout_roc_auc"}
