"""The models against the synthetic bank's ground truth (oracle AUC on the same holdout)."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.evaluation import ORACLE_COLUMNS, compare_with_truth, oracle_comparison
from ml.registry import use_tracking
from ml.report import write_run_report
from ml.training import HOLDOUT_ARTIFACT, train_and_register

RUN_DATE = "2024-03-01"
PRODUCT = "term_deposit"


def test_compare_with_truth_on_a_known_holdout():
    holdout = pd.DataFrame(
        {
            "contact_id": ["c1", "c2", "c3", "c4", "c5"],
            "label": [0, 0, 1, 1, 0],
            "propensity": [0.1, 0.4, 0.3, 0.8, 0.2],
        }
    )
    truth = pd.DataFrame(
        {
            "contact_id": ["c1", "c2", "c3", "c4", "c9"],  # c5 has no truth: not compared
            "true_probability": [0.05, 0.10, 0.30, 0.20, 0.90],  # perfect order: AUC 1
        }
    )
    figures = compare_with_truth(holdout, truth)
    assert figures["holdout_rows"] == 4 and figures["holdout_positives"] == 2
    # On c1-c4 the model misorders (c2 0.4 > c3 0.3): 3 of 4 pairs right.
    assert figures["model_roc_auc"] == pytest.approx(0.75)
    assert figures["oracle_roc_auc"] == pytest.approx(1.0)
    assert figures["auc_ratio"] == pytest.approx(0.75)


def test_compare_with_truth_needs_both_outcomes():
    holdout = pd.DataFrame({"contact_id": ["c1", "c2"], "label": [0, 1], "propensity": [0.2, 0.3]})
    with pytest.raises(ValueError, match="both outcomes"):
        compare_with_truth(holdout, pd.DataFrame({"contact_id": ["c1"], "true_probability": [0.1]}))


@pytest.fixture(scope="module")
def bank(isolated_settings, training_frame_factory, true_probability_of, feature_columns):
    """A trained product model on a frame whose true probabilities are known, and their truth file."""
    frame = training_frame_factory(n=1200, product_code=PRODUCT, seed=31)
    trained = train_and_register(frame, PRODUCT, RUN_DATE, feature_columns, isolated_settings)
    truth = frame[["contact_id"]].assign(true_probability=true_probability_of(frame))
    isolated_settings.truth_dir.mkdir(parents=True, exist_ok=True)
    truth.to_parquet(isolated_settings.truth_dir / "contact_truth.parquet", index=False)
    return trained, frame, truth


def test_the_holdout_is_logged_with_the_models_propensity(bank, isolated_settings):
    trained, frame, _ = bank
    client = use_tracking(isolated_settings)
    assert HOLDOUT_ARTIFACT in {a.path for a in client.list_artifacts(trained["run_id"])}


def test_oracle_comparison_of_the_days_models(bank, isolated_settings):
    trained, frame, truth = bank
    comparison = oracle_comparison(RUN_DATE, isolated_settings)
    assert list(comparison.columns) == list(ORACLE_COLUMNS)
    assert set(comparison["product_code"]) == {"credit_card", "personal_loan", "term_deposit", "wealth_management"}
    row = comparison.set_index("product_code").loc[PRODUCT]
    assert row["run_id"] == trained["run_id"] and row["version"] == trained["version"]
    # The model's AUC is the one logged at training, on the same holdout contacts.
    assert row["model_roc_auc"] == pytest.approx(trained["metrics"]["roc_auc"])
    assert row["holdout_rows"] == trained["metrics"]["holdout_rows"]
    assert 0.5 < row["oracle_roc_auc"] <= 1.0
    assert row["auc_ratio"] == pytest.approx(row["model_roc_auc"] / row["oracle_roc_auc"])
    assert row["meets_target"] == (row["auc_ratio"] >= 0.95)
    others = comparison.loc[comparison["product_code"] != PRODUCT]
    assert others["note"].str.contains("no training run").all() and others["auc_ratio"].isna().all()
    metrics = use_tracking(isolated_settings).get_run(trained["run_id"]).data.metrics
    assert metrics["auc_ratio_to_oracle"] == pytest.approx(row["auc_ratio"])
    assert metrics["oracle_roc_auc"] == pytest.approx(row["oracle_roc_auc"])

    page = write_run_report(RUN_DATE, [trained], pd.DataFrame(), isolated_settings, oracle=comparison).read_text()
    assert "Against the truth" in page and ">Ratio to oracle</th>" in page


def test_no_truth_is_an_error(tmp_path, isolated_settings):
    from dataclasses import replace

    with pytest.raises(FileNotFoundError, match="synthetic bank"):
        oracle_comparison(RUN_DATE, replace(isolated_settings, data_dir=tmp_path))
