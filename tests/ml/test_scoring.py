"""Batch scoring with the champion: probabilities, reasons for everyone, edge cases."""

from __future__ import annotations

import re

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest

from ml.scoring import SCORE_COLUMNS, score_customers, top_reasons
from ml.training import train_and_register

PRODUCT = "wealth_management"
REASON = re.compile(r"^(?P<feature>\w+)=(?P<value>\S+) \(\+(?P<contribution>\d+\.\d{3})\)$")


@pytest.fixture(scope="module")
def champion(isolated_settings, training_frame_factory, feature_columns):
    frame = training_frame_factory(n=1200, product_code=PRODUCT, seed=11)
    result = train_and_register(frame, PRODUCT, "2024-03-01", feature_columns, isolated_settings)
    assert result["promoted"]
    return result


@pytest.fixture(scope="module")
def customers(training_frame_factory, feature_columns):
    """Customers as of the scoring date: the same feature columns, one row each."""
    frame = training_frame_factory(n=300, product_code=PRODUCT, seed=12)
    frame = frame[["customer_id", *feature_columns]].copy()
    # Rows 0-9 gave no consent, rows 10-19 already hold the product, the rest are eligible.
    frame["has_marketing_consent"] = 1.0
    frame.loc[:9, "has_marketing_consent"] = 0.0
    frame["has_wealth_management"] = 0.0
    frame.loc[10:19, "has_wealth_management"] = 1.0
    return frame


@pytest.fixture(scope="module")
def scores(champion, customers, feature_columns, isolated_settings):
    return score_customers(
        customers, PRODUCT, feature_columns, "2024-03-02", isolated_settings, reason_rows=len(customers)
    )


def test_one_row_per_customer_with_the_champion_version(scores, customers, champion):
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores["customer_id"].tolist() == customers["customer_id"].tolist()
    assert (scores["product_code"] == PRODUCT).all()
    assert (scores["model_name"] == champion["model_name"]).all()
    assert (scores["model_version"] == champion["champion_version"]).all()
    assert (scores["score_date"].astype(str) == "2024-03-02").all()
    assert scores["propensity"].between(0, 1, inclusive="neither").all()


def test_propensity_is_what_the_registered_model_predicts(scores, customers, champion, feature_columns):
    loaded = mlflow.pyfunc.load_model(f"models:/{champion['model_name']}@champion")
    expected = loaded.predict(customers[feature_columns].astype("float64"))
    np.testing.assert_allclose(scores["propensity"].to_numpy(), np.asarray(expected), rtol=1e-6)


def test_reasons_are_the_largest_positive_contributions(scores, customers, champion, feature_columns):
    model = mlflow.pyfunc.load_model(f"models:/{champion['model_name']}@champion").unwrap_python_model()
    contributions = model.contributions(customers)[:, :-1]
    for position in range(0, 80):
        row = contributions[position]
        expected = [feature_columns[i] for i in np.argsort(-row)[:3] if row[i] > 0]
        texts = [t for t in scores.loc[position, ["reason_1", "reason_2", "reason_3"]] if t is not None]
        parsed = [REASON.match(text) for text in texts]
        assert all(parsed), texts
        assert [m["feature"] for m in parsed] == expected
        shown = [float(m["contribution"]) for m in parsed]
        assert shown == sorted(shown, reverse=True)


def test_every_customer_gets_reasons_by_default(champion, customers, feature_columns, isolated_settings):
    scores = score_customers(customers, PRODUCT, feature_columns, "2024-03-02", isolated_settings)
    # Rows 0-19 cannot be offered the product today; they are explained all the same.
    assert scores["reason_1"].notna().mean() > 0.95
    assert scores.loc[:19, "reason_1"].notna().all()
    # A row without a first reason has no positive contribution at all: nothing to say.
    assert (scores["reason_1"].notna() | (scores["reason_2"].isna() & scores["reason_3"].isna())).all()


def test_large_books_are_explained_without_treeshap(
    champion, customers, feature_columns, monkeypatch, isolated_settings
):
    """The default path: one vectorised pass over the trees per block, never LightGBM's
    per-row TreeSHAP, and the same propensities as the registered model."""
    book = pd.concat([customers] * 40, ignore_index=True)  # 12,000 customers
    book["customer_id"] = [f"cu{i:06d}" for i in range(len(book))]
    predict = lgb.Booster.predict

    def no_treeshap(self, data, *args, **kwargs):
        assert not kwargs.get("pred_contrib"), "TreeSHAP must not run on the default path"
        return predict(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", no_treeshap)
    scores = score_customers(book, PRODUCT, feature_columns, "2024-03-02", isolated_settings)
    assert len(scores) == len(book)
    assert scores["reason_1"].notna().mean() > 0.95
    single = score_customers(customers, PRODUCT, feature_columns, "2024-03-02", isolated_settings)
    np.testing.assert_allclose(scores["propensity"].to_numpy()[: len(customers)], single["propensity"], rtol=1e-12)
    assert scores["reason_1"].head(len(customers)).tolist() == single["reason_1"].tolist()


def test_treeshap_reasons_on_request(champion, customers, feature_columns, isolated_settings):
    treeshap = score_customers(
        customers,
        PRODUCT,
        feature_columns,
        "2024-03-02",
        isolated_settings,
        reason_rows=len(customers),
        reason_method="treeshap",
    )
    saabas = score_customers(customers, PRODUCT, feature_columns, "2024-03-02", isolated_settings)
    np.testing.assert_allclose(treeshap["propensity"], saabas["propensity"], rtol=1e-9)
    # A limited explanation (TreeSHAP's) covers only customers who can be offered the product.
    assert treeshap.loc[:19, "reason_1"].isna().all()
    assert treeshap.loc[20:, "reason_1"].notna().mean() > 0.95
    first = lambda texts: texts.loc[20:].str.split("=").str[0]  # noqa: E731
    # The two methods mostly name the same top feature.
    assert (first(treeshap["reason_1"]) == first(saabas["reason_1"])).mean() > 0.6
    with pytest.raises(ValueError, match="not one of"):
        score_customers(customers, PRODUCT, feature_columns, "2024-03-02", isolated_settings, reason_method="lime")


def test_reasons_limited_to_the_most_likely_customers(champion, customers, feature_columns, isolated_settings):
    scores = score_customers(customers, PRODUCT, feature_columns, "2024-03-02", isolated_settings, reason_rows=5)
    explained = scores["reason_1"].notna()
    assert explained.sum() == 5
    eligible = scores.loc[20:]
    assert set(scores.index[explained]) == set(eligible.nlargest(5, "propensity").index)


def test_no_champion_gives_empty_scores(isolated_settings, customers, feature_columns):
    scores = score_customers(customers, "term_deposit", feature_columns, "2024-03-02", isolated_settings)
    assert scores.empty and list(scores.columns) == list(SCORE_COLUMNS)


def test_missing_feature_is_an_error(champion, customers, feature_columns, isolated_settings):
    with pytest.raises(ValueError, match="last_nps"):
        score_customers(customers.drop(columns="last_nps"), PRODUCT, feature_columns, "2024-03-02", isolated_settings)


def test_top_reasons_format_and_missing_values():
    values = np.array([[42.0, np.nan, 0.25], [1.0, 2.0, 3.0]])
    contributions = np.array([[0.5, 0.25, -0.1], [-0.2, -0.3, 0.0]])
    reasons = top_reasons(values, contributions, ["age", "last_nps", "spend_share_travel_90d"])
    assert reasons[0].tolist() == ["age=42 (+0.500)", None]
    assert reasons[1].tolist() == ["last_nps=missing (+0.250)", None]
    assert reasons[2].tolist() == [None, None]


def test_top_reasons_formats_like_the_row_by_row_rule():
    rng = np.random.default_rng(5)
    values = rng.choice(
        [0.0, 0.25, 1 / 3, 9.99, 9.9996, 10.0, 12.5, 13.5, 1234.56, -0.004, -250.4, np.nan], size=(400, 6)
    )
    contributions = rng.normal(0, 0.3, size=(400, 6)).astype(np.float32)
    names = [f"f{i}" for i in range(6)]
    reasons = top_reasons(values, contributions, names)
    for row in range(400):
        ranked = [i for i in np.argsort(-contributions[row], kind="stable")[:3] if contributions[row, i] > 0]
        expected = []
        for i in ranked:
            value = values[row, i]
            shown = "missing" if np.isnan(value) else (f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}")
            expected.append(f"f{i}={shown} (+{float(contributions[row, i]):.3f})")
        assert [r[row] for r in reasons][: len(expected)] == expected
        assert all(r[row] is None for r in reasons[len(expected) :])


def test_a_product_without_a_champion_is_explored_at_random():
    """Cold start: every customer gets the observed conversion rate, in an order that is random but
    the same on a rerun of the day, and different the next day."""
    from datetime import date

    from ml.scoring import SCORE_COLUMNS, exploration_scores

    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(5_000)]})
    first = exploration_scores(frame, "term_deposit", date(2024, 3, 1), prior=0.06)
    assert list(first.columns) == list(SCORE_COLUMNS)
    assert first["propensity"].between(0.06 * 0.99, 0.06 * 1.01).all()
    assert (first["model_name"] == "exploration").all() and first["reason_1"].isna().all()
    top = set(first.nlargest(500, "propensity")["customer_id"])
    again = exploration_scores(frame, "term_deposit", date(2024, 3, 1), prior=0.06)
    assert top == set(again.nlargest(500, "propensity")["customer_id"])  # a rerun picks the same customers
    tomorrow = set(
        exploration_scores(frame, "term_deposit", date(2024, 3, 2), prior=0.06).nlargest(500, "propensity")[
            "customer_id"
        ]
    )
    assert len(top & tomorrow) < 100  # independent draws overlap by about 10%
    # Not the id order: the first 500 customers are not favoured.
    assert len(top & set(frame["customer_id"].head(500))) < 100
