"""Uplift: a T-learner recovers who a contact moves; Qini tells a useful ranking from a random one;
targeting by incremental value skips customers who buy anyway."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.uplift import fit_t_learner, qini_coefficient, qini_curve


def randomised(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Customers whose contact effect depends on x1 (positive) and x2 (put off), with random arms."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=(3, n))
    base = 1 / (1 + np.exp(-(-2.2 + 0.8 * x3)))  # x3 drives buying anyway
    effect = 0.10 * (x1 > 0) - 0.05 * (x2 > 1)
    treated = rng.random(n) < 0.6
    outcome = rng.random(n) < np.clip(base + treated * effect, 0, 1)
    return pd.DataFrame(
        {"x1": x1, "x2": x2, "x3": x3, "is_treated": treated, "label": outcome.astype(int), "true_uplift": effect}
    )


def test_t_learner_ranks_by_the_true_effect_not_by_buying_anyway():
    train, test = randomised(seed=1), randomised(seed=2)
    model = fit_t_learner(train, ["x1", "x2", "x3"])
    predicted = model.predict(test)
    assert np.corrcoef(predicted["uplift"], test["true_uplift"])[0, 1] > 0.5
    # Propensity (the treated arm's probability) follows x3, who buys anyway; uplift does not.
    assert abs(np.corrcoef(predicted["uplift"], test["x3"])[0, 1]) < 0.3
    top = predicted["uplift"].rank(ascending=False) <= len(test) * 0.2
    assert test.loc[top, "true_uplift"].mean() > test["true_uplift"].mean() + 0.04


def test_qini_is_zero_for_a_random_order_and_highest_for_the_truth():
    test = randomised(seed=3)
    truth = qini_coefficient(test["true_uplift"].to_numpy(), test["is_treated"], test["label"])
    shuffled = np.random.default_rng(4).permutation(len(test))
    random = qini_coefficient(shuffled, test["is_treated"], test["label"])
    backwards = qini_coefficient(-test["true_uplift"].to_numpy(), test["is_treated"], test["label"])
    assert truth > 0.01 and abs(random) < truth / 3 and backwards < 0
    share, gain = qini_curve(test["true_uplift"].to_numpy(), test["is_treated"], test["label"])
    assert share[0] == 0 and share[-1] == 1 and gain[0] == 0


def test_an_arm_without_conversions_is_refused_with_a_reason():
    frame = randomised(2_000)
    frame.loc[~frame["is_treated"], "label"] = 0
    with pytest.raises(ValueError, match="the control arm has 0 conversions"):
        fit_t_learner(frame, ["x1", "x2", "x3"])


def test_targeting_by_incremental_value_skips_customers_who_buy_anyway():
    from bankmkt.campaigns import Campaign
    from ml.targeting import build_target_lists

    day = date(2024, 3, 2)
    customers = pd.DataFrame(
        {"customer_id": ["sure", "persuadable", "put_off"], "has_marketing_consent": True, "has_credit_card": False}
    )
    scores = pd.DataFrame(
        {
            "customer_id": ["sure", "persuadable", "put_off"],
            "product_code": "credit_card",
            "propensity": [0.9, 0.3, 0.4],
            "uplift": [0.0, 0.2, -0.1],
            "model_name": "m",
            "model_version": "1",
        }
    )
    channels = pd.DataFrame({"customer_id": ["sure", "persuadable", "put_off"], "channel": "email", "channel_rank": 1})
    campaign = {
        "C": Campaign(
            "C",
            "C",
            "credit_card",
            "o",
            0.0,
            day - timedelta(1),
            day + timedelta(1),
            14,
            0.01,
            None,
            None,
            (),
            {"email": (1, 0.1)},
        )
    }
    by_propensity, _ = build_target_lists(scores, customers, day, campaign, channels)
    by_uplift, _ = build_target_lists(scores, customers, day, campaign, channels, policy="uplift")
    assert by_propensity.loc[~by_propensity["is_control"], "customer_id"].tolist()[:1] == ["sure"]
    assert by_uplift["customer_id"].tolist() == ["persuadable"]
    assert by_uplift["expected_value"].iloc[0] == pytest.approx(0.2 * 150 - 0.1)


def platform_contacts(n: int = 6_000, seed: int = 0, informative: bool = True) -> pd.DataFrame:
    """Labelled contacts as Feast's training set gives them (both arms), with an effect driven by logins."""
    from tests.ml.conftest import FEATURES, _features

    rng = np.random.default_rng(seed)
    frame = _features(rng, n)
    treated = rng.random(n) < 0.5
    base = 1 / (1 + np.exp(-(-2.6 + 0.5 * frame["product_views_30d"].sub(2))))
    effect = 0.12 * (frame["digital_logins_30d"] > 6) - 0.03
    if not informative:  # the effect no longer follows the features the model uses
        effect = rng.permutation(effect.to_numpy())
    frame["label"] = (rng.random(n) < np.clip(base + treated * effect, 0, 1)).astype(int)
    frame["is_control"] = ~treated
    frame["event_timestamp"] = pd.Timestamp("2024-03-01", tz="UTC") - pd.to_timedelta(rng.uniform(0, 60, n), "D")
    frame["contact_id"] = [f"ct{seed}_{i}" for i in range(n)]
    frame["customer_id"] = [f"cu{i}" for i in range(n)]
    frame["product_code"] = "credit_card"
    return frame[["contact_id", "customer_id", "product_code", "is_control", "event_timestamp", "label", *FEATURES]]


def test_uplift_models_are_registered_and_gated_on_qini(isolated_settings, feature_columns):
    import mlflow

    from ml.drift import REFERENCE_ARTIFACT
    from ml.registry import aliases, use_tracking
    from ml.uplift import load_uplift_champion, train_uplift_and_register

    frame = platform_contacts()
    population = frame[feature_columns].head(1_000)
    first = train_uplift_and_register(
        frame, "credit_card", date(2024, 3, 1), feature_columns, isolated_settings, population=population
    )
    assert first["status"] == "trained" and first["promoted"], first
    assert first["metrics"]["qini"] > 0 and first["model_name"] == "uplift_credit_card"
    name, version, model = load_uplift_champion("credit_card", isolated_settings)
    assert version == first["version"]
    uplift = model.arms(frame)["uplift"]
    assert uplift[frame["digital_logins_30d"] > 6].mean() > uplift[frame["digital_logins_30d"] <= 6].mean() + 0.04
    profile = mlflow.artifacts.load_dict(f"runs:/{first['run_id']}/{REFERENCE_ARTIFACT}")
    assert set(profile["features"]) == set(feature_columns) and "score" in profile

    # Labels that no longer follow the features: the new version ranks no better, stays challenger.
    second = train_uplift_and_register(
        platform_contacts(seed=1, informative=False),
        "credit_card",
        date(2024, 3, 2),
        feature_columns,
        isolated_settings,
    )
    assert second["status"] == "trained" and not second["promoted"], second["gate_reason"]
    assert aliases("uplift_credit_card", use_tracking(isolated_settings)) == {
        "champion": first["version"],
        "challenger": second["version"],
    }


def test_uplift_training_skips_with_a_reason_when_controls_never_convert(isolated_settings, feature_columns):
    from ml.uplift import train_uplift_and_register

    frame = platform_contacts(2_000, seed=3)
    frame.loc[frame["is_control"], "label"] = 0
    result = train_uplift_and_register(frame, "credit_card", date(2024, 3, 1), feature_columns, isolated_settings)
    assert result["status"] == "skipped" and "control arm has 0 conversions" in result["reason"]
    assert result["rows"] == 2_000 and result["labels_through"]


def test_x_learner_tracks_the_true_effect_at_least_as_well_as_the_t_learner():
    from ml.uplift import fit_x_learner

    train, test = randomised(seed=5), randomised(seed=6)
    x = fit_x_learner(train, ["x1", "x2", "x3"]).predict(test)["uplift"]
    t = fit_t_learner(train, ["x1", "x2", "x3"]).predict(test)["uplift"]
    truth = test["true_uplift"]
    assert np.corrcoef(x, truth)[0, 1] > 0.6
    assert np.corrcoef(x, truth)[0, 1] >= np.corrcoef(t, truth)[0, 1] - 0.02
    assert abs(np.corrcoef(x, test["x3"])[0, 1]) < 0.3  # not fooled by who buys anyway
