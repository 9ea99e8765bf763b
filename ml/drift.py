"""Population stability: the reference profile logged with each model, and the PSI against it.

Training logs, with every model version, the profile of the whole customer population on
its training day (:func:`reference_profile`, the MLflow artifact :data:`REFERENCE_ARTIFACT`):
decile bins and shares of each feature and of the model's scores. Monitoring later measures
a day's features and scores against it (:func:`feature_psi`, :func:`score_psi`). Plain
functions on frames and numbers.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ml import CONTACT_FEATURE_COLUMNS

PSI_BINS = 10
# A bin's share is floored at this before the log ratio (an empty bin would make PSI infinite).
PSI_FLOOR = 1e-4
REFERENCE_ARTIFACT = "reference_profile.json"


def bin_edges(values: np.ndarray, bins: int = PSI_BINS) -> list[float]:
    """Interior cut points at the reference's quantiles (distinct values only)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return []
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return [float(c) for c in cuts]


def bin_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Share of ``values`` in each bin of ``edges`` (len(edges) + 1 bins), missing values last."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), values[~missing], side="right"), minlength=len(edges) + 1
    ).astype(float)
    counts = np.append(counts, missing.sum())
    return (counts / max(len(values), 1)).tolist()


def psi(expected: list[float], actual: list[float], floor: float = PSI_FLOOR) -> float:
    """Population stability index: sum((a - e) * ln(a / e)) over the bins; 0 = same distribution.

    Conventionally below 0.1 is stable, 0.1-0.25 a moderate shift and above 0.25 a
    shift worth acting on.
    """
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def reference_profile(
    population: pd.DataFrame, feature_columns: list[str], scores: np.ndarray | None = None, as_of: date | None = None
) -> dict:
    """What later days are compared with: bins and shares of every customer feature (and of the scores).

    The contact's own features (:data:`ml.CONTACT_FEATURE_COLUMNS`) are left out: in the scoring
    population they describe the next day's contact (its month changes with the calendar), not
    the customers, so their shift is no sign that the model decays."""
    profile = {"as_of": as_of.isoformat() if as_of else None, "rows": len(population), "features": {}}
    for column in feature_columns:
        if column in CONTACT_FEATURE_COLUMNS:
            continue
        values = pd.to_numeric(population[column], errors="coerce").to_numpy(dtype=float)
        edges = bin_edges(values)
        profile["features"][column] = {"edges": edges, "shares": bin_shares(values, edges)}
    if scores is not None:
        edges = bin_edges(scores)
        profile["score"] = {"edges": edges, "shares": bin_shares(scores, edges)}
    return profile


def feature_psi(profile: dict, frame: pd.DataFrame) -> dict[str, float]:
    """PSI of each profiled feature of ``frame`` against the profile (features ``frame`` lacks are skipped)."""
    result = {}
    for column, reference in profile.get("features", {}).items():
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        result[column] = psi(reference["shares"], bin_shares(values, reference["edges"]))
    return result


def score_psi(profile: dict, scores: np.ndarray) -> float | None:
    reference = profile.get("score")
    if reference is None:
        return None
    return psi(reference["shares"], bin_shares(np.asarray(scores, dtype=float), reference["edges"]))
