"""The promotion gate and rollback, on real registered versions.

The "bad" frame has the same customers, contacts and holdout as the "good" one,
but its training-window labels are shuffled: a model with no signal, evaluated
on exactly the same holdout.
"""

from __future__ import annotations

import pandas as pd
import pytest

from bankmkt.cli import main
from ml.registry import (
    RollbackError,
    aliases,
    champion_summary,
    gate_k,
    profit_at_k,
    promote_if_better,
    rollback,
    use_tracking,
)
from ml.training import train_and_register

PRODUCT = "personal_loan"
NAME = f"propensity_{PRODUCT}"
RUN_DATE = "2024-03-01"


@pytest.fixture(scope="module")
def frames(training_frame_factory):
    good = training_frame_factory(n=1200, product_code=PRODUCT, seed=7)
    noise_before = pd.Timestamp(RUN_DATE, tz="UTC") - pd.Timedelta(days=15)
    bad = training_frame_factory(n=1200, product_code=PRODUCT, seed=7, noise_labels_before=noise_before)
    return good, bad


@pytest.fixture(scope="module")
def client(isolated_settings):
    return use_tracking(isolated_settings)


@pytest.fixture(scope="module")
def history(isolated_settings, frames, feature_columns):
    """v1 (no signal) → first champion; v2 (signal) → champion; v3 (no signal) → challenger."""
    good, bad = frames
    return [
        train_and_register(frame, PRODUCT, RUN_DATE, feature_columns, isolated_settings) for frame in (bad, good, bad)
    ]


def test_frames_share_the_holdout(frames):
    good, bad = frames
    late = good["event_timestamp"] >= pd.Timestamp(RUN_DATE, tz="UTC") - pd.Timedelta(days=15)
    pd.testing.assert_frame_equal(good[late], bad[late])
    assert (good.loc[~late, "label"] != bad.loc[~late, "label"]).any()


def test_first_version_becomes_champion(history):
    first = history[0]
    assert first["version"] == "1" and first["promoted"] is True
    assert first["metrics"]["roc_auc"] < 0.7


def test_better_model_becomes_champion_and_old_one_previous(history, client):
    better = history[1]
    assert better["metrics"]["roc_auc"] > history[0]["metrics"]["roc_auc"] + 0.1
    assert better["promoted"] is True and better["champion_version"] == "2"
    tags = client.get_model_version(NAME, "2").tags
    assert tags["gate_decision"] == "champion"
    assert "re-scored on the candidate's holdout" in tags["gate_reason"]
    assert tags["gate_champion_version"] == "1"


def test_worse_model_never_becomes_champion(history, client):
    worse = history[2]
    assert worse["promoted"] is False
    assert worse["champion_version"] == "2"
    assert aliases(NAME, client) == {"champion": "2", "previous": "1", "challenger": "3"}
    assert client.get_model_version(NAME, "3").tags["gate_decision"] == "challenger"


def test_the_champion_as_the_registry_holds_it(history, client):
    """What the day's model report shows when the day did not train: the champion's version, metrics and run."""
    summary = champion_summary(NAME, client)
    assert summary["status"] == "champion" and summary["version"] == summary["champion_version"] == "2"
    assert summary["product_code"] == PRODUCT and summary["run_id"] == history[1]["run_id"]
    assert summary["metrics"]["roc_auc"] == pytest.approx(history[1]["metrics"]["roc_auc"])
    assert summary["data_date"] == RUN_DATE and RUN_DATE in summary["reason"]
    assert champion_summary("propensity_never_trained", client) is None


def test_gate_without_holdout_uses_logged_metrics_and_margins(history, client, isolated_settings):
    champion_auc = history[1]["metrics"]["roc_auc"]
    champion_profit = history[1]["metrics"]["profit_at_k"]
    # Higher AUC but lower profit at capacity: not promoted.
    gate = {"capacity": isolated_settings.target_list_size, "client": client}
    assert not promote_if_better(NAME, "3", {"roc_auc": 0.999, "profit_at_k": champion_profit - 1}, **gate)
    # Higher on both but not by the AUC margin: not promoted.
    assert not promote_if_better(
        NAME, "3", {"roc_auc": champion_auc + 0.01, "profit_at_k": champion_profit + 100}, margin_auc=0.02, **gate
    )
    assert aliases(NAME, client)["champion"] == "2"


def test_rollback_restores_previous_champion(history, client, capsys):
    assert main(["model", "rollback", "--model", NAME]) == 0
    assert aliases(NAME, client) == {"champion": "1", "challenger": "3"}
    assert main(["model", "show", "--model", NAME]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [f"{NAME}@challenger = v3", f"{NAME}@champion = v1"]
    assert client.get_model_version(NAME, "2").tags["rolled_back"] == "true"
    # Nothing left to roll back to.
    with pytest.raises(RollbackError):
        rollback(NAME, client)
    assert main(["model", "rollback", "--model", NAME]) == 1


def test_profit_at_k_counts_conversions_in_the_top_k():
    labels = [1, 0, 1, 0, 0]
    propensity = [0.9, 0.8, 0.1, 0.7, 0.2]
    # Top 2: one conversion worth 100, two contacts costing 5 each.
    assert profit_at_k(labels, propensity, 2, value_per_conversion=100, cost_per_contact=5) == 90
    assert profit_at_k(labels, propensity, 5, value_per_conversion=100, cost_per_contact=5) == 175


def test_gate_k_is_top_decile_capped_at_capacity():
    assert gate_k(1000, capacity=500) == 100
    assert gate_k(100_000, capacity=500) == 500
    assert gate_k(3, capacity=500) == 1
