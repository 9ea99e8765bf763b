"""Training: time split, leakage guard, calibrated probabilities, MLflow logging, report."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml.registry import alias_version, use_tracking
from ml.report import write_run_report
from ml.training import LeakageError, apply_calibration, fit_calibration, train_and_register

RUN_DATE = "2024-03-01"
TAGS = {"dbt_run_id": "dbt-0001", "feature_service": "propensity_v1"}


@pytest.fixture(scope="module")
def frame(training_frame_factory):
    credit_card = training_frame_factory(n=1200, product_code="credit_card", seed=0)
    # Feast's point-in-time join stamps each feature row at or before the contact.
    credit_card["feature_timestamp"] = credit_card["event_timestamp"] - pd.Timedelta(hours=6)
    # Another product's contacts must be ignored (their labels are all 1: they would show).
    loans = training_frame_factory(n=300, product_code="personal_loan", seed=1).assign(label=1)
    loans["feature_timestamp"] = loans["event_timestamp"]
    return pd.concat([credit_card, loans], ignore_index=True)


@pytest.fixture(scope="module")
def trained(isolated_settings, frame, feature_columns):
    return train_and_register(frame, "credit_card", RUN_DATE, feature_columns, isolated_settings, tags=TAGS)


def test_model_with_signal_ranks_well(trained):
    assert trained["status"] == "trained"
    metrics = trained["metrics"]
    assert metrics["roc_auc"] > 0.7
    assert metrics["lift_top_decile"] > 1.5
    assert metrics["pr_auc"] > metrics["holdout_base_rate"]
    for name in ("roc_auc", "pr_auc", "lift_top_decile", "brier", "profit_at_k", "train_positives", "holdout_rows"):
        assert name in metrics


def test_trains_on_treated_contacts_of_the_product_split_by_time(trained, frame):
    treated = frame[(frame["product_code"] == "credit_card") & ~frame["is_control"]]
    cutoff = treated["event_timestamp"].max() - pd.Timedelta(days=14)
    metrics = trained["metrics"]
    assert metrics["holdout_rows"] == (treated["event_timestamp"] >= cutoff).sum()
    assert metrics["train_rows"] == (treated["event_timestamp"] < cutoff).sum()
    assert metrics["holdout_positives"] == treated.loc[treated["event_timestamp"] >= cutoff, "label"].sum()
    assert pd.Timestamp(trained["holdout_cutoff"]) == cutoff


def test_probabilities_are_calibrated_not_rebalanced(trained):
    metrics = trained["metrics"]
    base = metrics["holdout_base_rate"]
    # Class weighting alone would put the mean score near 0.5; calibration brings it to the base rate.
    assert abs(metrics["holdout_mean_propensity"] - base) < 0.07
    # Better than always predicting the base rate.
    assert metrics["brier"] < base * (1 - base)


def test_first_model_is_registered_and_champion(trained, isolated_settings):
    assert trained["version"] == "1"
    assert trained["promoted"] is True
    assert trained["champion_version"] == "1"
    assert alias_version(trained["model_name"], "champion", use_tracking(isolated_settings)) == "1"
    assert trained["model_name"] == "propensity_credit_card"


def test_run_logs_params_metrics_tags_and_charts(trained, isolated_settings):
    client = use_tracking(isolated_settings)
    run = client.get_run(trained["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "propensity_credit_card"
    assert run.data.tags["data_date"] == RUN_DATE
    assert run.data.tags["dbt_run_id"] == "dbt-0001"
    assert run.data.tags["feature_service"] == "propensity_v1"
    assert run.data.params["holdout_days"] == "14"
    assert run.data.params["lgbm_seed"] == "42"
    assert run.data.metrics["roc_auc"] == pytest.approx(trained["metrics"]["roc_auc"])
    charts = {a.path for a in client.list_artifacts(trained["run_id"], "charts")}
    assert charts == {f"charts/{n}.png" for n in ("calibration", "cumulative_gain", "lift", "feature_importance")}
    assert "segment_metrics.csv" in {a.path for a in client.list_artifacts(trained["run_id"])}
    assert {row["segment"] for row in trained["segment_metrics"]} == {"mass", "affluent", "young"}
    assert any(key.startswith("segment.mass.") for key in run.data.metrics)


def test_registered_model_returns_probabilities_and_contributions(trained, frame, feature_columns):
    uri = f"models:/{trained['model_name']}@champion"
    assert mlflow.models.get_model_info(uri).signature is not None
    loaded = mlflow.pyfunc.load_model(uri)
    sample = frame[frame["product_code"] == "credit_card"].head(50).copy()
    sample.loc[sample.index[:3], ["age", "balance_total", "last_nps"]] = np.nan  # Feast gaps
    propensity = np.asarray(loaded.predict(sample[feature_columns].astype("float64")))
    assert ((propensity > 0) & (propensity < 1)).all()
    assert all(column.required for column in loaded.metadata.get_input_schema().inputs)
    model = loaded.unwrap_python_model()
    np.testing.assert_allclose(model.predict_proba(sample), propensity)
    contributions = model.contributions(sample)
    assert contributions.shape == (50, len(feature_columns) + 1)
    np.testing.assert_allclose(model.calibrate(contributions.sum(axis=1)), propensity, rtol=1e-6)


def test_same_frame_gives_same_model_and_a_tie_is_not_promoted(trained, frame, feature_columns, isolated_settings):
    again = train_and_register(frame, "credit_card", RUN_DATE, feature_columns, isolated_settings)
    assert again["metrics"] == pytest.approx(trained["metrics"])
    assert again["promoted"] is False
    assert again["champion_version"] == trained["version"]


def test_leakage_guard_raises_before_anything_is_logged(isolated_settings, frame, feature_columns):
    leaky = frame.copy()
    leaky.loc[5, "feature_timestamp"] = leaky.loc[5, "event_timestamp"] + pd.Timedelta(minutes=1)
    versions_before = len(use_tracking(isolated_settings).search_model_versions("name='propensity_credit_card'"))
    with pytest.raises(LeakageError, match="after the contact"):
        train_and_register(leaky, "credit_card", RUN_DATE, feature_columns, isolated_settings)
    assert (
        len(use_tracking(isolated_settings).search_model_versions("name='propensity_credit_card'")) == versions_before
    )


def test_too_few_positives_is_skipped_not_an_error(isolated_settings, training_frame_factory, feature_columns):
    rare = training_frame_factory(n=400, product_code="term_deposit", seed=3)
    rare["label"] = 0
    rare.loc[rare.index[:5], "label"] = 1
    result = train_and_register(rare, "term_deposit", RUN_DATE, feature_columns, isolated_settings, min_positives=10)
    assert result["status"] == "skipped"
    assert "positives" in result["reason"]


def test_contacts_after_the_run_date_are_not_used(isolated_settings, frame, feature_columns):
    result = train_and_register(frame, "credit_card", "2023-12-01", feature_columns, isolated_settings)
    assert result == {"status": "skipped", "product_code": "credit_card", "reason": "no labelled treated contacts"}


def test_run_report_embeds_charts_and_target_mix(isolated_settings, trained):
    skipped = {"status": "skipped", "product_code": "term_deposit", "reason": "holdout window has 3 positives"}
    target_list = pd.DataFrame(
        {
            "product_code": ["credit_card"] * 3,
            "customer_id": ["a", "b", "c"],
            "propensity": [0.5, 0.4, 0.3],
            "expected_value": [75.0, 60.0, 45.0],
            "is_control": [False, False, True],
            "segment": ["mass", "young", "mass"],
            "model_version": ["1"] * 3,
        }
    )
    path = write_run_report(RUN_DATE, [trained, skipped], target_list, isolated_settings)
    assert path == isolated_settings.reports_dir / "runs" / f"dt={RUN_DATE}" / "models.html"
    page = path.read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "holdout window has 3 positives" in page
    assert ">ROC AUC</th>" in page and "young" in page


@pytest.mark.parametrize("rows, method", [(500, "sigmoid"), (5000, "isotonic")])
def test_calibration_undoes_class_weighting(rows, method):
    rng = np.random.default_rng(0)
    true_logit = rng.normal(-2.0, 1.5, rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-true_logit))).astype(int)
    # What a booster trained with scale_pos_weight ~ 6 outputs: log-odds shifted up by log(6).
    raw = true_logit + np.log(6.0)
    calibration = fit_calibration(raw, labels)
    assert calibration["method"] == method
    probability = apply_calibration(calibration, raw)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert np.all(np.diff(probability[np.argsort(raw)]) >= -1e-12)  # keeps the ranking
    assert abs(probability.mean() - labels.mean()) < 0.02
    assert (1 / (1 + np.exp(-raw))).mean() > labels.mean() + 0.2  # uncalibrated is far off


def test_a_campaign_sent_on_one_day_is_held_out_by_customer(isolated_settings, training_frame_factory, feature_columns):
    """No earlier window to train on: a quarter of the customers are the holdout instead, and the split says so."""
    from ml.splits import held_out_customers

    one_day = training_frame_factory(n=1500, product_code="term_deposit", seed=5, days=0.5)
    result = train_and_register(one_day, "term_deposit", RUN_DATE, feature_columns, isolated_settings)

    assert result["status"] == "trained", result.get("reason")
    assert result["holdout_split"] == "customer" and result["holdout_cutoff"] is None
    assert "held out instead" in result["holdout_split_reason"]
    treated = one_day.loc[~one_day["is_control"]]
    assert result["metrics"]["holdout_rows"] == held_out_customers(treated["customer_id"]).sum()
    assert result["metrics"]["roc_auc"] > 0.65


def test_too_few_conversions_for_either_split_is_a_readable_skip(
    isolated_settings, training_frame_factory, feature_columns
):
    """A one-day campaign with a handful of conversions: neither split works, and the skip says both were tried."""
    tiny = training_frame_factory(n=60, product_code="term_deposit", seed=6, days=0.5)
    result = train_and_register(tiny, "term_deposit", RUN_DATE, feature_columns, isolated_settings)
    assert result["status"] == "skipped"
    assert "neither the last 14 days" in result["holdout_split_reason"]
    assert "of customers" in result["holdout_split_reason"]
