"""The bank's declared categories (codes) are split as categories, and the model remembers which they are."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from ml.training import PropensityModel, fit_booster


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    code = rng.integers(0, 6, rows)  # 0 unknown, then five categories; 1 and 4 convert, with no order
    amount = rng.normal(size=rows)
    p = np.where(np.isin(code, [1, 4]), 0.5, 0.05)
    return pd.DataFrame({"attr_job": code, "amount": amount, "label": (rng.random(rows) < p).astype(int)})


def test_a_category_code_is_split_as_a_category_and_survives_pickling():
    fit, validation = _frame(6000, 1), _frame(2000, 2)
    model = PropensityModel("term_deposit", ["attr_job", "amount"], categorical_columns=["attr_job", "not_a_feature"])
    assert model.categorical_columns == ["attr_job"]
    booster, _ = fit_booster(model, fit, validation)
    splits = booster.dump_model()["tree_info"]
    kinds = set()

    def walk(node):
        if "decision_type" in node:
            kinds.add((booster.feature_name()[node["split_feature"]], node["decision_type"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in splits:
        walk(tree["tree_structure"])
    assert ("attr_job", "==") in kinds  # one split puts {1, 4} on one side: no ordinal reading could
    restored = pickle.loads(pickle.dumps(model))
    assert restored.categorical_columns == ["attr_job"] and restored.feature_columns == ["attr_job", "amount"]
