"""The retraining triggers: each fires on a simulated drift, decay or label surplus, and stays
silent on data that did not change (bankmkt.monitoring, with ml.drift's population stability)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from bankmkt import monitoring
from bankmkt.settings import Settings
from ml import drift


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(platform_env="local", data_dir=tmp_path_factory.mktemp("monitoring"))


def population(n: int = 5_000, seed: int = 0, shift: float = 0.0, scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "balance_total": rng.lognormal(8 + shift, 1 * scale, n),
            "digital_logins_30d": rng.poisson(6, n).astype(float),
            "age": rng.integers(18, 80, n).astype(float),
        }
    )
    frame.loc[rng.random(n) < 0.03, "balance_total"] = np.nan
    return frame


FEATURES = ["balance_total", "digital_logins_30d", "age"]


def test_psi_is_near_zero_for_a_new_sample_and_large_for_a_shift():
    profile = drift.reference_profile(population(seed=1), FEATURES)
    same = drift.feature_psi(profile, population(seed=2))
    shifted = drift.feature_psi(profile, population(seed=2, shift=0.8))
    assert max(same.values()) < 0.02
    assert shifted["balance_total"] > 0.25
    assert shifted["age"] < 0.02  # only the shifted feature moves
    # Missing values are a bin of their own: a feed that starts sending nulls is drift.
    gaps = population(seed=2)
    gaps.loc[gaps.index[:1500], "age"] = np.nan
    assert drift.feature_psi(profile, gaps)["age"] > 0.25


def test_drift_trigger_fires_on_a_drifted_feature_only(settings):
    profile = drift.reference_profile(population(seed=1), FEATURES)
    quiet = monitoring.drift_trigger("feature_drift", drift.feature_psi(profile, population(seed=3)), settings)
    drifted = monitoring.drift_trigger(
        "feature_drift", drift.feature_psi(profile, population(seed=3, shift=1.0)), settings
    )
    assert not quiet.fired and "largest PSI" in quiet.reason
    assert drifted.fired and "balance_total" in drifted.reason and drifted.value > settings.retrain_psi_threshold
    assert not monitoring.drift_trigger("feature_drift", {}, settings).fired  # no profile: nothing to compare


def test_prediction_drift_on_the_scores(settings):
    rng = np.random.default_rng(5)
    reference = rng.beta(2, 30, 5_000)
    profile = drift.reference_profile(population(seed=1), FEATURES, scores=reference)
    assert drift.score_psi(profile, rng.beta(2, 30, 5_000)) < 0.02
    assert drift.score_psi(profile, rng.beta(6, 30, 5_000)) > 0.25


def test_label_surplus_fires_at_the_threshold_and_not_below(settings):
    needed = max(settings.retrain_min_new_labels, int(np.ceil(settings.retrain_new_label_share * 2_000)))
    assert needed == 500
    assert not monitoring.label_surplus_trigger(499, 2_000, settings).fired
    fired = monitoring.label_surplus_trigger(500, 2_000, settings)
    assert fired.fired and fired.threshold == 500
    # A small model: the absolute minimum counts.
    assert not monitoring.label_surplus_trigger(150, 100, settings).fired
    assert monitoring.label_surplus_trigger(200, 100, settings).fired
    tight = dataclasses.replace(settings, retrain_min_new_labels=10, retrain_new_label_share=0.01)
    assert monitoring.label_surplus_trigger(20, 2_000, tight).fired


def outcomes(n: int, seed: int, informative: bool, rate_factor: float = 1.0):
    """Predicted probabilities and labels: drawn from the predictions (informative) or unrelated to them."""
    rng = np.random.default_rng(seed)
    predicted = np.clip(rng.beta(2, 12, n), 0.001, 0.999)
    truth = predicted if informative else rng.permutation(predicted)
    labels = (rng.random(n) < np.clip(truth * rate_factor, 0, 1)).astype(int)
    return labels, predicted


def test_auc_decay_fires_when_the_ranking_is_lost(settings):
    labels, predicted = outcomes(3_000, 1, informative=True)
    healthy = monitoring.realised_performance(labels, predicted)
    holdout = {"roc_auc": healthy["auc"]}
    quiet = monitoring.decay_trigger(monitoring.realised_performance(*outcomes(3_000, 2, True)), holdout, settings)
    assert not any(t.fired for t in quiet), [t.reason for t in quiet]
    decayed = monitoring.decay_trigger(monitoring.realised_performance(*outcomes(3_000, 3, False)), holdout, settings)
    names = {t.name: t for t in decayed}
    assert names["auc_decay"].fired and "realised AUC" in names["auc_decay"].reason
    assert not names["calibration_decay"].fired  # the rate is right, only the ranking is gone


def test_calibration_decay_fires_when_conversions_double(settings):
    labels, predicted = outcomes(3_000, 4, informative=True, rate_factor=2.0)
    performance = monitoring.realised_performance(labels, predicted)
    triggers = {t.name: t for t in monitoring.decay_trigger(performance, {"roc_auc": 0.7}, settings)}
    assert triggers["calibration_decay"].fired
    assert performance["observed"] > performance["predicted_high"]


def test_too_few_matured_outcomes_never_fire(settings):
    labels, predicted = outcomes(120, 5, informative=False, rate_factor=3.0)
    triggers = monitoring.decay_trigger(monitoring.realised_performance(labels, predicted), {"roc_auc": 0.9}, settings)
    assert not any(t.fired for t in triggers)
    assert all("fewer than" in t.reason for t in triggers)
    assert not any(t.fired for t in monitoring.decay_trigger(None, {}, settings))


def test_qini_decay_fires_for_an_uplift_ranking_worse_than_random(settings):
    from ml.uplift import uplift_metrics

    rng = np.random.default_rng(6)
    n = 6_000
    x = rng.normal(size=n)
    treated = rng.random(n) < 0.5
    labels = (rng.random(n) < 0.05 + 0.08 * treated * (x > 0)).astype(int)
    rows = pd.DataFrame({"is_treated": treated, "label": labels})
    good = {"matured": n, "positives": labels.sum(), **uplift_metrics(x, rows)}
    bad = {"matured": n, "positives": labels.sum(), **uplift_metrics(-x, rows)}
    assert not monitoring.decay_trigger(good, {"qini": 0.02}, settings, uplift=True)[0].fired
    fired = monitoring.decay_trigger(bad, {"qini": 0.02}, settings, uplift=True)[0]
    assert fired.fired and fired.name == "qini_decay"


def test_a_decision_names_what_fired_or_why_nothing_did(settings):
    profile = drift.reference_profile(population(seed=1), FEATURES)
    calm = {
        "feature_psi": drift.feature_psi(profile, population(seed=2)),
        "prediction_psi": 0.01,
        "performance": None,
        "champion_metrics": {"roc_auc": 0.7},
    }
    state = {"rows": 2_000, "labels_through": "2024-03-01T00:00:00", "run_date": "2024-03-01", "status": "trained"}
    quiet = monitoring.decide("propensity_credit_card", "propensity", "credit_card", "3", calm, state, 40, settings)
    assert not quiet.retrain and quiet.reason.startswith("no trigger fired")
    assert {t.name for t in quiet.triggers} == {
        "label_surplus",
        "feature_drift",
        "prediction_drift",
        "auc_decay",
        "calibration_decay",
    }
    drifted = {**calm, "feature_psi": drift.feature_psi(profile, population(seed=2, shift=1.0))}
    loud = monitoring.decide("propensity_credit_card", "propensity", "credit_card", "3", drifted, state, 600, settings)
    assert loud.retrain and loud.fired == ["label_surplus", "feature_drift"]
    first = monitoring.decide("uplift_credit_card", "uplift", "credit_card", None, {}, None, 0, settings)
    assert first.fired == ["no_champion"]
    # No champion because the last attempt had too little data: try again with a quarter more.
    skipped = {**state, "status": "skipped", "rows": 400}
    waiting = monitoring.decide("uplift_credit_card", "uplift", "credit_card", None, {}, skipped, 99, settings)
    assert not waiting.retrain and "skipped" in waiting.reason and "the 100 needed" in waiting.reason
    assert monitoring.decide("uplift_credit_card", "uplift", "credit_card", None, {}, skipped, 100, settings).retrain
    # No champion because the last version lost its gate: wait for a label surplus, not every day.
    lost = monitoring.decide("uplift_credit_card", "uplift", "credit_card", None, {}, state, 40, settings)
    assert not lost.retrain and "fewer than the 500 needed" in lost.reason
    assert monitoring.decide("uplift_credit_card", "uplift", "credit_card", None, {}, state, 500, settings).retrain
    rows = monitoring.decision_rows(pd.Timestamp("2024-03-02").date(), [quiet, loud, first])
    assert rows.groupby("model_name")["retrain"].first().to_dict() == {
        "propensity_credit_card": False,
        "uplift_credit_card": True,
    }
    assert rows["fired"].sum() == 3


def test_training_state_remembers_each_attempt(settings):
    from datetime import date

    monitoring.record_training_attempt(
        settings, "uplift_term_deposit", date(2024, 3, 1), "skipped", 80, "2024-02-28T10:00:00"
    )
    monitoring.record_training_attempt(settings, "propensity_term_deposit", date(2024, 3, 1), "trained", 900, None)
    state = monitoring.read_training_state(settings)
    assert state["uplift_term_deposit"] == {
        "run_date": "2024-03-01",
        "status": "skipped",
        "rows": 80,
        "labels_through": "2024-02-28T10:00:00",
    }
    assert set(state) == {"uplift_term_deposit", "propensity_term_deposit"}


def test_the_training_dag_decision_writes_its_reasons_and_alerts_on_drift(tmp_path, monkeypatch):
    """pipeline.decide_retraining decides from D's monitoring as monitor_models returned it, writes every
    trigger's verdict (run record and Parquet for the warehouse) and raises one alert per drifted or decayed
    model, none for a label surplus."""
    import json
    from datetime import date

    from bankmkt import pipeline
    from bankmkt.settings import get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    settings = get_settings()
    day = date(2024, 3, 20)
    profile = drift.reference_profile(population(seed=1), FEATURES)
    trained = {"run_date": "2024-03-01", "status": "trained", "rows": 1_000, "labels_through": "2024-03-01T00:00:00"}
    calm = {
        "feature_psi": drift.feature_psi(profile, population(seed=2)),
        "prediction_psi": 0.01,
        "champion_metrics": {"roc_auc": 0.7},
        "performance": None,
    }
    records = [
        {
            "model_name": "propensity_credit_card",
            "kind": "propensity",
            "product_code": "credit_card",
            "champion_version": "2",
            "last_training": trained,
            "new_labels": 10,
            **calm,
        },
        {
            "model_name": "propensity_term_deposit",
            "kind": "propensity",
            "product_code": "term_deposit",
            "champion_version": "4",
            "last_training": trained,
            "new_labels": 10,
            **calm,
            "feature_psi": drift.feature_psi(profile, population(seed=2, shift=1.0)),
        },
        {
            "model_name": "propensity_personal_loan",
            "kind": "propensity",
            "product_code": "personal_loan",
            "champion_version": "1",
            "last_training": trained,
            "new_labels": 400,
            **calm,
        },
    ]
    result = pipeline.decide_retraining(day, {"run_date": day.isoformat(), "models": records})
    assert result["retrain"] == ["propensity_term_deposit", "propensity_personal_loan"]
    assert result["alerts"] == 1
    alerts = [json.loads(line) for line in settings.alerts_file.read_text().splitlines()]
    assert len(alerts) == 1 and alerts[0]["model"] == "propensity_term_deposit"
    assert "feature_drift" in alerts[0]["summary"] and "balance_total" in alerts[0]["summary"]
    written = pd.read_parquet(settings.monitoring_dir(day) / monitoring.DECISIONS_FILE)
    assert set(written.loc[written["fired"], "trigger"]) == {"feature_drift", "label_surplus"}
    assert written.groupby("model_name")["retrain"].first().to_dict() == {
        "propensity_credit_card": False,
        "propensity_term_deposit": True,
        "propensity_personal_loan": True,
    }


def test_expected_auc_matches_simulated_labels_and_sees_through_selection(settings):
    """A healthy model judged on the customers it picked: lower AUC than on everyone, but as expected."""
    rng = np.random.default_rng(8)
    predicted = np.clip(rng.beta(2, 10, 40_000), 0.001, 0.999)
    labels = (rng.random(len(predicted)) < predicted).astype(int)
    everyone = monitoring.realised_performance(labels, predicted)
    assert everyone["expected_auc"] == pytest.approx(everyone["auc"], abs=0.01)
    picked = predicted >= np.quantile(predicted, 0.8)  # the top fifth: what targeting contacts
    selected = monitoring.realised_performance(labels[picked], predicted[picked])
    assert selected["auc"] < everyone["auc"] - 0.1  # selection alone lowers the AUC...
    assert selected["expected_auc"] == pytest.approx(selected["auc"], abs=0.03)  # ...and the model expected it
    triggers = {t.name: t for t in monitoring.decay_trigger(selected, {"roc_auc": everyone["auc"]}, settings)}
    assert not triggers["auc_decay"].fired, triggers["auc_decay"].reason
    # Ties count half: a constant score expects 0.5.
    assert monitoring.expected_auc(np.full(100, 0.2)) == pytest.approx(0.5)


def test_without_the_daily_monitoring_the_decision_measures_the_models_first(tmp_path, monkeypatch):
    """`cli stage decide_retraining` has no XCom to hand over: the stage calls monitor_models itself,
    and never reads monitor_models' run record; monitoring of another day is refused."""
    from datetime import date

    from bankmkt import pipeline

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    day = date(2024, 3, 20)
    measured = []
    monkeypatch.setattr(
        pipeline,
        "monitor_models",
        lambda run_date: measured.append(run_date) or {"run_date": "2024-03-20", "models": []},
    )
    result = pipeline.decide_retraining(day)
    assert measured == [day] and result["retrain"] == [] and result["decisions"] == []
    with pytest.raises(ValueError, match="of 2024-03-19, not of 2024-03-20"):
        pipeline.decide_retraining(day, {"run_date": "2024-03-19", "models": []})
