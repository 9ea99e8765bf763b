"""
### Retraining that data triggers

Scheduled on the `bankmkt://monitoring/models` asset: the bank_daily DAG's
**monitor_models** task updates it once D's features are published and every
champion has been measured on D. The run date comes from the asset event, and
D's measurements are monitor_models' return value (XCom), pulled from the
bank_daily run the event names. A run without a triggering event (`airflow dags
test`, `make run`, a manual trigger) finds that run among the asset's latest
events; when no run of D left one, decide_retraining measures the models itself.

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

Each task calls one function of `bankmkt.pipeline` (the one `python -m bankmkt.cli
stage <task>` runs); see docs/pipeline.md.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from bankmkt.alerts import RETRY_WITH_BACKOFF, PlatformNotifier

MONITORING = Asset("bankmkt://monitoring/models")
CHAMPIONS = Asset("bankmkt://mlflow/champions")
# How many of the monitoring asset's latest events a run without a triggering event looks through.
RECENT_EVENTS = 10


def _run_date(ds: str | None, events) -> str:
    """The run date the triggering monitoring event names; the logical date for a manual run."""
    for event in reversed(list((events or {}).get(MONITORING, []))):
        if (event.extra or {}).get("run_date"):
            return event.extra["run_date"]
    if ds is None:
        raise ValueError("no run date: the run was not triggered by bank_daily's monitoring and has no logical date")
    return ds


def _monitoring_event(run_date: str, triggering, recent):
    """The latest monitoring asset event of ``run_date``: a triggering one first, else one of the
    asset's recent events (newest first). It names the bank_daily run whose monitor_models task
    returned D's monitoring; None when no run of that day left an event."""
    candidates = [*reversed(list((triggering or {}).get(MONITORING, []))), *(recent or [])]
    for event in candidates:
        if (event.extra or {}).get("run_date") == run_date and event.source_dag_id and event.source_run_id:
            return event
    return None


@dag(
    dag_id="bank_training",
    schedule=[MONITORING],
    # The earliest logical date a run may have: real banks' histories start long before the platform
    # (Berka 1993, a telemarketing extract 2008). catchup=False: the scheduler never replays them.
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["bank", "marketing", "training"],
    default_args={"retries": 0, "on_failure_callback": PlatformNotifier()},
    doc_md=__doc__,
)
def bank_training():
    @task(inlets=[MONITORING])
    def decide_retraining(ds: str | None = None, triggering_asset_events=None, inlet_events=None, ti=None) -> dict:
        from bankmkt import pipeline

        day = _run_date(ds, triggering_asset_events)
        recent = inlet_events[MONITORING].ascending(False).limit(RECENT_EVENTS) if inlet_events else []
        event = _monitoring_event(day, triggering_asset_events, recent)
        monitoring = (
            ti.xcom_pull(dag_id=event.source_dag_id, task_ids=event.source_task_id, run_id=event.source_run_id)
            if event is not None
            else None
        )
        result = pipeline.decide_retraining(day, monitoring)  # None: it measures the models itself
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
