"""Batch scoring: the champion's calibrated propensity and reasons for every customer.

Reasons are the three features that push a customer's score up the most,
written as ``feature=value (+contribution)``, from per-feature contributions
to the log-odds (:mod:`ml.explain`: Saabas path contributions by default, as
cheap as a prediction, so every scored customer gets reasons; LightGBM's exact
TreeSHAP on request). A customer with fewer than three positive contributions
gets fewer reasons (the rest are empty). :func:`score_churn_risk` scores the
churn-risk model the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from ml import CHURN, REASON_COLUMNS, flag_is_set, holding_flag
from ml import model_name as registered_name
from ml.explain import SAABAS, check_method
from ml.registry import CHAMPION, alias_version, use_tracking
from ml.runtime import parse_run_date, write_atomically

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
CHURN_RISK_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "churn_risk",
    "model_name",
    "model_version",
    "score_date",
    *REASON_COLUMNS,
)
# Rows scored at a time: bounds memory (features + contributions) on large books.
CHUNK_ROWS = 250_000
# With TreeSHAP reasons, only this many times the target-list size are explained per product.
TREESHAP_REASON_LIST_MULTIPLE = 20


def load_champion(product_code: str, settings):
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


def _format_each(numbers: np.ndarray, format_one) -> np.ndarray:
    """``format_one`` applied to every number, formatting each distinct number once."""
    if len(numbers) == 0:
        return np.empty(0, dtype=object)
    distinct, position = np.unique(numbers, return_inverse=True)
    texts = np.empty(len(distinct), dtype=object)
    texts[:] = [format_one(number) for number in distinct.tolist()]
    return texts[position.reshape(-1)]


def _reason_texts(names: np.ndarray, values: np.ndarray, contributions: np.ndarray) -> np.ndarray:
    """``feature=value (+contribution)`` per row, None where the contribution is not positive."""
    # Above 10 a value shows as an integer: round first so that equal texts share one format call.
    values = np.where(np.abs(values) >= 10, np.rint(values), values)
    thousandths = np.rint(contributions.astype(np.float64) * 1000).astype(np.int64)
    texts = names + _format_each(values, _format_value) + _format_each(thousandths, lambda m: f" (+{m / 1000:.3f})")
    return np.where(contributions > 0, texts, None)


def top_reasons(
    values: np.ndarray, contributions: np.ndarray, feature_columns: list[str], n_reasons: int = 3
) -> list[np.ndarray]:
    """The ``n_reasons`` largest positive contributions per row as readable strings.

    ``values`` and ``contributions`` are (rows, features) arrays in the order of
    ``feature_columns``. Returns one object array per reason rank, None where a
    row has no further positive contribution. Vectorised: a million rows take
    a few seconds.
    """
    k = min(n_reasons, contributions.shape[1])
    best = np.argpartition(-contributions, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(contributions, best, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    top_contribution = np.take_along_axis(contributions, best, axis=1)
    top_value = np.take_along_axis(values, best, axis=1)
    prefixes = np.array([f"{name}=" for name in feature_columns], dtype=object)
    reasons = [
        _reason_texts(prefixes[best[:, rank]], top_value[:, rank], top_contribution[:, rank]) for rank in range(k)
    ]
    return reasons + [np.full(len(values), None, dtype=object) for _ in range(n_reasons - k)]


def _empty(columns: tuple[str, ...], numeric: str) -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="float64" if column == numeric else "object") for column in columns})


def reason_candidates(
    scoring_frame: pd.DataFrame, product_code: str, propensity: np.ndarray, reason_rows: int
) -> np.ndarray:
    """Positions of the rows to explain when reasons are limited: the ``reason_rows`` most
    likely to convert among the customers who could be contacted about the product
    (consent given when the frame says so, product not already held)."""
    eligible = np.ones(len(scoring_frame), dtype=bool)
    if "has_marketing_consent" in scoring_frame.columns:
        eligible &= flag_is_set(scoring_frame["has_marketing_consent"]).to_numpy()
    if holding_flag(product_code) in scoring_frame.columns:
        eligible &= ~flag_is_set(scoring_frame[holding_flag(product_code)]).to_numpy()
    positions = np.flatnonzero(eligible)
    if len(positions) > reason_rows:
        positions = positions[np.argpartition(-propensity[positions], reason_rows - 1)[:reason_rows]]
    return np.sort(positions)


def _champion_scores(
    scoring_frame: pd.DataFrame, code: str, feature_columns, settings, reason_rows: int | None, reason_method: str
):
    """``(name, version, probability, reasons)`` from ``code``'s champion; ``version`` None without one."""
    check_method(reason_method)
    name, version, model = load_champion(code, settings)
    if model is None:
        log.warning("%s has no champion: no %s scores", name, code)
        return name, None, None, None
    missing = set(model.feature_columns) - (set(feature_columns) & set(scoring_frame.columns))
    if missing:
        raise ValueError(f"champion {name} v{version} needs features not provided: {sorted(missing)}")
    if reason_rows is None and reason_method != SAABAS:
        reason_rows = TREESHAP_REASON_LIST_MULTIPLE * settings.target_list_size
    names = model.feature_columns
    probability = np.empty(len(scoring_frame))
    reasons = [np.full(len(scoring_frame), None, dtype=object) for _ in REASON_COLUMNS]

    if reason_rows is None or (reason_rows >= len(scoring_frame) and reason_method == SAABAS):
        # Everyone: probabilities and contributions from one pass over the trees.
        for start in range(0, len(scoring_frame), CHUNK_ROWS):
            values = model.feature_matrix(scoring_frame.iloc[start : start + CHUNK_ROWS])
            probability[start : start + len(values)], contributions = model.explain(values)
            for column, texts in zip(reasons, top_reasons(values, contributions, names)):
                column[start : start + len(values)] = texts
        return name, version, probability, reasons

    for start in range(0, len(scoring_frame), CHUNK_ROWS):
        chunk = scoring_frame.iloc[start : start + CHUNK_ROWS]
        probability[start : start + len(chunk)] = model.predict_proba(chunk)
    explained = reason_candidates(scoring_frame, code, probability, max(int(reason_rows), 0))
    for start in range(0, len(explained), CHUNK_ROWS):
        positions = explained[start : start + CHUNK_ROWS]
        values = model.feature_matrix(scoring_frame.iloc[positions])
        contributions = model.contributions(values, reason_method)[:, : len(names)]
        for column, texts in zip(reasons, top_reasons(values, contributions, names)):
            column[positions] = texts
    return name, version, probability, reasons


def score_customers(
    scoring_frame: pd.DataFrame,
    product_code: str,
    feature_columns,
    run_date,
    settings,
    reason_rows: int | None = None,
    reason_method: str = SAABAS,
) -> pd.DataFrame:
    """Score every row of ``scoring_frame`` with ``models:/<name>@champion``.

    Returns one row per customer: ``customer_id, product_code, propensity,
    model_name, model_version, score_date, reason_1..reason_3``.

    Every row gets a propensity and, by default, its reasons (Saabas
    contributions: one pass over the trees gives both). ``reason_rows=k`` limits
    reasons to the ``k`` highest propensities among customers who can be
    contacted about the product (consent given, product not held); other rows
    then have empty reasons. ``reason_method="treeshap"`` uses LightGBM's exact
    TreeSHAP (5-11x the cost on the platform's models, more on deeper trees),
    limited by default to :data:`TREESHAP_REASON_LIST_MULTIPLE` times the
    target-list size. ``settings``: the platform's (MLflow's tracking URI, the model-name
    prefix, the target-list size).

    With no champion yet (e.g. training was skipped) the result is empty and a
    warning is logged. Raises ``ValueError`` if the champion needs features
    that are not in ``feature_columns`` or not in the frame.
    """
    return _scores(
        SCORE_COLUMNS,
        "propensity",
        scoring_frame,
        product_code,
        feature_columns,
        run_date,
        settings,
        reason_rows,
        reason_method,
        product_code=product_code,
    )


def score_churn_risk(
    scoring_frame: pd.DataFrame,
    feature_columns,
    run_date,
    settings,
    reason_rows: int | None = None,
    reason_method: str = SAABAS,
) -> pd.DataFrame:
    """Every customer's churn risk from ``models:/<model_prefix>_churn@champion``.

    Returns one row per customer: ``customer_id, churn_risk`` (calibrated
    probability of churning within 60 days), ``model_name, model_version,
    score_date, reason_1..reason_3`` (the features that raise the risk most).
    Empty, with a warning, when there is no churn champion yet. ``reason_rows``
    ``settings``, ``reason_rows`` and ``reason_method`` as in :func:`score_customers`.
    """
    return _scores(
        CHURN_RISK_COLUMNS,
        "churn_risk",
        scoring_frame,
        CHURN,
        feature_columns,
        run_date,
        settings,
        reason_rows,
        reason_method,
    )


def _scores(
    columns: tuple[str, ...],
    score_column: str,
    scoring_frame: pd.DataFrame,
    code: str,
    feature_columns,
    run_date,
    settings,
    reason_rows: int | None,
    reason_method: str,
    **constants,
) -> pd.DataFrame:
    """``code``'s champion scores as ``columns`` (``score_column`` holds the probability); empty without one."""
    name, version, probability, reasons = _champion_scores(
        scoring_frame, code, feature_columns, settings, reason_rows, reason_method
    )
    if version is None:
        return _empty(columns, score_column)
    scores = pd.DataFrame(
        {
            "customer_id": scoring_frame["customer_id"].to_numpy(),
            **constants,
            score_column: probability,
            "model_name": name,
            "model_version": str(version),
            "score_date": parse_run_date(run_date),
        }
    )
    for column, texts in zip(REASON_COLUMNS, reasons):
        scores[column] = texts
    return scores[list(columns)]


def write_churn_risk(churn_risk: pd.DataFrame, run_date, settings) -> Path:
    """Write the day's churn risk as ``outputs/churn_risk/dt=D/churn_risk.parquet`` (atomically)."""
    folder = settings.churn_risk_dir(parse_run_date(run_date))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "churn_risk.parquet"
    write_atomically(path, lambda partial: churn_risk[list(CHURN_RISK_COLUMNS)].to_parquet(partial, index=False))
    return path


# The exploration score's random factor: propensity = prior x [1 - EXPLORATION_JITTER, 1 + EXPLORATION_JITTER).
EXPLORATION_JITTER = 0.01
EXPLORATION_MODEL = "exploration"


def exploration_scores(scoring_frame: pd.DataFrame, product_code: str, run_date, prior: float) -> pd.DataFrame:
    """Scores for a product without a champion: its observed conversion rate, in a random order.

    Until a product has a champion its campaigns would get no list, and without lists
    the platform (which replaced the source system's own campaigns) would never learn
    one: a cold start that never ends. Instead every customer gets the product's
    observed conversion rate of contacted customers (``prior``) times a factor in
    [0.99, 1.01) drawn from a hash of (product, customer, day), so the contact policy,
    capacity and value rules apply as usual and the customers picked are a random
    sample of the eligible: unbiased evidence for the first propensity and uplift
    models. The rows say ``model_name = "exploration"``.
    """
    import hashlib

    day = parse_run_date(run_date)
    customers = scoring_frame["customer_id"].astype(str).to_numpy()
    draws = np.array(
        [
            int.from_bytes(hashlib.sha256(f"{product_code}|{customer}|{day}".encode()).digest()[:8], "big") / 2**64
            for customer in customers
        ]
    )
    scores = pd.DataFrame(
        {
            "customer_id": customers,
            "product_code": product_code,
            "propensity": float(prior) * (1 - EXPLORATION_JITTER + 2 * EXPLORATION_JITTER * draws),
            "model_name": EXPLORATION_MODEL,
            "model_version": "prior",
            "score_date": day,
        }
    )
    for column in REASON_COLUMNS:
        scores[column] = None
    return scores[list(SCORE_COLUMNS)]
