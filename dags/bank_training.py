"""
### Retraining that data triggers

Scheduled on the `bankmkt://monitoring/models` asset: the bank_daily DAG's
**monitor_models** task updates it once D's features are published and every
champion has been measured on D. The run date comes from the asset event.

1. **decide_retraining**: per model (a propensity and an uplift model per product,
   and churn risk), every trigger against its setting (`RETRAIN_*`): no champion
   yet, enough new labelled outcomes since the latest training (label surplus),
   feature or prediction drift (PSI), decay of the realised AUC, calibration or
   Qini. The run record (DATA_DIR/runs/dt=D/decide_retraining.json) and
   `fct_retraining_decisions` say which trigger fired, or why none did; a drift
   or decay raises an alert.
2. **train_models**: only the models a trigger named, on Feast's point-in-time
   training set, tracked and registered in MLflow; `champion` moves only for a
   better model (ROC AUC and profit for propensity, Qini for uplift). Skipped
   when nothing fired: the champions keep scoring.

Each task calls one function of `bankmkt.pipeline`; see docs/pipeline.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from bankmkt.alerts import RETRY_WITH_BACKOFF, PlatformNotifier

MONITORING = Asset("bankmkt://monitoring/models")
CHAMPIONS = Asset("bankmkt://mlflow/champions")


def _run_date(ds: str | None, events) -> str:
    """The run date the triggering monitoring event names; the logical date for a manual run."""
    for event in reversed(list((events or {}).get(MONITORING, []))):
        if (event.extra or {}).get("run_date"):
            return event.extra["run_date"]
    if ds is None:
        raise ValueError("no run date: the run was not triggered by bank_daily's monitoring and has no logical date")
    return ds


@dag(
    dag_id="bank_training",
    schedule=[MONITORING],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["bank", "marketing", "training"],
    default_args={"retries": 0, "on_failure_callback": PlatformNotifier()},
    doc_md=__doc__,
)
def bank_training():
    @task
    def decide_retraining(ds: str | None = None, triggering_asset_events=None) -> dict:
        from bankmkt import pipeline

        day = _run_date(ds, triggering_asset_events)
        result = pipeline.decide_retraining(day)
        return {"run_date": day, "retrain": result["retrain"]}

    @task(outlets=[CHAMPIONS], **RETRY_WITH_BACKOFF)  # MLflow can be briefly away
    def train_models(decision: dict, run_id: str | None = None) -> dict:
        from bankmkt import pipeline

        result = pipeline.train_models(decision["run_date"], run_id=run_id, models=decision["retrain"])
        return {
            "run_date": decision["run_date"],
            "requested": decision["retrain"],
            "trained": sorted(k for k, v in result["models"].items() if v.get("status") == "trained"),
        }

    train_models(decide_retraining())


bank_training()
