"""Model monitoring and the retraining triggers: drift, realised performance, label surplus.

Every day, after the features of D are published, :func:`monitor_models` measures each
champion (the propensity, churn-risk and uplift models):

* **feature drift**: the population stability index (PSI) of every served feature of D
  against the reference profile logged with the champion (the features of the whole
  customer population on the day it was trained: the training rows themselves are
  customers picked by earlier targeting, so comparing them with the whole book would
  measure the targeting, not drift);
* **prediction drift**: the PSI of the champion's scores of D against its scores on that
  reference population;
* **realised performance** on the outcomes that matured since the champion's training
  data: AUC (with its standard error) against the AUC the champion expects on those same
  customers (:func:`expected_auc`: contacted customers are ones the models picked, whose
  scores span a narrower range than a random holdout's, so their AUC is lower even for a
  healthy model), observed against predicted conversions, and for an uplift model the
  Qini coefficient.

:func:`decide_retraining` turns these into one decision per model, each threshold a
setting (:class:`bankmkt.settings.Settings`, ``RETRAIN_*``): retrain when there is no
champion yet, when enough new labelled outcomes arrived since the latest version's
training data (label surplus), when a feature or the prediction drifted beyond the PSI
threshold, or when the realised performance decayed. The decision names the trigger
that fired, or why none did. Both are written as Parquet under
``outputs/monitoring/dt=D/`` (loaded into the warehouse as ``fct_model_monitoring`` and
``fct_retraining_decisions``) and fired triggers raise an alert.

The population stability index and the reference profile are :mod:`ml.drift`'s (training
writes the profile). The functions on plain frames and numbers (:func:`ml.drift.feature_psi`,
:func:`label_surplus_trigger`, :func:`drift_trigger`, :func:`decay_trigger`) are what the
tests drive with simulated drift, decay and label surplus.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from ml.drift import REFERENCE_ARTIFACT, feature_psi, score_psi

TRIGGERS = (
    "no_champion",
    "label_surplus",
    "feature_drift",
    "prediction_drift",
    "auc_decay",
    "calibration_decay",
    "qini_decay",
)
MONITORING_FILE = "model_monitoring.parquet"
DECISIONS_FILE = "retraining_decisions.parquet"


# ---- realised performance ----------------------------------------------------------


def auc_with_error(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """ROC AUC and its standard error (Hanley and McNeil, 1982); NaN without both outcomes."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, dtype=int)
    positives, negatives = int(labels.sum()), int(len(labels) - labels.sum())
    if positives == 0 or negatives == 0:
        return float("nan"), float("nan")
    auc = float(roc_auc_score(labels, scores))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
        positives * negatives
    )
    return auc, float(math.sqrt(max(variance, 0.0)))


def expected_auc(predicted: np.ndarray) -> float:
    """The AUC a calibrated model expects on these rows: labels drawn as Bernoulli(predicted).

    ``sum_{i != j} p_i (1 - p_j) [p_i > p_j] / sum_{i != j} p_i (1 - p_j)``, ties counted half.
    Realised AUC on the customers a model picked is lower than on a random holdout (the
    picked customers' scores span a narrower range); this expectation is computed on the
    same customers, so the comparison measures the model, not the selection.
    """
    p = np.asarray(predicted, dtype=float)
    if len(p) < 2:
        return float("nan")
    values, counts = np.unique(p, return_counts=True)
    positive = values * counts  # sum of p per distinct value
    negative = (1 - values) * counts  # sum of 1 - p per distinct value
    below = np.cumsum(negative) - negative
    ties = positive * negative - counts * values * (1 - values)
    numerator = float(np.sum(positive * below) + 0.5 * np.sum(ties))
    denominator = float(positive.sum() * negative.sum() - np.sum(p * (1 - p)))
    return numerator / denominator if denominator > 0 else float("nan")


def realised_performance(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """AUC (with its standard error and the AUC the model expects on the same rows), observed and
    predicted conversions, and the 99% band of the latter."""
    labels = np.asarray(labels, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    auc, se = auc_with_error(labels, predicted)
    expected = float(predicted.sum())
    spread = float(math.sqrt(float(np.sum(predicted * (1 - predicted)))))
    return {
        "matured": float(len(labels)),
        "positives": float(labels.sum()),
        "auc": auc,
        "auc_se": se,
        "expected_auc": expected_auc(predicted),
        "observed": float(labels.sum()),
        "predicted": expected,
        "predicted_low": expected - 2.576 * spread,
        "predicted_high": expected + 2.576 * spread,
    }


# ---- the triggers ------------------------------------------------------------------


@dataclass
class Trigger:
    """One trigger's verdict for one model: fired or not, and why, in words and numbers."""

    name: str
    fired: bool
    reason: str
    value: float | None = None
    threshold: float | None = None


def label_surplus_trigger(new_labels: int, trained_rows: int | None, settings) -> Trigger:
    """Enough labelled outcomes arrived since the latest version's training data."""
    if trained_rows is None:
        return Trigger("label_surplus", False, "no earlier training to count new outcomes from")
    needed = max(settings.retrain_min_new_labels, math.ceil(settings.retrain_new_label_share * trained_rows))
    fired = new_labels >= needed
    return Trigger(
        "label_surplus",
        fired,
        f"{new_labels} new labelled outcomes since the latest training ({trained_rows} rows); "
        f"{'at least' if fired else 'fewer than'} the {needed} needed",
        float(new_labels),
        float(needed),
    )


def drift_trigger(name: str, values: dict[str, float], settings) -> Trigger:
    """PSI beyond the threshold on any of ``values`` (feature -> PSI, or {"score": PSI})."""
    threshold = settings.retrain_psi_threshold
    if not values:
        return Trigger(name, False, "no reference profile to compare with")
    worst = max(values, key=values.get)
    drifted = sorted((k for k, v in values.items() if v > threshold), key=lambda k: -values[k])
    if drifted:
        listed = ", ".join(f"{k} {values[k]:.2f}" for k in drifted[:5])
        return Trigger(name, True, f"PSI above {threshold}: {listed}", values[worst], threshold)
    return Trigger(
        name, False, f"largest PSI {values[worst]:.3f} ({worst}), threshold {threshold}", values[worst], threshold
    )


def decay_trigger(performance: dict | None, champion_metrics: dict, settings, uplift: bool = False) -> list[Trigger]:
    """AUC and calibration decay (propensity, churn) or Qini decay (uplift) on matured outcomes."""
    names = ("qini_decay",) if uplift else ("auc_decay", "calibration_decay")
    if not performance:
        return [Trigger(n, False, "no outcome has matured since the champion's training data") for n in names]
    matured, positives = performance.get("matured", 0), performance.get("positives", 0)
    if matured < settings.retrain_min_matured or positives < settings.retrain_min_matured_positives:
        why = (
            f"{int(matured)} outcomes ({int(positives)} conversions) matured since the champion's training "
            f"data: fewer than {settings.retrain_min_matured} ({settings.retrain_min_matured_positives}) to judge"
        )
        return [Trigger(n, False, why) for n in names]
    if uplift:
        qini, floor = performance.get("qini", float("nan")), settings.retrain_min_qini
        fired = bool(qini < floor)
        return [
            Trigger(
                "qini_decay",
                fired,
                f"realised Qini {qini:.4f} on {int(matured)} outcomes "
                f"({'below' if fired else 'not below'} {floor}; holdout Qini "
                f"{champion_metrics.get('qini', float('nan')):.4f})",
                qini,
                floor,
            )
        ]
    triggers = []
    auc, se = performance["auc"], performance["auc_se"]
    holdout = champion_metrics.get("roc_auc", float("nan"))
    # The lower of the holdout AUC and the champion's own expectation on these customers: the
    # expectation discounts selection (targeted customers' scores span a narrower range), the
    # holdout guards against a model whose overconfident probabilities inflate the expectation.
    expected = performance.get("expected_auc")
    baseline = holdout if expected is None or not np.isfinite(expected) else min(holdout, expected)
    baseline = expected if not np.isfinite(baseline) else baseline
    drop = baseline - auc
    fired = bool(drop > settings.retrain_auc_drop and drop > 2 * se)
    triggers.append(
        Trigger(
            "auc_decay",
            fired,
            f"realised AUC {auc:.3f} ± {se:.3f} on {int(matured)} outcomes against {baseline:.3f}, "
            f"the lower of the champion's expectation on these customers ({expected or float('nan'):.3f}) "
            f"and its holdout AUC ({holdout:.3f}); allowed drop {settings.retrain_auc_drop}, and two "
            f"standard errors",
            auc,
            baseline - settings.retrain_auc_drop,
        )
    )
    observed, predicted = performance["observed"], performance["predicted"]
    off = abs(observed - predicted) / max(predicted, 1e-9)
    outside = not (performance["predicted_low"] <= observed <= performance["predicted_high"])
    fired = bool(off > settings.retrain_calibration_tolerance and outside)
    triggers.append(
        Trigger(
            "calibration_decay",
            fired,
            f"{int(observed)} conversions observed, {predicted:.1f} predicted (99% band "
            f"{performance['predicted_low']:.1f}-{performance['predicted_high']:.1f}; "
            f"tolerance {settings.retrain_calibration_tolerance:.0%})",
            off,
            settings.retrain_calibration_tolerance,
        )
    )
    return triggers


@dataclass
class Decision:
    """Whether one model retrains today, and every trigger's verdict."""

    model_name: str
    kind: str  # propensity, churn or uplift
    product_code: str
    champion_version: str | None
    triggers: list[Trigger] = field(default_factory=list)

    @property
    def retrain(self) -> bool:
        return any(t.fired for t in self.triggers)

    @property
    def fired(self) -> list[str]:
        return [t.name for t in self.triggers if t.fired]

    @property
    def reason(self) -> str:
        if self.retrain:
            return "; ".join(f"{t.name}: {t.reason}" for t in self.triggers if t.fired)
        return "no trigger fired: " + "; ".join(f"{t.name}: {t.reason}" for t in self.triggers)

    def as_dict(self) -> dict:
        return {
            "model_name": self.model_name,
            "kind": self.kind,
            "product_code": self.product_code,
            "champion_version": self.champion_version,
            "retrain": self.retrain,
            "fired": self.fired,
            "reason": self.reason,
            "triggers": [asdict(t) for t in self.triggers],
        }


def decide(
    model_name: str,
    kind: str,
    product_code: str,
    champion_version: str | None,
    monitoring: dict,
    state: dict | None,
    new_labels: int,
    settings,
) -> Decision:
    """One model's decision from its monitoring record (:func:`monitor_model`) and training state."""
    decision = Decision(model_name, kind, product_code, champion_version)
    if champion_version is None:
        if state is None:
            decision.triggers.append(Trigger("no_champion", True, "no champion and never trained: first training"))
            return decision
        last = f"no champion yet (last attempt on {state.get('run_date')}: {state.get('status')})"
        if state.get("status") == "skipped":
            # Too little data last time: try again once there is a share more (no absolute minimum:
            # a small book must not wait for the label surplus of a large one).
            needed = max(1, math.ceil(settings.retrain_new_label_share * state.get("rows", 0)))
            fired = new_labels >= needed
            decision.triggers.append(
                Trigger(
                    "no_champion",
                    fired,
                    f"{last}; {new_labels} new labelled outcomes since, "
                    f"{'at least' if fired else 'fewer than'} the {needed} needed to try again",
                    float(new_labels),
                    float(needed),
                )
            )
            return decision
        # Trained but lost its gate: another try needs materially more evidence.
        surplus = label_surplus_trigger(new_labels, state.get("rows", 0), settings)
        decision.triggers.append(
            Trigger("no_champion", surplus.fired, f"{last}; {surplus.reason}", surplus.value, surplus.threshold)
        )
        return decision
    decision.triggers.append(label_surplus_trigger(new_labels, (state or {}).get("rows"), settings))
    decision.triggers.append(drift_trigger("feature_drift", monitoring.get("feature_psi") or {}, settings))
    score = monitoring.get("prediction_psi")
    decision.triggers.append(drift_trigger("prediction_drift", {} if score is None else {"score": score}, settings))
    decision.triggers += decay_trigger(
        monitoring.get("performance"), monitoring.get("champion_metrics") or {}, settings, uplift=kind == "uplift"
    )
    return decision


# ---- training state (what the label-surplus trigger counts from) ---------------------


def read_training_state(settings) -> dict:
    path = settings.training_state_file
    return json.loads(path.read_text()) if path.exists() else {}


def record_training_attempt(
    settings, model_name: str, run_date: date, status: str, rows: int, labels_through: str | None
) -> None:
    """Remember what a training attempt saw, trained or skipped (the next label surplus counts from it)."""
    from bankmkt.runtime import write_atomically

    state = read_training_state(settings)
    state[model_name] = {
        "run_date": run_date.isoformat(),
        "status": status,
        "rows": int(rows),
        "labels_through": labels_through,
    }
    settings.training_state_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(
        settings.training_state_file, lambda partial: partial.write_text(json.dumps(state, indent=2, sort_keys=True))
    )


# ---- the daily measurement (the bank_daily DAG's monitor_models task) ------------------


@dataclass
class MonitoredModel:
    model_name: str
    kind: str  # propensity, uplift or churn
    product_code: str


def platform_models(products, settings) -> list[MonitoredModel]:
    """Every model the platform trains: a propensity and an uplift model per product, and churn risk."""
    from ml import CHURN, model_name
    from ml.uplift import uplift_model_name

    models = []
    for product in products:
        models.append(MonitoredModel(model_name(product, settings), "propensity", product))
        models.append(MonitoredModel(uplift_model_name(product), "uplift", product))
    models.append(MonitoredModel(model_name(CHURN, settings), "churn", CHURN))
    return models


def _labels_after(frame: pd.DataFrame, model: MonitoredModel, since: str | None) -> pd.DataFrame:
    """The labelled rows of ``model`` (its product, its arm) after ``since`` (an ISO timestamp)."""
    if frame.empty:
        return frame
    rows = frame
    if model.kind != "churn":
        rows = rows.loc[rows["product_code"] == model.product_code]
        if model.kind == "propensity":
            rows = rows.loc[~rows["is_control"].astype(bool)]
    rows = rows.loc[rows["label"].notna()]
    if since:
        rows = rows.loc[rows["event_timestamp"] > pd.Timestamp(since)]
    return rows


def monitor_model(
    model: MonitoredModel, population: pd.DataFrame, labelled: pd.DataFrame, state: dict | None, client
) -> dict:
    """One model's monitoring record of D: champion, drift, realised performance, new labels."""
    import mlflow

    from ml.registry import CHAMPION, alias_version

    record = {"model_name": model.model_name, "kind": model.kind, "product_code": model.product_code}
    version = alias_version(model.model_name, CHAMPION, client)
    record["champion_version"] = version
    details = run = None
    if version is not None:
        details = client.get_model_version(model.model_name, version)
        run = client.get_run(details.run_id)
        if state is None:  # a champion from before the training state was kept: count from its own data
            tags = details.tags or {}
            state = {
                "run_date": tags.get("data_date"),
                "status": "trained",
                "labels_through": tags.get("labels_through"),
                "rows": int(float(tags.get("train_rows") or run.data.metrics.get("train_rows", 0))),
            }
    record["last_training"] = state
    record["new_labels"] = int(len(_labels_after(labelled, model, (state or {}).get("labels_through"))))
    if version is None:
        return record
    record["champion_metrics"] = dict(run.data.metrics)
    champion_through = (details.tags or {}).get("labels_through") or run.data.tags.get("labels_through")
    record["champion_labels_through"] = champion_through
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_name}/{version}").unwrap_python_model()
    try:
        profile = mlflow.artifacts.load_dict(f"runs:/{details.run_id}/{REFERENCE_ARTIFACT}")
    except Exception:
        profile = None
    score = (lambda rows: loaded.arms(rows)["uplift"].to_numpy()) if model.kind == "uplift" else loaded.predict_proba
    if profile is not None and len(population):
        record["reference_as_of"] = profile.get("as_of")
        record["feature_psi"] = feature_psi(profile, population)
        record["prediction_psi"] = score_psi(profile, score(population))
    matured = _labels_after(labelled, model, champion_through)
    if len(matured):
        labels = matured["label"].astype(int).to_numpy()
        if model.kind == "uplift":
            from ml.uplift import uplift_metrics

            treated = ~matured["is_control"].astype(bool)
            performance = {
                "matured": float(len(matured)),
                "positives": float(labels.sum()),
                "controls": float((~treated).sum()),
            }
            if treated.any() and (~treated).any():
                performance.update(uplift_metrics(score(matured), matured.assign(is_treated=treated, label=labels)))
        else:
            performance = realised_performance(labels, score(matured))
        record["performance"] = performance
    return record


def monitoring_rows(run_date: date, records: list[dict]) -> pd.DataFrame:
    """The monitoring records as long rows: run_date, model, metric, feature, value."""
    rows = []
    for record in records:
        base = {
            "run_date": run_date,
            "model_name": record["model_name"],
            "kind": record["kind"],
            "product_code": record["product_code"],
            "champion_version": record.get("champion_version"),
        }
        rows.append({**base, "metric": "new_labels", "feature": None, "value": float(record["new_labels"])})
        for feature, value in (record.get("feature_psi") or {}).items():
            rows.append({**base, "metric": "feature_psi", "feature": feature, "value": value})
        if record.get("prediction_psi") is not None:
            rows.append({**base, "metric": "prediction_psi", "feature": None, "value": record["prediction_psi"]})
        for key, value in (record.get("performance") or {}).items():
            rows.append({**base, "metric": f"realised_{key}", "feature": None, "value": value})
        for key in ("roc_auc", "qini"):
            if key in (record.get("champion_metrics") or {}):
                rows.append(
                    {**base, "metric": f"holdout_{key}", "feature": None, "value": record["champion_metrics"][key]}
                )
    frame = pd.DataFrame(
        rows,
        columns=["run_date", "model_name", "kind", "product_code", "champion_version", "metric", "feature", "value"],
    )
    frame["value"] = frame["value"].astype(float)
    return frame


def decision_rows(run_date: date, decisions: list[Decision]) -> pd.DataFrame:
    """One row per model and trigger: fired or not, the value measured, the threshold and why."""
    rows = [
        {
            "run_date": run_date,
            "model_name": d.model_name,
            "kind": d.kind,
            "product_code": d.product_code,
            "champion_version": d.champion_version,
            "retrain": d.retrain,
            "trigger": t.name,
            "fired": t.fired,
            "value": t.value,
            "threshold": t.threshold,
            "reason": t.reason,
        }
        for d in decisions
        for t in d.triggers
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "run_date",
            "model_name",
            "kind",
            "product_code",
            "champion_version",
            "retrain",
            "trigger",
            "fired",
            "value",
            "threshold",
            "reason",
        ],
    )
    for column in ("value", "threshold"):
        frame[column] = frame[column].astype(float)
    return frame


def write_parquet(frame: pd.DataFrame, run_date: date, name: str, settings):
    """``outputs/monitoring/dt=D/<name>`` (atomically), the warehouse's source for the monitoring marts."""
    from bankmkt.runtime import write_atomically

    folder = settings.monitoring_dir(run_date)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    write_atomically(path, lambda partial: frame.to_parquet(partial, index=False))
    return path
