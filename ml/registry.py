"""MLflow connection, the promotion gate and rollback.

Aliases carry the state of each registered model (MLflow stages are
deprecated):

* ``champion``: the version that scores customers (``models:/<name>@champion``);
* ``previous``: the champion before the last promotion (what rollback restores);
* ``challenger``: the latest candidate that lost the gate.

The gate compares the candidate and the champion on the candidate's holdout
(the latest contacts): the champion is re-scored on it when the holdout is
handed over, otherwise the champion's logged metrics are used. The candidate
wins only if its ROC AUC is higher by more than ``margin_auc`` *and* its profit
at the contact capacity is not lower by more than ``margin_profit`` (see
:func:`profit_at_k`).

Every function is handed its MLflow client (:func:`use_tracking` makes one from the
platform's settings) and the contact capacity: nothing here reads the settings itself.
The platform's command line wraps :func:`rollback` and :func:`aliases` (``model rollback``
and ``model show``, see docs/models.md).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml import CHURN, COST_PER_CONTACT, PRODUCTS, outcome_value

log = logging.getLogger(__name__)

CHAMPION = "champion"
PREVIOUS = "previous"
CHALLENGER = "challenger"

# The gate scores the top decile of the holdout, capped at the daily contact
# capacity: that is the slice of customers a campaign actually contacts.
GATE_TOP_SHARE = 0.1


class RollbackError(RuntimeError):
    """There is no ``previous`` version to roll back to."""


# ---- MLflow connection ----------------------------------------------------------


def use_tracking(settings):
    """Point MLflow at the tracking server and registry of ``settings`` (the platform's); returns a client."""
    import mlflow
    from mlflow import MlflowClient

    if settings.platform_env == "local":
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def ensure_experiment(experiment_name: str, settings) -> str:
    """Id of ``experiment_name``, created with the artifact root of ``settings`` when new."""
    client = use_tracking(settings)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    # Locally artifacts go to the settings' folder; an MLflow server (prod)
    # decides its own artifact store, so the client must not impose a path.
    location = f"{settings.mlflow_artifact_root}/{experiment_name}" if settings.platform_env == "local" else None
    return client.create_experiment(experiment_name, artifact_location=location)


# ---- gate metrics ---------------------------------------------------------------


def gate_k(n_contacts: int, capacity: int) -> int:
    """How many holdout contacts the profit is measured on: top decile, capped at ``capacity``
    (the daily contact capacity: the platform's ``target_list_size``)."""
    return max(1, min(int(capacity), math.ceil(GATE_TOP_SHARE * n_contacts)))


def profit_at_k(
    labels: Sequence[int] | np.ndarray,
    propensity: Sequence[float] | np.ndarray,
    k: int,
    value_per_conversion: float,
    cost_per_contact: float = COST_PER_CONTACT,
) -> float:
    """Profit of contacting the ``k`` highest-propensity contacts of a holdout.

    ``profit = value_per_conversion * conversions among the top k - cost_per_contact * k``,
    with conversions counted from the holdout's observed labels. Ties in
    propensity are broken by position so the figure is deterministic.
    """
    labels = np.asarray(labels, dtype=float)
    order = np.argsort(-np.asarray(propensity, dtype=float), kind="stable")[:k]
    return float(value_per_conversion * labels[order].sum() - cost_per_contact * len(order))


def gate_metrics(
    labels: Sequence[int] | np.ndarray,
    propensity: Sequence[float] | np.ndarray,
    product_code: str,
    capacity: int,
) -> dict[str, float]:
    """The metrics the promotion gate compares: ROC AUC and profit at the contact capacity.

    ``product_code`` is a product or :data:`ml.CHURN` (a churner reached counts
    :data:`ml.RETENTION_VALUE`).
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels, dtype=int)
    k = gate_k(len(labels), capacity)
    return {
        "roc_auc": float(roc_auc_score(labels, propensity)),
        "profit_at_k": profit_at_k(labels, propensity, k, outcome_value(product_code)),
        "gate_k": float(k),
    }


# ---- aliases --------------------------------------------------------------------


def alias_version(model_name: str, alias: str, client) -> str | None:
    """Version that ``alias`` points to, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def champion_summary(model_name: str, client) -> dict | None:
    """The champion of ``model_name`` as the registry holds it, in the shape training reports a
    version (``status: "champion"``): version, product, the metrics logged with its run, the run,
    and the data day it was trained on. None when the model has no champion."""
    version = alias_version(model_name, CHAMPION, client)
    if version is None:
        return None
    registered = client.get_model_version(model_name, version)
    data_date = (registered.tags or {}).get("data_date")
    return {
        "status": "champion",
        "product_code": _product_of(model_name, version, client),
        "model_name": model_name,
        "version": version,
        "champion_version": version,
        "metrics": dict(client.get_run(registered.run_id).data.metrics),
        "run_id": registered.run_id,
        "data_date": data_date,
        "reason": f"the champion, trained on the data of {data_date or 'an unrecorded day'}",
    }


def _product_of(model_name: str, version: str, client) -> str:
    """The product (or :data:`ml.CHURN`) a version models: its ``product_code`` tag, else the
    code that ends its registered name ``<model_prefix>_<code>``."""
    tags = client.get_model_version(model_name, version).tags or {}
    if "product_code" in tags:
        return tags["product_code"]
    return next((code for code in (*PRODUCTS, CHURN) if model_name.endswith(f"_{code}")), model_name)


def _champion_metrics(
    model_name: str,
    champion_version: str,
    holdout: pd.DataFrame | None,
    label_column: str,
    product_code: str,
    capacity: int,
    client,
) -> tuple[dict[str, float], str]:
    """The champion's gate metrics: re-scored on the holdout when possible, else as logged."""
    if holdout is not None and len(holdout):
        try:
            import mlflow

            model = mlflow.pyfunc.load_model(f"models:/{model_name}/{champion_version}").unwrap_python_model()
            missing = set(model.feature_columns) - set(holdout.columns)
            if not missing:
                propensity = model.predict_proba(holdout)
                metrics = gate_metrics(holdout[label_column], propensity, product_code, capacity)
                return metrics, "re-scored on the candidate's holdout"
            log.warning("champion needs features missing from the holdout: %s", sorted(missing))
        except Exception as error:
            log.warning("could not re-score champion %s v%s: %s", model_name, champion_version, error)
    run_id = client.get_model_version(model_name, champion_version).run_id
    logged = client.get_run(run_id).data.metrics
    return (
        {"roc_auc": logged.get("roc_auc", float("nan")), "profit_at_k": logged.get("profit_at_k", float("nan"))},
        "logged metrics of the champion's own holdout",
    )


def promote_if_better(
    model_name: str,
    candidate_version: str | int,
    candidate_metrics: dict[str, float],
    margin_auc: float = 0.0,
    margin_profit: float = 0.0,
    holdout: pd.DataFrame | None = None,
    label_column: str = "label",
    *,
    capacity: int,
    client,
) -> bool:
    """Make ``candidate_version`` the champion if it beats the current one; True if promoted.

    * No champion yet: the candidate becomes champion.
    * Otherwise both are measured on the same holdout (``holdout``, the
      candidate's evaluation contacts with features and ``label_column``; the
      champion is re-scored on it) or, without it, the champion's logged
      metrics are used. The candidate wins if
      ``auc_candidate > auc_champion + margin_auc`` and
      ``profit_candidate >= profit_champion + margin_profit``
      (profit at the contact capacity, see :func:`profit_at_k`).
    * A winner becomes ``champion``, the old champion keeps ``previous``; a
      loser becomes ``challenger``. The decision is written as tags on the
      candidate version.

    ``capacity``: the daily contact capacity the profit is measured at (:func:`gate_k`);
    ``client``: the MLflow client (:func:`use_tracking`).
    """
    candidate_version = str(candidate_version)
    product_code = _product_of(model_name, candidate_version, client)
    champion_version = alias_version(model_name, CHAMPION, client)

    if champion_version is None:
        client.set_registered_model_alias(model_name, CHAMPION, candidate_version)
        _record(client, model_name, candidate_version, CHAMPION, "first version: no champion yet")
        log.info("%s v%s is the first champion", model_name, candidate_version)
        return True
    if champion_version == candidate_version:
        return True

    champion, basis = _champion_metrics(
        model_name, champion_version, holdout, label_column, product_code, capacity, client
    )
    auc_wins = candidate_metrics["roc_auc"] > champion["roc_auc"] + margin_auc
    profit_wins = candidate_metrics["profit_at_k"] >= champion["profit_at_k"] + margin_profit
    reason = (
        f"candidate AUC {candidate_metrics['roc_auc']:.4f} vs champion v{champion_version} "
        f"{champion['roc_auc']:.4f} (margin {margin_auc}); profit@k "
        f"{candidate_metrics['profit_at_k']:.2f} vs {champion['profit_at_k']:.2f} "
        f"(margin {margin_profit}); {basis}"
    )
    extra = {
        "gate_champion_version": champion_version,
        "gate_champion_roc_auc": f"{champion['roc_auc']:.6f}",
        "gate_champion_profit_at_k": f"{champion['profit_at_k']:.2f}",
    }
    if auc_wins and profit_wins:
        client.set_registered_model_alias(model_name, PREVIOUS, champion_version)
        client.set_registered_model_alias(model_name, CHAMPION, candidate_version)
        if alias_version(model_name, CHALLENGER, client) == candidate_version:
            client.delete_registered_model_alias(model_name, CHALLENGER)
        _record(client, model_name, candidate_version, CHAMPION, reason, extra)
        log.info("%s v%s promoted: %s", model_name, candidate_version, reason)
        return True
    client.set_registered_model_alias(model_name, CHALLENGER, candidate_version)
    _record(client, model_name, candidate_version, CHALLENGER, reason, extra)
    log.info("%s v%s stays challenger: %s", model_name, candidate_version, reason)
    return False


def _record(client, model_name, version, decision, reason, extra=None) -> None:
    for key, value in {"gate_decision": decision, "gate_reason": reason, **(extra or {})}.items():
        client.set_model_version_tag(model_name, version, key, value)


def rollback(model_name: str, client) -> dict[str, str]:
    """Move ``champion`` back to the ``previous`` version.

    The rolled-back version is tagged ``rolled_back=true`` and the ``previous``
    alias is removed (a second rollback needs a new promotion first).
    """
    previous = alias_version(model_name, PREVIOUS, client)
    if previous is None:
        raise RollbackError(f"{model_name} has no '{PREVIOUS}' version to roll back to")
    current = alias_version(model_name, CHAMPION, client)
    client.set_registered_model_alias(model_name, CHAMPION, previous)
    client.delete_registered_model_alias(model_name, PREVIOUS)
    if current is not None and current != previous:
        client.set_model_version_tag(model_name, current, "rolled_back", "true")
    log.info("%s champion rolled back from v%s to v%s", model_name, current, previous)
    return {"model_name": model_name, "champion_version": previous, "rolled_back_version": current or ""}


def aliases(model_name: str, client) -> dict[str, str]:
    """Alias → version of a registered model."""
    return {alias: str(version) for alias, version in client.get_registered_model(model_name).aliases.items()}
