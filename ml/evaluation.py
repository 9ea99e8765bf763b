"""The models against the synthetic bank's ground truth.

The generator knows every contact's true conversion probability
(``DATA_DIR/truth/contact_truth.parquet``, see docs/synthetic_bank.md). Ranking
the holdout contacts by that probability gives the best ROC AUC any model
could expect on them (the *oracle* AUC: the outcomes are random draws, so even
the truth does not reach 1). A model's holdout AUC over the oracle AUC on the
same contacts and labels says how much of the learnable signal it found;
the target is 0.95. Real banks have no truth file: there the comparison does
not apply.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ml import PRODUCTS
from ml.runtime import parse_run_date

log = logging.getLogger(__name__)

# A model's holdout AUC should reach this share of the oracle AUC.
ORACLE_RATIO_TARGET = 0.95
ORACLE_COLUMNS: tuple[str, ...] = (
    "product_code",
    "model_name",
    "version",
    "run_id",
    "holdout_rows",
    "holdout_positives",
    "model_roc_auc",
    "oracle_roc_auc",
    "auc_ratio",
    "meets_target",
    "note",
)


def compare_with_truth(holdout: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Model and oracle ROC AUC on the holdout contacts found in the truth.

    ``holdout``: ``contact_id``, ``label``, ``propensity`` (the model's);
    ``truth``: ``contact_id``, ``true_probability``. Both AUCs use the same
    contacts and the same observed labels. Raises ``ValueError`` when no holdout
    contact is in the truth or the matched contacts lack either outcome.
    """
    matched = holdout.merge(truth[["contact_id", "true_probability"]], on="contact_id", how="inner")
    labels = matched["label"].astype(int).to_numpy()
    if not 0 < labels.sum() < len(labels):
        raise ValueError(
            f"{len(matched)} of {len(holdout)} holdout contacts are in the truth, "
            f"with {int(labels.sum())} conversions: both outcomes are needed"
        )
    model_auc = float(roc_auc_score(labels, matched["propensity"]))
    oracle_auc = float(roc_auc_score(labels, matched["true_probability"]))
    return {
        "holdout_rows": float(len(matched)),
        "holdout_positives": float(labels.sum()),
        "model_roc_auc": model_auc,
        "oracle_roc_auc": oracle_auc,
        "auc_ratio": model_auc / oracle_auc,
    }


def _latest_run(client, experiment_name: str, run_day: str):
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.data_date = '{run_day}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def oracle_comparison(run_date, settings, products=PRODUCTS) -> pd.DataFrame:
    """Each product model trained for ``run_date`` against the generator's true probabilities.

    For every product, the latest MLflow run tagged ``data_date = run_date``
    gives its holdout (the ``holdout.parquet`` artifact: contact ids, labels and
    the model's propensities); the contacts are joined to
    ``truth/contact_truth.parquet`` and both AUCs computed on them. The oracle
    AUC and the ratio are logged on the run as metrics ``oracle_roc_auc`` and
    ``auc_ratio_to_oracle``. ``settings``: the platform's (``truth_dir`` and MLflow's
    tracking URI). Returns one row per product
    (:data:`ORACLE_COLUMNS`); a product without a run that day, or whose
    holdout cannot be compared, has a ``note`` and no figures.

    Raises ``FileNotFoundError`` when ``DATA_DIR`` has no truth (not a synthetic bank).
    """
    import mlflow

    from ml.registry import use_tracking
    from ml.training import EXPERIMENT_PREFIX, HOLDOUT_ARTIFACT

    truth_path = settings.contact_truth_path
    if not truth_path.exists():
        raise FileNotFoundError(f"no ground truth at {truth_path}: the oracle comparison needs a synthetic bank")
    truth = pd.read_parquet(truth_path, columns=["contact_id", "true_probability"])
    client = use_tracking(settings)
    run_day = parse_run_date(run_date).isoformat()

    rows = []
    for product_code in products:
        row = dict.fromkeys(ORACLE_COLUMNS)
        row["product_code"] = product_code
        run = _latest_run(client, f"{EXPERIMENT_PREFIX}_{product_code}", run_day)
        if run is None:
            row["note"] = f"no training run for {run_day}"
            rows.append(row)
            continue
        row.update(run_id=run.info.run_id, model_name=run.data.tags.get("model_name"))
        versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        row["version"] = str(versions[0].version) if versions else None
        try:
            with tempfile.TemporaryDirectory() as folder:
                path = mlflow.artifacts.download_artifacts(
                    run_id=run.info.run_id, artifact_path=HOLDOUT_ARTIFACT, dst_path=folder
                )
                holdout = pd.read_parquet(Path(path))
            figures = compare_with_truth(holdout, truth)
        except Exception as error:
            row["note"] = f"holdout not comparable: {error}"
            rows.append(row)
            continue
        row.update(figures)
        row["meets_target"] = bool(figures["auc_ratio"] >= ORACLE_RATIO_TARGET)
        client.log_metric(run.info.run_id, "oracle_roc_auc", figures["oracle_roc_auc"])
        client.log_metric(run.info.run_id, "auc_ratio_to_oracle", figures["auc_ratio"])
        log.info(
            "%s: holdout AUC %.3f, oracle %.3f, ratio %.3f",
            product_code,
            figures["model_roc_auc"],
            figures["oracle_roc_auc"],
            figures["auc_ratio"],
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(ORACLE_COLUMNS))
    for column in ("holdout_rows", "holdout_positives", "model_roc_auc", "oracle_roc_auc", "auc_ratio"):
        frame[column] = frame[column].astype(float).replace({None: np.nan})
    return frame
