"""Saabas contributions: exact additivity, LightGBM's own leaves, TreeSHAP agreement, speed."""

from __future__ import annotations

import time

import lightgbm as lgb
import numpy as np
import pytest

import ml.explain
from ml.explain import SaabasExplainer, treeshap_contributions

N_FEATURES = 8


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, N_FEATURES))
    matrix[rng.random(matrix.shape) < 0.08] = np.nan
    matrix[rng.random(matrix.shape) < 0.08] = 0.0
    logit = -1.5 + 1.2 * np.nan_to_num(matrix[:, 0]) - 0.8 * np.nan_to_num(matrix[:, 1]) + 0.6 * (matrix[:, 2] > 0)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return matrix, labels


def _booster(rounds: int = 60, **params) -> lgb.Booster:
    matrix, labels = _data(3000, seed=1)
    params = {"objective": "binary", "verbosity": -1, "seed": 3, "num_threads": 1, "min_data_in_leaf": 20, **params}
    return lgb.train(params, lgb.Dataset(matrix, labels), num_boost_round=rounds)


MODELS = {
    # The platform's shallow trees and an older, deeper configuration.
    "shallow": {"num_leaves": 4, "max_depth": 2, "extra_trees": True, "learning_rate": 0.05},
    "deep": {"num_leaves": 15, "max_depth": 5, "learning_rate": 0.1},
    # Every way LightGBM can route a missing value.
    "zero_as_missing": {"num_leaves": 4, "max_depth": 2, "zero_as_missing": True},
    "missing_ignored": {"num_leaves": 6, "max_depth": 3, "use_missing": False},
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def booster(request) -> lgb.Booster:
    return _booster(**MODELS[request.param])


def _edge_rows(booster: lgb.Booster) -> np.ndarray:
    """Rows whose values sit exactly on, and next to, the split thresholds, plus NaN, tiny and huge values."""
    matrix, _ = _data(500, seed=2)
    thresholds = [
        (node["split_feature"], node["threshold"])
        for tree in booster.dump_model()["tree_info"]
        for node in _internal_nodes(tree["tree_structure"])
    ]
    rows = []
    for feature, threshold in thresholds[:200]:
        for value in (threshold, np.nextafter(threshold, np.inf), np.nextafter(threshold, -np.inf)):
            row = matrix[len(rows) % len(matrix)].copy()
            row[feature] = value
            rows.append(row)
    tiny = matrix[:40].copy()
    tiny[:, :] = np.resize([1e-36, -1e-36, 1e-30, np.inf, -np.inf, 1e300, -1e300, 1e308, np.nan], tiny.shape)
    return np.vstack([matrix, np.array(rows), tiny])


def _internal_nodes(node: dict):
    if "split_feature" in node:
        yield node
        yield from _internal_nodes(node["left_child"])
        yield from _internal_nodes(node["right_child"])


def test_leaves_are_lightgbms(booster):
    explainer = SaabasExplainer(booster)
    assert explainer.trees is not None  # numerical splits only: walked in numpy
    rows = _edge_rows(booster)
    np.testing.assert_array_equal(explainer.leaves(rows), booster.predict(rows, pred_leaf=True))


def test_contributions_sum_to_the_raw_score(booster):
    rows = _edge_rows(booster)
    explainer = SaabasExplainer(booster)
    raw, contributions = explainer.explain(rows)
    expected = booster.predict(rows, raw_score=True)
    assert contributions.dtype == np.float32 and contributions.shape == (len(rows), N_FEATURES)
    np.testing.assert_allclose(raw, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        contributions.sum(axis=1, dtype=np.float64) + explainer.bias, expected, rtol=0, atol=1e-4
    )


def test_grouped_tables_equal_one_lookup_per_tree(booster, monkeypatch):
    rows = _edge_rows(booster)
    grouped = SaabasExplainer(booster)
    monkeypatch.setattr(ml.explain, "GROUP_TABLE_ROWS", 1)
    per_tree = SaabasExplainer(booster)
    assert len(per_tree.groups) == booster.num_trees() > len(grouped.groups)
    np.testing.assert_allclose(grouped.explain(rows)[1], per_tree.explain(rows)[1], atol=1e-5)


def test_a_feature_never_split_on_gets_nothing():
    matrix, labels = _data(3000, seed=1)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 4, "max_depth": 2, "num_threads": 1},
        lgb.Dataset(matrix[:, :3], labels),
        num_boost_round=30,
    )
    used = set(np.flatnonzero(booster.feature_importance("split")))
    _, contributions = SaabasExplainer(booster).explain(matrix[:200, :3])
    for feature in set(range(3)) - used:
        assert not contributions[:, feature].any()


def test_categorical_splits_fall_back_to_lightgbm_leaves():
    matrix, labels = _data(3000, seed=1)
    matrix[:, 3] = np.random.default_rng(0).integers(0, 5, len(matrix))
    labels = np.where(matrix[:, 3] == 2, 1, labels)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "num_leaves": 4, "num_threads": 1},
        lgb.Dataset(matrix, labels, categorical_feature=[3]),
        num_boost_round=20,
    )
    explainer = SaabasExplainer(booster)
    assert explainer.trees is None
    raw, contributions = explainer.explain(matrix[:300])
    np.testing.assert_allclose(
        contributions.sum(axis=1) + explainer.bias, booster.predict(matrix[:300], raw_score=True), atol=1e-4
    )


def test_a_model_without_splits_is_all_bias():
    matrix, _ = _data(200, seed=1)
    booster = lgb.train(
        {"objective": "binary", "verbosity": -1, "min_data_in_leaf": 1000, "num_threads": 1},
        lgb.Dataset(matrix, np.r_[np.ones(20), np.zeros(180)]),
        num_boost_round=3,
    )
    explainer = SaabasExplainer(booster)
    raw, contributions = explainer.explain(matrix)
    assert not contributions.any()
    np.testing.assert_allclose(raw, booster.predict(matrix, raw_score=True))
    np.testing.assert_allclose(explainer.bias, raw[0])


def test_top_feature_usually_agrees_with_treeshap():
    booster = _booster(**MODELS["shallow"])
    rows, _ = _data(1000, seed=4)
    _, saabas = SaabasExplainer(booster).explain(rows)
    shap = treeshap_contributions(booster, rows)[:, :-1]
    agreement = (saabas.argmax(axis=1) == shap.argmax(axis=1)).mean()
    assert agreement > 0.8, agreement


def test_saabas_is_far_cheaper_than_treeshap():
    """Vectorised: a block of rows costs a few numpy operations per tree, not per row."""
    booster = _booster(rounds=300, **MODELS["shallow"])
    rows, _ = _data(5000, seed=5)
    explainer = SaabasExplainer(booster)
    explainer.explain(rows[:10])  # warm up

    def cpu_seconds(run) -> float:
        start = time.process_time()
        run()
        return time.process_time() - start

    saabas = min(cpu_seconds(lambda: explainer.explain(rows)) for _ in range(3))
    treeshap = cpu_seconds(lambda: treeshap_contributions(booster, rows, num_threads=1))
    assert saabas * 5 < treeshap, (saabas, treeshap)
