"""Batch scoring: the champion's calibrated propensity and reasons for every customer.

Reasons are the three features that push a customer's score up the most
(LightGBM ``pred_contrib``: exact TreeSHAP contributions to the log-odds),
written as ``feature=value (+contribution)``. A customer with fewer than three
positive contributions gets fewer reasons (the rest are empty). TreeSHAP costs
about a hundred predictions per row, so reasons are computed only for the
customers who can reach a target list (see :func:`score_customers`).
"""

from __future__ import annotations

import logging

import mlflow
import numpy as np
import pandas as pd

from bankmkt.settings import get_settings
from ml import REASON_COLUMNS, as_date, flag_is_set, holding_flag, model_name as registered_name
from ml.registry import CHAMPION, alias_version, use_tracking

log = logging.getLogger(__name__)

SCORE_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "product_code",
    "propensity",
    "model_name",
    "model_version",
    "score_date",
    *REASON_COLUMNS,
)
# Rows scored at a time: bounds memory (features + contributions) on large books.
CHUNK_ROWS = 250_000
# Reasons are computed for this many times the target-list size per product.
REASON_LIST_MULTIPLE = 20


def load_champion(product_code: str, settings=None):
    """The champion of ``product_code`` as ``(model_name, version, PropensityModel)``.

    The alias is resolved once, so the version written beside each score is the
    one that produced it even if the alias moves meanwhile. Returns
    ``(model_name, None, None)`` when there is no champion yet.
    """
    client = use_tracking(settings)
    name = registered_name(product_code, settings)
    version = alias_version(name, CHAMPION, client)
    if version is None:
        return name, None, None
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
    return name, version, model


def _format_value(value: float) -> str:
    if value != value:  # NaN: the feature was missing for this customer
        return "missing"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"


def top_reasons(
    values: np.ndarray, contributions: np.ndarray, feature_columns: list[str], n_reasons: int = 3
) -> list[list[str | None]]:
    """The ``n_reasons`` largest positive contributions per row as readable strings.

    ``values`` and ``contributions`` are (rows, features) arrays in the order of
    ``feature_columns``. Returns one list per reason rank, None where a row has
    no further positive contribution.
    """
    k = min(n_reasons, contributions.shape[1])
    best = np.argpartition(-contributions, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(contributions, best, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    top_contribution = np.take_along_axis(contributions, best, axis=1)
    top_value = np.take_along_axis(values, best, axis=1)
    names = np.asarray(feature_columns, dtype=object)
    reasons = []
    for rank in range(k):
        reasons.append(
            [
                f"{name}={_format_value(value)} (+{contribution:.3f})" if contribution > 0 else None
                for name, value, contribution in zip(
                    names[best[:, rank]].tolist(),
                    top_value[:, rank].tolist(),
                    top_contribution[:, rank].tolist(),
                )
            ]
        )
    reasons += [[None] * len(values)] * (n_reasons - k)
    return reasons


def _empty_scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            column: pd.Series(dtype="float64" if column == "propensity" else "object")
            for column in SCORE_COLUMNS
        }
    )


def reason_candidates(
    scoring_frame: pd.DataFrame, product_code: str, propensity: np.ndarray, reason_rows: int
) -> np.ndarray:
    """Positions of the rows to explain: the ``reason_rows`` most likely to convert among
    the customers who could be contacted about the product (consent given when the
    frame says so, product not already held)."""
    eligible = np.ones(len(scoring_frame), dtype=bool)
    if "has_marketing_consent" in scoring_frame.columns:
        eligible &= flag_is_set(scoring_frame["has_marketing_consent"]).to_numpy()
    if holding_flag(product_code) in scoring_frame.columns:
        eligible &= ~flag_is_set(scoring_frame[holding_flag(product_code)]).to_numpy()
    positions = np.flatnonzero(eligible)
    if len(positions) > reason_rows:
        positions = positions[np.argpartition(-propensity[positions], reason_rows - 1)[:reason_rows]]
    return np.sort(positions)


def score_customers(
    scoring_frame: pd.DataFrame,
    product_code: str,
    feature_columns,
    run_date,
    reason_rows: int | None = None,
) -> pd.DataFrame:
    """Score every row of ``scoring_frame`` with ``models:/<name>@champion``.

    Returns one row per customer: ``customer_id, product_code, propensity,
    model_name, model_version, score_date, reason_1..reason_3``.

    Every row gets a propensity. Reasons (exact TreeSHAP, about a hundred times
    the cost of a prediction) are computed for the ``reason_rows`` highest
    propensities among customers who can be contacted about the product
    (default :data:`REASON_LIST_MULTIPLE` times the target-list size, far more
    than can reach a list); other rows have empty reasons. Pass
    ``reason_rows=len(scoring_frame)`` to explain everyone.

    With no champion yet (e.g. training was skipped) the result is empty and a
    warning is logged. Raises ``ValueError`` if the champion needs features
    that are not in ``feature_columns`` or not in the frame.
    """
    settings = get_settings()
    name, version, model = load_champion(product_code, settings)
    if model is None:
        log.warning("%s has no champion: no %s scores", name, product_code)
        return _empty_scores()
    missing = set(model.feature_columns) - (set(feature_columns) & set(scoring_frame.columns))
    if missing:
        raise ValueError(f"champion {name} v{version} needs features not provided: {sorted(missing)}")
    if reason_rows is None:
        reason_rows = REASON_LIST_MULTIPLE * settings.target_list_size

    propensity = np.empty(len(scoring_frame))
    for start in range(0, len(scoring_frame), CHUNK_ROWS):
        chunk = scoring_frame.iloc[start : start + CHUNK_ROWS]
        propensity[start : start + len(chunk)] = model.predict_proba(chunk)

    explained = reason_candidates(scoring_frame, product_code, propensity, max(int(reason_rows), 0))
    reasons = [np.full(len(scoring_frame), None, dtype=object) for _ in REASON_COLUMNS]
    for start in range(0, len(explained), CHUNK_ROWS):
        positions = explained[start : start + CHUNK_ROWS]
        values = model.feature_matrix(scoring_frame.iloc[positions])
        contributions = model.contributions(values)[:, : len(model.feature_columns)]
        for column, texts in zip(reasons, top_reasons(values, contributions, model.feature_columns)):
            column[positions] = texts

    scores = pd.DataFrame(
        {
            "customer_id": scoring_frame["customer_id"].to_numpy(),
            "product_code": product_code,
            "propensity": propensity,
            "model_name": name,
            "model_version": str(version),
            "score_date": as_date(run_date),
        }
    )
    for column, texts in zip(REASON_COLUMNS, reasons):
        scores[column] = texts
    return scores
