"""Train, evaluate, log and register one product's propensity model (and the churn-risk model).

What is trained: the probability that a *treated* contact (``is_control`` is
False) converts within the response window, from the customer's features as
of the contact time (Feast point-in-time join). A LightGBM booster of shallow
trees is fit on the older part of the training window, with early stopping on
the most recent part (a time-ordered validation slice), and its raw scores are
then calibrated on that same recent slice (Platt scaling, or isotonic
regression when the slice is large enough), so the published ``propensity``
is a probability.

:func:`train_churn_model` trains, logs and gates the churn-risk model the same
way, on the weekly snapshots of the ``churn_labels`` mart.

The MLflow artifact is a pyfunc :class:`PropensityModel`: ``predict`` returns
calibrated probabilities; once loaded, ``unwrap_python_model()`` gives
``predict_proba``, ``explain`` and ``contributions`` (:mod:`ml.explain`) for reasons.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from ml import CHURN
from ml import model_name as registered_name
from ml.drift import REFERENCE_ARTIFACT, reference_profile
from ml.explain import SAABAS, SaabasExplainer, check_method, treeshap_contributions
from ml.registry import (
    CHAMPION,
    alias_version,
    ensure_experiment,
    gate_metrics,
    promote_if_better,
    use_tracking,
)
from ml.runtime import parse_run_date
from ml.splits import Split, contact_split, snapshot_split

log = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "propensity"
SEED = 42
# Shallow trees with early stopping. On the synthetic bank (3,000-5,000 customers,
# 75 days, a few thousand contacts a product) these rank the holdout about as well
# as the generator's true probabilities allow (see docs/models.md, "Against the
# truth"); deeper trees, class weighting and a fixed number of rounds overfit the
# few hundred conversions. Deterministic: the same frame gives the same model.
LGBM_PARAMS: dict[str, object] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "learning_rate": 0.04,
    "num_leaves": 4,
    "max_depth": 2,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "extra_trees": True,
    "lambda_l2": 5.0,
    "seed": SEED,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 2,
    "verbosity": -1,
}
# Upper bound on boosting rounds; early stopping on the validation slice picks the number.
MAX_BOOST_ROUND = 1000
EARLY_STOPPING_ROUNDS = 200
# OpenMP threads cost more than they save on small fits (and spin against the BLAS
# threads of calibration on a busy worker): below this many rows the fit is single-threaded.
SMALL_FIT_ROWS = 20_000
# Prediction threads (batch scoring of the whole customer base).
PREDICT_THREADS = 2
# The most recent quarter of the training window stops the boosting and calibrates the scores.
CALIBRATION_SHARE = 0.25
# Isotonic regression overfits small slices; below these sizes Platt scaling is used.
ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_POSITIVES = 50
CHART_DIR = "charts"
CHART_DPI = 80
# The holdout rows and the model's propensity on them: what oracle comparisons re-read.
HOLDOUT_ARTIFACT = "holdout.parquet"
# Columns that identify a holdout row, kept in the artifact when the frame has them.
HOLDOUT_KEYS = ("contact_id", "customer_id", "snapshot_date", "event_timestamp")


class LeakageError(ValueError):
    """A feature row is timestamped after the contact it describes."""


# ---- the model artifact ---------------------------------------------------------


class PropensityModel(mlflow.pyfunc.PythonModel):
    """Booster plus calibrator; ``predict`` returns calibrated conversion probabilities.

    The booster (LightGBM text format) and the calibration (JSON) are MLflow
    artifacts of the model, not pickled state: only the product code and the
    feature list travel in the pickle.
    """

    def __init__(
        self, product_code: str, feature_columns: list[str], booster=None, calibration=None, categorical_columns=()
    ):
        self.product_code = product_code
        self.feature_columns = list(feature_columns)
        # Category codes (the bank's declared attributes): split as categories, not as ordered numbers.
        self.categorical_columns = [c for c in categorical_columns if c in self.feature_columns]
        self.booster = booster
        self.calibration = calibration
        self._explainer = None

    def __getstate__(self):
        return {
            "product_code": self.product_code,
            "feature_columns": self.feature_columns,
            "categorical_columns": self.categorical_columns,
        }

    def __setstate__(self, state):
        self.__init__(
            state["product_code"], state["feature_columns"], categorical_columns=state.get("categorical_columns", ())
        )

    def load_context(self, context):
        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.calibration = json.loads(Path(context.artifacts["calibration"]).read_text())
        self._explainer = None

    def feature_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's features as a float matrix (missing values as NaN)."""
        return frame[self.feature_columns].to_numpy(dtype=np.float64, na_value=np.nan)

    def _matrix(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        return frame if isinstance(frame, np.ndarray) else self.feature_matrix(frame)

    def raw_score(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.booster.predict(self._matrix(frame), raw_score=True, num_threads=PREDICT_THREADS)

    def calibrate(self, raw_score: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from raw (log-odds) booster scores."""
        return apply_calibration(self.calibration, raw_score)

    def predict_proba(self, frame: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probability of conversion, one per row."""
        return self.calibrate(self.raw_score(frame))

    @property
    def explainer(self) -> SaabasExplainer:
        """Saabas path-contribution tables of the booster, built on first use (not pickled)."""
        if self._explainer is None:
            self._explainer = SaabasExplainer(self.booster, num_threads=PREDICT_THREADS)
        return self._explainer

    def explain(self, frame: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(propensity, contributions)`` in one pass over the trees (Saabas).

        ``contributions`` is float32, (rows, features), in log-odds; each row plus
        ``explainer.bias`` sums to the raw score the propensity is calibrated from.
        """
        raw, contributions = self.explainer.explain(self._matrix(frame))
        return self.calibrate(raw), contributions

    def contributions(self, frame: pd.DataFrame | np.ndarray, method: str = SAABAS) -> np.ndarray:
        """Per-feature contributions to the raw (log-odds) score, shape (rows, features + 1).

        The last column is the bias; each row sums to the raw score. ``method`` is
        ``"saabas"`` (default, as cheap as a prediction) or ``"treeshap"`` (exact
        SHAP values, several times slower); see :mod:`ml.explain`.
        """
        matrix = self._matrix(frame)
        if check_method(method) != SAABAS:
            return treeshap_contributions(self.booster, matrix, PREDICT_THREADS)
        _, contributions = self.explainer.explain(matrix)
        return np.column_stack([contributions.astype(np.float64), np.full(len(matrix), self.explainer.bias)])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.predict_proba(pd.DataFrame(model_input))


def fit_calibration(raw_score: np.ndarray, labels: np.ndarray) -> dict:
    """Map raw booster scores to probabilities observed on a calibration slice."""
    labels = np.asarray(labels, dtype=int)
    if len(labels) >= ISOTONIC_MIN_ROWS and labels.sum() >= ISOTONIC_MIN_POSITIVES:
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw_score, labels)
        return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    platt = LogisticRegression(C=1e6).fit(raw_score.reshape(-1, 1), labels)
    return {"method": "sigmoid", "a": float(platt.coef_[0, 0]), "b": float(platt.intercept_[0])}


def apply_calibration(calibration: dict, raw_score: np.ndarray) -> np.ndarray:
    if calibration["method"] == "isotonic":
        # np.interp clips outside the fitted range, as out_of_bounds="clip" does.
        return np.interp(raw_score, calibration["x"], calibration["y"])
    return 1.0 / (1.0 + np.exp(-(calibration["a"] * raw_score + calibration["b"])))


# ---- the training frame ---------------------------------------------------------


def check_no_leakage(training_frame: pd.DataFrame) -> None:
    """Raise :class:`LeakageError` if any feature row is timestamped after its contact."""
    if "feature_timestamp" not in training_frame.columns:
        return
    features_at = pd.to_datetime(training_frame["feature_timestamp"], utc=True)
    contact_at = pd.to_datetime(training_frame["event_timestamp"], utc=True)
    leaked = features_at > contact_at
    if leaked.any():
        example = training_frame.loc[leaked].iloc[0]
        raise LeakageError(
            f"{int(leaked.sum())} training rows have features timestamped after the contact "
            f"(e.g. contact {example.get('contact_id')}: features at {example['feature_timestamp']}, "
            f"contact at {example['event_timestamp']})"
        )


def treated_contacts(
    training_frame: pd.DataFrame, product_code: str, run_date, feature_columns: list[str]
) -> pd.DataFrame:
    """The product's treated contacts up to the run date, oldest first, with a 0/1 label."""
    missing = set(feature_columns) - set(training_frame.columns)
    if missing:
        raise ValueError(f"training frame lacks feature columns: {sorted(missing)}")
    day_after = pd.Timestamp(parse_run_date(run_date), tz="UTC") + pd.Timedelta(days=1)
    contacts = training_frame.loc[training_frame["product_code"] == product_code].copy()
    contacts["event_timestamp"] = pd.to_datetime(contacts["event_timestamp"], utc=True)
    # A missing treatment flag counts as control: never train on a contact we cannot vouch for.
    treated = contacts["is_control"].astype("boolean").eq(False).fillna(False).astype(bool)
    # Responses not yet matured carry no label and cannot be used.
    contacts = contacts.loc[treated & contacts["label"].notna() & (contacts["event_timestamp"] < day_after)]
    contacts["label"] = contacts["label"].astype(int)
    sort_keys = ["event_timestamp"] + (["contact_id"] if "contact_id" in contacts.columns else [])
    return contacts.sort_values(sort_keys, kind="stable").reset_index(drop=True)


def churn_snapshots(training_frame: pd.DataFrame, run_date, feature_columns: list[str]) -> pd.DataFrame:
    """Labelled churn snapshots known by the end of the run date, oldest first, with a 0/1 label."""
    missing = set(feature_columns) - set(training_frame.columns)
    if missing:
        raise ValueError(f"churn training frame lacks feature columns: {sorted(missing)}")
    day_after = pd.Timestamp(parse_run_date(run_date), tz="UTC") + pd.Timedelta(days=1)
    snapshots = training_frame.copy()
    snapshots["event_timestamp"] = pd.to_datetime(snapshots["event_timestamp"], utc=True)
    snapshots = snapshots.loc[snapshots["label"].notna() & (snapshots["event_timestamp"] < day_after)]
    snapshots["label"] = snapshots["label"].astype(int)
    return snapshots.sort_values(["event_timestamp", "customer_id"], kind="stable").reset_index(drop=True)


def _shortfall(name: str, labels: pd.Series, min_positives: int) -> str | None:
    positives = int(labels.sum())
    if positives < min_positives:
        return f"{name} has {positives} positives (< {min_positives}) in {len(labels)} contacts"
    if positives == len(labels):
        return f"{name} has no negatives in {len(labels)} contacts"
    return None


# ---- evaluation -----------------------------------------------------------------


def lift_at(labels: np.ndarray, propensity: np.ndarray, share: float = 0.1) -> float:
    """Conversion rate of the top ``share`` by propensity over the overall rate."""
    labels = np.asarray(labels, dtype=float)
    top = np.argsort(-np.asarray(propensity), kind="stable")[: max(1, int(np.ceil(share * len(labels))))]
    base = labels.mean()
    return float(labels[top].mean() / base) if base > 0 else float("nan")


def holdout_metrics(labels, propensity, product_code: str, capacity: int) -> dict[str, float]:
    """Ranking, calibration and gate metrics of calibrated propensities on a holdout (the profit
    at ``capacity``, the daily contact capacity)."""
    labels = np.asarray(labels, dtype=int)
    propensity = np.asarray(propensity, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(labels, propensity)),
        "pr_auc": float(average_precision_score(labels, propensity)),
        "lift_top_decile": lift_at(labels, propensity, 0.1),
        "brier": float(brier_score_loss(labels, propensity)),
        "holdout_base_rate": float(labels.mean()),
        "holdout_mean_propensity": float(propensity.mean()),
        **{k: v for k, v in gate_metrics(labels, propensity, product_code, capacity).items() if k != "roc_auc"},
    }


def segment_metrics(holdout: pd.DataFrame, propensity: np.ndarray) -> pd.DataFrame:
    """Holdout metrics per customer segment (AUC only where both outcomes occur)."""
    rows = []
    scored = holdout.assign(_propensity=propensity)
    for segment, group in scored.groupby("segment", dropna=False, sort=True):
        labels = group["label"].to_numpy()
        both = 0 < labels.sum() < len(labels)
        rows.append(
            {
                "segment": "unknown" if pd.isna(segment) else str(segment),
                "rows": len(group),
                "positives": int(labels.sum()),
                "conversion_rate": float(labels.mean()),
                "mean_propensity": float(group["_propensity"].mean()),
                "roc_auc": float(roc_auc_score(labels, group["_propensity"])) if both else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def _metric_key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


# ---- charts ---------------------------------------------------------------------


def calibration_chart(labels, propensity) -> Figure:
    bins = int(max(2, min(10, np.sum(labels) // 3)))
    observed, predicted = calibration_curve(labels, propensity, n_bins=bins, strategy="quantile")
    fig = Figure(figsize=(5, 4.5), dpi=CHART_DPI)
    fig.subplots_adjust(left=0.14, right=0.96, bottom=0.12, top=0.92)
    ax = fig.subplots()
    top = min(1.0, max(float(np.max(predicted)), float(np.max(observed)), 0.05) * 1.1)
    ax.plot([0, top], [0, top], ls="--", color="grey", label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label="model")
    ax.set(xlabel="mean predicted propensity", ylabel="observed conversion rate", title="Calibration (holdout)")
    ax.legend(loc="upper left")
    return fig


def _cumulative(labels, propensity) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-np.asarray(propensity), kind="stable")
    hits = np.cumsum(np.asarray(labels)[order])
    share_contacted = np.arange(1, len(order) + 1) / len(order)
    return share_contacted, hits / max(hits[-1], 1)


def gain_chart(labels, propensity) -> Figure:
    share, gain = _cumulative(labels, propensity)
    fig = Figure(figsize=(5, 4.5), dpi=CHART_DPI)
    fig.subplots_adjust(left=0.14, right=0.96, bottom=0.12, top=0.92)
    ax = fig.subplots()
    ax.plot(np.r_[0, share], np.r_[0, gain], label="model")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="random")
    ax.set(xlabel="share of contacts (by propensity)", ylabel="share of conversions", title="Cumulative gain (holdout)")
    ax.legend(loc="lower right")
    return fig


def lift_chart(labels, propensity) -> Figure:
    share, gain = _cumulative(labels, propensity)
    fig = Figure(figsize=(5, 4.5), dpi=CHART_DPI)
    fig.subplots_adjust(left=0.14, right=0.96, bottom=0.12, top=0.92)
    ax = fig.subplots()
    ax.plot(share, gain / share, label="model")
    ax.axhline(1.0, ls="--", color="grey", label="random")
    ax.set(xlabel="share of contacts (by propensity)", ylabel="cumulative lift", title="Cumulative lift (holdout)")
    ax.legend(loc="upper right")
    return fig


def importance_chart(booster: lgb.Booster, top: int = 20) -> Figure:
    gain = pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    gain = gain.sort_values().tail(top)
    height = 0.3 * len(gain) + 1.2
    fig = Figure(figsize=(6, height), dpi=CHART_DPI)
    fig.subplots_adjust(left=0.36, right=0.96, bottom=0.6 / height, top=1 - 0.4 / height)
    ax = fig.subplots()
    ax.barh(gain.index, gain.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance")
    return fig


# ---- the step the DAG calls -----------------------------------------------------


def train_and_register(
    training_frame: pd.DataFrame,
    product_code: str,
    run_date,
    feature_columns,
    settings,
    tags: dict | None = None,
    holdout_days: int = 14,
    min_positives: int = 10,
    population: pd.DataFrame | None = None,
    categorical_columns=(),
) -> dict:
    """Train, evaluate, log and register ``product_code``'s model, then run the promotion gate.

    The split is by time: contacts before ``max(event_timestamp) - holdout_days``
    train (the last :data:`CALIBRATION_SHARE` of them stop the boosting and
    calibrate), later ones evaluate; when that leaves too few conversions on a side
    (a campaign sent on one day), a fixed share of customers is held out instead
    (:func:`ml.splits.contact_split`). Returns ``{"status": "skipped", "reason": ...}``
    when the train or holdout window has fewer than ``min_positives``
    conversions; raises :class:`LeakageError` if features postdate a contact.
    ``population`` (every customer's features of D) gives the reference profile
    (:mod:`ml.drift`) that later days' drift is measured against. ``settings``: the
    platform's (MLflow's tracking URI and artifact root, the model-name prefix, the
    target-list size that caps the gate's top k).
    """
    feature_columns = list(feature_columns)
    run_day = parse_run_date(run_date)
    if training_frame.empty:  # no labelled contact yet (the first days of a history)
        return {"status": "skipped", "product_code": product_code, "reason": "no labelled treated contacts"}
    check_no_leakage(training_frame)
    contacts = treated_contacts(training_frame, product_code, run_day, feature_columns)
    if contacts.empty:
        return {"status": "skipped", "product_code": product_code, "reason": "no labelled treated contacts"}
    return _train_log_register(
        contacts,
        product_code,
        run_day,
        feature_columns,
        contact_split(contacts, holdout_days, min_positives),
        tags,
        {"holdout_days": holdout_days, "min_positives": min_positives},
        min_positives,
        settings,
        population,
        categorical_columns,
    )


def train_churn_model(
    training_frame: pd.DataFrame,
    run_date,
    feature_columns,
    settings,
    tags: dict | None = None,
    holdout_snapshots: int = 1,
    min_positives: int = 10,
    population: pd.DataFrame | None = None,
    categorical_columns=(),
) -> dict:
    """Train, log, register and gate the churn-risk model (registered as ``<model_prefix>_churn``).

    ``training_frame``: one row per customer and snapshot with ``customer_id``,
    ``event_timestamp`` (when the snapshot's features became known), ``label``
    (1 = churned within the outcome window) and the feature columns, as the
    ``churn_labels`` mart joined point-in-time to the Feast features gives it.
    The latest ``holdout_snapshots`` snapshot times of a fixed share of customers
    are the holdout; earlier snapshots of the other customers train (the most
    recent quarter of them stops the boosting and calibrates), so no holdout
    customer is seen in training. A single snapshot time is split by customer
    (:func:`ml.splits.snapshot_split`). The model, metrics, artifacts and gate are those of
    :func:`train_and_register`, with a churner in the gate's top k worth
    :data:`ml.RETENTION_VALUE`. Skips like it on too few churners. ``settings`` as there.
    """
    feature_columns = list(feature_columns)
    run_day = parse_run_date(run_date)
    if training_frame.empty:  # no outcome window has closed yet (the first 60 days of a history)
        return {"status": "skipped", "product_code": CHURN, "reason": "no labelled churn snapshots"}
    check_no_leakage(training_frame)
    snapshots = churn_snapshots(training_frame, run_day, feature_columns)
    return _train_log_register(
        snapshots,
        CHURN,
        run_day,
        feature_columns,
        snapshot_split(snapshots, holdout_snapshots),
        tags,
        {"holdout_snapshots": holdout_snapshots, "min_positives": min_positives},
        min_positives,
        settings,
        population,
        categorical_columns,
    )


def _train_log_register(
    rows: pd.DataFrame,
    code: str,
    run_day,
    feature_columns: list[str],
    split: Split,
    tags: dict | None,
    split_params: dict,
    min_positives: int,
    settings,
    population: pd.DataFrame | None = None,
    categorical_columns=(),
) -> dict:
    """Fit, calibrate, evaluate, log, register and gate a model on ``rows`` (oldest first).
    ``categorical_columns``: feature columns that hold category codes (the bank's declared attributes)."""
    train, holdout = split.train, split.holdout
    n_calibration = int(np.ceil(CALIBRATION_SHARE * len(train)))
    fit, calibration = train.iloc[: len(train) - n_calibration], train.iloc[len(train) - n_calibration :]
    reason = (
        _shortfall("training window", train["label"], min_positives)
        or _shortfall("holdout window", holdout["label"], min_positives)
        or _shortfall("fit slice", fit["label"], 1)
        or _shortfall("calibration slice", calibration["label"], 1)
    )
    labels_through = rows["event_timestamp"].max().isoformat()
    if reason:
        log.warning("%s: training skipped: %s", code, reason)
        return {
            "status": "skipped",
            "product_code": code,
            "reason": reason,
            "rows": len(rows),
            "labels_through": labels_through,
            **split.describe(),
        }

    model = PropensityModel(code, feature_columns, categorical_columns=categorical_columns)
    model.booster, params = fit_booster(model, fit, calibration)
    model.calibration = fit_calibration(model.raw_score(calibration), calibration["label"].to_numpy())

    labels = holdout["label"].to_numpy()
    propensity = model.predict_proba(holdout)
    metrics = {
        **holdout_metrics(labels, propensity, code, settings.target_list_size),
        "train_rows": float(len(train)),
        "train_positives": float(train["label"].sum()),
        "calibration_rows": float(len(calibration)),
        "holdout_rows": float(len(holdout)),
        "holdout_positives": float(labels.sum()),
        "num_trees": float(model.booster.num_trees()),
    }
    segments = segment_metrics(holdout, propensity) if "segment" in holdout.columns else None

    name = registered_name(code, settings)
    client = use_tracking(settings)
    experiment_id = ensure_experiment(f"{EXPERIMENT_PREFIX}_{code}", settings)
    run_tags = {
        "data_date": run_day.isoformat(),
        "product_code": code,
        "model_name": name,
        **{str(k): str(v) for k, v in (tags or {}).items()},
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{code}_{run_day}", tags=run_tags) as run:
        mlflow.log_params(
            {
                **{f"lgbm_{k}": v for k, v in params.items()},
                "max_boost_round": MAX_BOOST_ROUND,
                "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
                **split_params,
                **{k: v for k, v in split.describe().items() if k != "holdout_split_reason" and v is not None},
                "calibration_method": model.calibration["method"],
                "n_features": len(feature_columns),
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"feature_columns": feature_columns}, "feature_columns.json")
        for chart_name, figure in (
            ("calibration", calibration_chart(labels, propensity)),
            ("cumulative_gain", gain_chart(labels, propensity)),
            ("lift", lift_chart(labels, propensity)),
            ("feature_importance", importance_chart(model.booster)),
        ):
            mlflow.log_figure(figure, f"{CHART_DIR}/{chart_name}.png")
        _log_holdout(holdout, propensity)
        if population is not None:
            mlflow.log_dict(
                reference_profile(population, feature_columns, model.predict_proba(population), run_day),
                REFERENCE_ARTIFACT,
            )
        if segments is not None:
            mlflow.log_text(segments.to_csv(index=False), "segment_metrics.csv")
            mlflow.log_metrics(
                {
                    _metric_key(f"segment.{row.segment}.{key}"): float(getattr(row, key))
                    for row in segments.itertuples()
                    for key in ("roc_auc", "conversion_rate", "mean_propensity")
                    if not np.isnan(getattr(row, key))
                }
            )
        model_info = _log_model(model, holdout, name)
        run_id = run.info.run_id

    version = str(model_info.registered_model_version)
    for key, value in {
        "product_code": code,
        "data_date": run_day.isoformat(),
        "labels_through": labels_through,
        "train_rows": str(len(rows)),
    }.items():
        client.set_model_version_tag(name, version, key, value)
    promoted = promote_if_better(
        name,
        version,
        metrics,
        holdout=holdout[feature_columns + ["label"]],
        capacity=settings.target_list_size,
        client=client,
    )
    return {
        "status": "trained",
        "product_code": code,
        "model_name": name,
        "version": version,
        "metrics": metrics,
        "promoted": promoted,
        "champion_version": alias_version(name, CHAMPION, client),
        "run_id": run_id,
        "experiment_id": experiment_id,
        **split.describe(),
        "segment_metrics": None if segments is None else segments.to_dict("records"),
        "rows": len(rows),
        "labels_through": labels_through,
    }


def fit_booster(model: PropensityModel, fit: pd.DataFrame, validation: pd.DataFrame) -> tuple[lgb.Booster, dict]:
    """Boost on ``fit`` until the log-loss on ``validation`` (the later rows) stops improving.

    Returns the booster cut at its best round, and the parameters used.
    """
    params = dict(LGBM_PARAMS)
    if len(fit) < SMALL_FIT_ROWS:
        params["num_threads"] = 1
    names = model.feature_columns
    categorical = model.categorical_columns or "auto"
    fit_set = lgb.Dataset(
        model.feature_matrix(fit), fit["label"].to_numpy(), feature_name=names, categorical_feature=categorical
    )
    validation_set = lgb.Dataset(
        model.feature_matrix(validation), validation["label"].to_numpy(), feature_name=names, reference=fit_set
    )
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=MAX_BOOST_ROUND,
        valid_sets=[validation_set],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
    )
    # Keep only the rounds up to the best one: the artifact is what was validated.
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best)), params


def _log_holdout(holdout: pd.DataFrame, propensity: np.ndarray) -> None:
    """Log the holdout's keys, labels and the model's propensity as :data:`HOLDOUT_ARTIFACT`."""
    keys = [column for column in HOLDOUT_KEYS if column in holdout.columns]
    rows = holdout[keys + ["label"]].assign(propensity=propensity).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / HOLDOUT_ARTIFACT
        rows.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _log_model(model: PropensityModel, holdout: pd.DataFrame, name: str):
    """Log the pyfunc model (booster + calibration artifacts) and register a new version."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    example = holdout[model.feature_columns].head(5).astype("float64")
    # Explicit rather than inferred: every feature is a required double (NaN allowed),
    # whatever the few example rows happen to contain.
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", column) for column in model.feature_columns]),
        outputs=Schema([TensorSpec(np.dtype("float64"), (-1,))]),
    )
    # Pinned requirements: MLflow's inference would re-import the model in a subprocess.
    requirements = [
        f"mlflow=={mlflow.__version__}",
        f"lightgbm=={lgb.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]
    with tempfile.TemporaryDirectory() as folder:
        booster_path = Path(folder) / "booster.txt"
        calibration_path = Path(folder) / "calibration.json"
        model.booster.save_model(str(booster_path))
        calibration_path.write_text(json.dumps(model.calibration))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            artifacts={"booster": str(booster_path), "calibration": str(calibration_path)},
            signature=signature,
            input_example=example,
            pip_requirements=requirements,
            registered_model_name=name,
        )
