"""Uplift: the incremental effect of a contact, learned from treated and control outcomes.

Two meta-learners on LightGBM; both need randomised arms, which the platform's
persistent control groups give (docs/campaigns.md):

* **T-learner** (:func:`fit_t_learner`): one classifier of the conversion probability
  of contacted customers, one of held-out (control) customers; uplift = their
  difference. Simple, but each arm regularises on its own, so the difference is noisy
  where effects are small and the control arm is small.
* **X-learner** (:func:`fit_x_learner`, Künzel et al. 2019; what the platform
  registers): the two arm models, then each arm's *imputed* effects (a contacted
  customer's outcome minus the control model's prediction for them; the treated
  model's prediction for a control customer minus their outcome) regressed on the
  features, and the two effect models blended by the arms' shares. It borrows the
  larger arm's model for the smaller one. On the simulator's explored contacts its
  uplift correlates with the true uplift at 0.50-0.80 per product against 0.38-0.63
  for the T-learner (benchmarks/README.md, bench-policy).

:func:`train_uplift_and_register` trains the X-learner per product on the platform's
treated and control contacts (Feast's point-in-time features), logs it to MLflow as an
:class:`UpliftModel` and registers it as ``uplift_<product>`` with the same aliases
as the propensity models (``champion``, ``challenger``, ``previous``); the gate is
the Qini coefficient on a time holdout.

Metrics: the Qini curve (incremental conversions gained by contacting the top k by
predicted uplift, against a random order) and its normalised area (the Qini
coefficient) on a holdout; an uplift model is only worth using when it beats random.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TREES = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
}
# The X-learner's four models: smaller, slower and more regularised trees (effects are small and noisy).
X_TREES = {
    "n_estimators": 300,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
    "verbose": -1,
    "n_jobs": 1,
}


@dataclass
class TLearner:
    """Two LightGBM classifiers: ``treated`` on contacted customers, ``control`` on held-out ones."""

    treated: object
    control: object
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_treated``, ``p_control`` and ``uplift`` = their difference, one row per row of ``frame``."""
        x = frame[self.features]
        p1 = self.treated.predict_proba(x)[:, 1]
        p0 = self.control.predict_proba(x)[:, 1]
        return pd.DataFrame({"p_treated": p1, "p_control": p0, "uplift": p1 - p0}, index=frame.index)


def fit_t_learner(
    frame: pd.DataFrame, features: list[str], label: str = "label", treated: str = "is_treated", seed: int = 0
) -> TLearner:
    """Fit both arms' models; refuses when an arm has too few conversions to learn from."""
    from lightgbm import LGBMClassifier

    arms = {}
    for name, rows in (("treated", frame[treated].astype(bool)), ("control", ~frame[treated].astype(bool))):
        part = frame.loc[rows]
        positives = int(part[label].sum())
        if positives < 20 or positives == len(part):
            raise ValueError(
                f"the {name} arm has {positives} conversions in {len(part)} contacts: too few to learn uplift"
            )
        model = LGBMClassifier(random_state=seed, **TREES)
        model.fit(part[features], part[label].astype(int))
        arms[name] = model
    return TLearner(arms["treated"], arms["control"], list(features))


@dataclass
class XLearner:
    """Arm models ``mu_treated``, ``mu_control`` and effect models ``tau_treated``, ``tau_control``."""

    mu_treated: object
    mu_control: object
    tau_treated: object
    tau_control: object
    treated_share: float
    features: list[str]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_treated``, ``p_control`` (the arm models) and ``uplift`` (the blended effect models)."""
        x = frame[self.features]
        uplift = self.treated_share * self.tau_control.predict(x) + (1 - self.treated_share) * self.tau_treated.predict(
            x
        )
        return pd.DataFrame(
            {
                "p_treated": self.mu_treated.predict_proba(x)[:, 1],
                "p_control": self.mu_control.predict_proba(x)[:, 1],
                "uplift": uplift,
            },
            index=frame.index,
        )


def fit_x_learner(
    frame: pd.DataFrame,
    features: list[str],
    label: str = "label",
    treated: str = "is_treated",
    seed: int = 0,
    min_positives: int = 20,
) -> XLearner:
    """Fit the X-learner; refuses, as the T-learner does, when an arm has too few conversions."""
    from lightgbm import LGBMClassifier, LGBMRegressor

    is_treated = frame[treated].astype(bool)
    arms = {}
    for name, rows in (("treated", is_treated), ("control", ~is_treated)):
        part = frame.loc[rows]
        positives = int(part[label].sum())
        if positives < min_positives or positives == len(part):
            raise ValueError(
                f"the {name} arm has {positives} conversions in {len(part)} contacts: too few to learn uplift"
            )
        arms[name] = (part, LGBMClassifier(random_state=seed, **X_TREES).fit(part[features], part[label].astype(int)))
    (t, mu1), (c, mu0) = arms["treated"], arms["control"]
    imputed_treated = t[label].to_numpy(dtype=float) - mu0.predict_proba(t[features])[:, 1]
    imputed_control = mu1.predict_proba(c[features])[:, 1] - c[label].to_numpy(dtype=float)
    tau1 = LGBMRegressor(random_state=seed, **X_TREES).fit(t[features], imputed_treated)
    tau0 = LGBMRegressor(random_state=seed, **X_TREES).fit(c[features], imputed_control)
    return XLearner(mu1, mu0, tau1, tau0, float(is_treated.mean()), list(features))


def qini_curve(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: share targeted (by predicted uplift, highest first) -> incremental conversions.

    At each k: conversions of the treated among the top k minus the control conversions
    among the top k scaled to the treated count, the usual estimate of what contacting
    the top k adds.
    """
    order = np.argsort(-np.asarray(uplift), kind="stable")
    t = np.asarray(treated, dtype=bool)[order]
    y = np.asarray(outcome, dtype=float)[order]
    treated_n, control_n = np.cumsum(t), np.cumsum(~t)
    treated_y, control_y = np.cumsum(y * t), np.cumsum(y * ~t)
    gain = treated_y - np.divide(control_y * treated_n, control_n, out=np.zeros_like(control_y), where=control_n > 0)
    share = np.arange(1, len(t) + 1) / len(t)
    return np.concatenate([[0.0], share]), np.concatenate([[0.0], gain])


def qini_coefficient(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line, per treated customer (0 = random)."""
    share, gain = qini_curve(uplift, treated, outcome)
    random_line = share * gain[-1]
    n_treated = max(int(np.asarray(treated, dtype=bool).sum()), 1)
    return float(np.trapezoid(gain - random_line, share) / n_treated)


def auuc(uplift: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> float:
    """Area under the Qini (uplift) curve per treated customer, random line not subtracted."""
    share, gain = qini_curve(uplift, treated, outcome)
    n_treated = max(int(np.asarray(treated, dtype=bool).sum()), 1)
    return float(np.trapezoid(gain, share) / n_treated)


# ---- the registered model -------------------------------------------------------------

EXPERIMENT_PREFIX = "uplift"
# Each arm of the training window needs this many conversions, and the holdout's arms a few.
MIN_ARM_POSITIVES = 20
MIN_HOLDOUT_ARM_POSITIVES = 3


def uplift_model_name(product_code: str) -> str:
    """Registered name of ``product_code``'s uplift model (beside ``<model_prefix>_<product>``)."""
    return f"uplift_{product_code}"


class UpliftModel(mlflow.pyfunc.PythonModel):
    """The X-learner as an MLflow model: ``predict`` returns the uplift.

    The four boosters are MLflow artifacts (LightGBM text format), the arms' shares a
    JSON artifact; only the product and the feature list travel in the pickle.
    """

    BOOSTERS = ("mu_treated", "mu_control", "tau_treated", "tau_control")

    def __init__(
        self,
        product_code: str,
        feature_columns: list[str],
        boosters: dict | None = None,
        treated_share: float | None = None,
    ):
        self.product_code = product_code
        self.feature_columns = list(feature_columns)
        self.boosters = boosters or {}
        self.treated_share = treated_share

    @classmethod
    def from_learner(cls, product_code: str, learner: XLearner) -> UpliftModel:
        boosters = {name: getattr(learner, name).booster_ for name in cls.BOOSTERS}
        return cls(product_code, learner.features, boosters, learner.treated_share)

    def __getstate__(self):
        return {"product_code": self.product_code, "feature_columns": self.feature_columns}

    def __setstate__(self, state):
        self.__init__(state["product_code"], state["feature_columns"])

    def load_context(self, context):
        import json

        import lightgbm as lgb

        self.boosters = {name: lgb.Booster(model_file=context.artifacts[name]) for name in self.BOOSTERS}
        self.treated_share = json.loads(Path(context.artifacts["blend"]).read_text())["treated_share"]

    def arms(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``p_treated``, ``p_control`` and ``uplift`` per row of ``frame``."""
        x = frame[self.feature_columns].to_numpy(dtype=np.float64, na_value=np.nan)
        b = self.boosters
        uplift = self.treated_share * b["tau_control"].predict(x) + (1 - self.treated_share) * b["tau_treated"].predict(
            x
        )
        return pd.DataFrame(
            {"p_treated": b["mu_treated"].predict(x), "p_control": b["mu_control"].predict(x), "uplift": uplift},
            index=frame.index,
        )

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return self.arms(pd.DataFrame(model_input))["uplift"].to_numpy()


def uplift_contacts(training_frame: pd.DataFrame, product_code: str, feature_columns: list[str]) -> pd.DataFrame:
    """``product_code``'s labelled contacts, both arms, oldest first, with ``is_treated``."""
    rows = training_frame.loc[(training_frame["product_code"] == product_code) & training_frame["label"].notna()]
    rows = rows.sort_values(["event_timestamp", "contact_id"], kind="stable").reset_index(drop=True)
    rows["is_treated"] = ~rows["is_control"].astype(bool)
    rows["label"] = rows["label"].astype(int)
    return rows


def _arm_shortfall(window: str, rows: pd.DataFrame, minimum: int) -> str | None:
    for arm, part in (("treated", rows.loc[rows["is_treated"]]), ("control", rows.loc[~rows["is_treated"]])):
        positives = int(part["label"].sum())
        if positives < minimum or positives == len(part):
            return (
                f"the {window}'s {arm} arm has {positives} conversions in {len(part)} contacts "
                f"(needs at least {minimum} and some non-conversions)"
            )
    return None


def uplift_metrics(uplift: np.ndarray, rows: pd.DataFrame) -> dict[str, float]:
    """Qini coefficient, AUUC and the arms' observed conversion rates on ``rows``."""
    treated, label = rows["is_treated"].to_numpy(), rows["label"].to_numpy()
    return {
        "qini": qini_coefficient(uplift, treated, label),
        "auuc": auuc(uplift, treated, label),
        "observed_uplift": float(label[treated].mean() - label[~treated].mean()),
        "mean_predicted_uplift": float(np.mean(uplift)),
    }


def train_uplift_and_register(
    training_frame: pd.DataFrame,
    product_code: str,
    run_date,
    feature_columns,
    settings,
    tags: dict | None = None,
    holdout_days: int = 14,
    population: pd.DataFrame | None = None,
    margin_qini: float = 0.0,
) -> dict:
    """Train ``product_code``'s uplift model on treated and control contacts, log, register, gate.

    The split is by time, as for the propensity models: the last ``holdout_days`` of
    contacts are the holdout. Gate: the Qini coefficient on the holdout. A candidate
    becomes ``champion`` only when its Qini is above 0 (better than random) and, when
    there is a champion, above the champion's Qini re-scored on the same holdout by more
    than ``margin_qini``; otherwise it is the ``challenger``. Skips (no version) when an
    arm has too few conversions. ``population`` (the customers' features of D) gives the
    reference profile that drift is later measured against (:mod:`ml.drift`). ``settings``:
    the platform's (MLflow's tracking URI and artifact root).
    """
    from ml.drift import REFERENCE_ARTIFACT, reference_profile
    from ml.registry import CHALLENGER, CHAMPION, PREVIOUS, _record, alias_version, ensure_experiment, use_tracking
    from ml.runtime import parse_run_date
    from ml.splits import contact_split

    feature_columns = list(feature_columns)
    run_day = parse_run_date(run_date)
    if training_frame.empty:
        return {
            "status": "skipped",
            "product_code": product_code,
            "kind": "uplift",
            "reason": "no labelled contacts",
            "rows": 0,
        }
    rows = uplift_contacts(training_frame, product_code, feature_columns)
    if rows.empty:
        return {
            "status": "skipped",
            "product_code": product_code,
            "kind": "uplift",
            "reason": "no labelled contacts",
            "rows": 0,
        }
    split = contact_split(rows, holdout_days, MIN_ARM_POSITIVES)
    train, holdout = split.train, split.holdout
    reason = _arm_shortfall("training window", train, MIN_ARM_POSITIVES) or _arm_shortfall(
        "holdout", holdout, MIN_HOLDOUT_ARM_POSITIVES
    )
    labels_through = rows["event_timestamp"].max().isoformat()
    if reason:
        log.warning("uplift %s: training skipped: %s", product_code, reason)
        return {
            "status": "skipped",
            "product_code": product_code,
            "kind": "uplift",
            "reason": reason,
            "rows": len(rows),
            "labels_through": labels_through,
            **split.describe(),
        }
    learner = fit_x_learner(train, feature_columns, seed=42, min_positives=MIN_ARM_POSITIVES)
    model = UpliftModel.from_learner(product_code, learner)
    predicted = model.arms(holdout)["uplift"].to_numpy()
    metrics = {
        **uplift_metrics(predicted, holdout),
        "train_rows": float(len(train)),
        "train_controls": float((~train["is_treated"]).sum()),
        "holdout_rows": float(len(holdout)),
        "holdout_controls": float((~holdout["is_treated"]).sum()),
        "holdout_positives": float(holdout["label"].sum()),
    }
    name = uplift_model_name(product_code)
    client = use_tracking(settings)
    experiment_id = ensure_experiment(f"{EXPERIMENT_PREFIX}_{product_code}", settings)
    run_tags = {
        "data_date": run_day.isoformat(),
        "product_code": product_code,
        "model_name": name,
        "labels_through": labels_through,
        **{str(k): str(v) for k, v in (tags or {}).items()},
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"uplift_{product_code}_{run_day}", tags=run_tags
    ) as run:
        mlflow.log_params(
            {
                "learner": "X-learner (LightGBM arm and effect models)",
                "holdout_days": holdout_days,
                **{k: v for k, v in split.describe().items() if k != "holdout_split_reason" and v is not None},
                "n_features": len(feature_columns),
                "treated_share": model.treated_share,
                **{f"lgbm_{k}": v for k, v in X_TREES.items()},
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"feature_columns": feature_columns}, "feature_columns.json")
        mlflow.log_figure(qini_chart(predicted, holdout), "charts/qini.png")
        if population is not None:
            scores = model.arms(population)["uplift"].to_numpy()
            mlflow.log_dict(reference_profile(population, feature_columns, scores, run_day), REFERENCE_ARTIFACT)
        with tempfile.TemporaryDirectory() as folder:
            paths = {}
            for part, booster in model.boosters.items():
                paths[part] = str(Path(folder) / f"{part}.txt")
                booster.save_model(paths[part])
            paths["blend"] = str(Path(folder) / "blend.json")
            Path(paths["blend"]).write_text(json.dumps({"treated_share": model.treated_share}))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                artifacts=paths,
                input_example=holdout[feature_columns].head(5).astype("float64"),
                pip_requirements=[
                    f"mlflow=={mlflow.__version__}",
                    f"numpy=={np.__version__}",
                    f"pandas=={pd.__version__}",
                ],
                registered_model_name=name,
            )
        run_id = run.info.run_id
    version = str(info.registered_model_version)
    for key, value in {
        "product_code": product_code,
        "data_date": run_day.isoformat(),
        "labels_through": labels_through,
        "train_rows": str(len(rows)),
    }.items():
        client.set_model_version_tag(name, version, key, value)

    champion = alias_version(name, CHAMPION, client)
    extra = {}
    if champion is not None:
        old = mlflow.pyfunc.load_model(f"models:/{name}/{champion}").unwrap_python_model()
        champion_qini = uplift_metrics(old.arms(holdout)["uplift"].to_numpy(), holdout)["qini"]
        extra = {"gate_champion_version": champion, "gate_champion_qini": f"{champion_qini:.6f}"}
        wins = metrics["qini"] > max(champion_qini + margin_qini, 0.0)
        why = (
            f"candidate Qini {metrics['qini']:.4f} vs champion v{champion} {champion_qini:.4f} on the "
            f"candidate's holdout (margin {margin_qini}; must also beat random, 0)"
        )
    else:
        wins = metrics["qini"] > 0.0
        why = f"first version: holdout Qini {metrics['qini']:.4f} {'beats' if wins else 'does not beat'} random (0)"
    if wins:
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, champion)
        client.set_registered_model_alias(name, CHAMPION, version)
        _record(client, name, version, CHAMPION, why, extra)
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
        _record(client, name, version, CHALLENGER, why, extra)
    return {
        "status": "trained",
        "kind": "uplift",
        "product_code": product_code,
        "model_name": name,
        "version": version,
        "metrics": metrics,
        "promoted": bool(wins),
        "gate_reason": why,
        "champion_version": alias_version(name, CHAMPION, client),
        "run_id": run_id,
        "experiment_id": experiment_id,
        **split.describe(),
        "rows": len(rows),
        "labels_through": labels_through,
    }


def qini_chart(uplift: np.ndarray, holdout: pd.DataFrame):
    """The Qini curve of the holdout against random targeting."""
    from matplotlib.figure import Figure

    share, gain = qini_curve(uplift, holdout["is_treated"].to_numpy(), holdout["label"].to_numpy())
    fig = Figure(figsize=(5, 4.5), dpi=80)
    ax = fig.subplots()
    ax.plot(share, gain, label="model")
    ax.plot([0, 1], [0, gain[-1]], ls="--", color="grey", label="random")
    ax.set(
        xlabel="share of holdout contacted (by predicted uplift)",
        ylabel="incremental conversions",
        title="Qini curve (holdout)",
    )
    ax.legend(loc="upper left")
    return fig


def load_uplift_champion(product_code: str, settings):
    """``(name, version, UpliftModel)`` of ``product_code``'s uplift champion; version None without one."""
    from ml.registry import CHAMPION, alias_version, use_tracking

    client = use_tracking(settings)
    name = uplift_model_name(product_code)
    version = alias_version(name, CHAMPION, client)
    if version is None:
        return name, None, None
    return name, version, mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
