"""The needs segmentation survives banks it cannot cluster: no behaviour rows, or no variety (issue 14)."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"


def _load(relative: str):
    spec = importlib.util.spec_from_file_location(Path(relative).stem, MODELS / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


selection_model = _load("marts/needs_segment_selection.py")
clustered_model = _load("intermediate/int_customer_needs_clustered.py")
TRAITS = ("balance_level", "spend_to_income", "travel_share", "digital_use", "credit_products", "investment_products")


def _behaviours(values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, columns=list(TRAITS))
    frame.insert(0, "customer_id", [f"C{i:07d}" for i in range(len(frame))])
    frame.insert(1, "segment_date", date(2024, 3, 5))
    return frame


def test_no_behaviour_rows_give_a_counted_fallback_not_a_crash():
    behaviours = _behaviours(np.empty((0, len(TRAITS))))

    selection = selection_model.select_k(behaviours)
    segments = clustered_model.assign_segments(behaviours, selection)

    assert selection[["k", "customers", "is_chosen"]].values.tolist() == [[1, 0, True]]
    assert selection["fallback_reason"].iloc[0] == "no customer has behaviour measures to cluster"
    assert segments.empty and list(segments.columns) == [
        "customer_id",
        "segment_date",
        "needs_cluster",
        "needs_segment",
    ]


def test_a_population_with_no_variety_is_unsegmented_and_counted():
    behaviours = _behaviours(np.tile([2.0, 0.3, 0.0, 1.0, 1.0, 0.0], (500, 1)))  # every customer the same

    selection = selection_model.select_k(behaviours)
    segments = clustered_model.assign_segments(behaviours, selection)

    assert selection["k"].tolist() == [1] and selection["customers"].iloc[0] == 500
    assert "1 distinct behaviour profile(s) among 500 customers" in selection["fallback_reason"].iloc[0]
    assert (segments["needs_segment"] == "unsegmented").all() and len(segments) == 500


def test_a_varied_population_is_still_clustered():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, len(TRAITS))) * 4
    behaviours = _behaviours(np.vstack([c + rng.normal(size=(100, len(TRAITS))) * 0.2 for c in centres]))

    selection = selection_model.select_k(behaviours)
    segments = clustered_model.assign_segments(behaviours, selection)

    assert selection["k"].tolist() == list(range(3, 9)) and selection["fallback_reason"].isna().all()
    assert selection.loc[selection["is_chosen"], "k"].tolist() == [4]
    assert segments["needs_segment"].nunique() == 4 and "unsegmented" not in set(segments["needs_segment"])
