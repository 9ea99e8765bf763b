"""
### Daily precision-marketing run

One bank day, logical date D, from landing files to campaign target lists:

1. **check_landing**: every landing file of D against the landing contract;
   a bad batch goes to quarantine and the run stops before anything changes.
2. **build_history**: on a first load (or after a long pause), the history
   before D built month by month (`WAREHOUSE_SLICE_MONTHS`), so that dbt's
   memory follows one slice and not the whole history; on other days nothing.
3. **warehouse**: the dbt project as an Astronomer Cosmos task group, one
   task per model with its tests after it, rendered from the prebuilt
   manifest (parsing this file never runs dbt). Cosmos' watcher mode runs a
   single `dbt build` (DuckDB allows one writer) and each model task reports
   its node's outcome; **build_warehouse** then records what the marts hold,
   timed from build_history's end (its return value). The build is the one
   `cli stage build_warehouse` runs by hand (`bankmkt.pipeline.build_warehouse`).
4. **validate_features**: Great Expectations gate on D's customer features.
5. **publish_features**: Parquet export, `feast apply`, materialisation of D.
6. **monitor_models**: every champion on D: feature and prediction drift
   (PSI against the population it was trained on), realised AUC, calibration and
   Qini on the outcomes matured since its training data, new labels. Its asset
   event (extra: the run date) schedules the **bank_training** DAG, which pulls
   this task's return value from the run the event names and decides from it
   whether any model retrains (dags/bank_training.py).
7. **score_and_target**: the champions (MLflow registry aliases) score every
   customer (propensity and uplift), contact policy (the warehouse's
   customer_contact_history and customer_campaign_history), control holdout,
   target lists under DATA_DIR/outputs, ranked by incremental value once every
   product has an uplift champion.
8. **load_target_lists**: the lists and the model monitoring into the warehouse
   (dbt, the only writer).
9. **report_effectiveness**: marketing's morning report (uplift with intervals,
   value, ROI, channels, guardrails, life cycle, model health) under
   DATA_DIR/reports/effectiveness.

Each task calls one function of `bankmkt.pipeline` (the one `python -m bankmkt.cli
stage <task>` runs); results pass as return values (XCom) or through the warehouse,
never through another stage's run record. See docs/pipeline.md.
A task that fails for good raises one alert (`bankmkt.alerts`: DATA_DIR/alerts,
and a webhook or e-mail when configured). Tasks that talk to a store that can
be briefly away (online store, MLflow) retry with exponential back-off; a bad
batch or a failed quality gate does not: retrying cannot fix data.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

from bankmkt.alerts import RETRY_WITH_BACKOFF, PlatformNotifier
from bankmkt.dbt_tasks import WAREHOUSE_WRITER, warehouse_task_group
from bankmkt.settings import get_settings

LANDING = Asset("bankmkt://landing")
WAREHOUSE = Asset("bankmkt://warehouse/marts")
ONLINE_FEATURES = Asset("bankmkt://feast/customer_features")
MONITORING = Asset("bankmkt://monitoring/models")
TARGET_LISTS = Asset("bankmkt://outputs/target_lists")


@dag(
    dag_id="bank_daily",
    schedule=get_settings().daily_dag_schedule,  # DAILY_SCHEDULE; "none": triggered runs only
    # The earliest logical date a run may have: real banks' histories start long before the platform
    # (Berka 1993, a telemarketing extract 2008). catchup=False: the scheduler never replays them.
    start_date=pendulum.datetime(1990, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["bank", "marketing", "daily"],
    default_args={"retries": 0, "on_failure_callback": PlatformNotifier()},
    doc_md=__doc__,
)
def bank_daily():
    @task(inlets=[LANDING])
    def check_landing(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        return pipeline.check_landing(ds)

    @task(**WAREHOUSE_WRITER)
    def build_history(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        # A first load (or a long pause) builds the days before D in monthly slices; else nothing.
        return pipeline.build_history(ds)

    @task(outlets=[WAREHOUSE], **WAREHOUSE_WRITER)
    def build_warehouse(history: dict, ds: str | None = None) -> dict:
        from bankmkt import pipeline

        # The Cosmos task group ran the build, starting when the history slices handed over.
        return pipeline.build_warehouse(ds, dbt_started_at=history["finished_at"])

    @task(**WAREHOUSE_WRITER)  # reads the warehouse as written, then publishes its snapshot
    def validate_features(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        return pipeline.validate_features(ds)

    @task(outlets=[ONLINE_FEATURES], **RETRY_WITH_BACKOFF)
    def publish_features(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        return pipeline.publish_features(ds)

    @task(outlets=[MONITORING], **RETRY_WITH_BACKOFF)
    def monitor_models(ds: str | None = None, outlet_events=None) -> dict:
        from bankmkt import pipeline

        result = pipeline.monitor_models(ds)
        # The training DAG reads the run date from the event (asset-triggered runs have no logical
        # date), and pulls this return value from the run the event names.
        outlet_events[MONITORING].extra = {"run_date": ds}
        return result

    @task
    def score_and_target(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        return pipeline.score_and_target(ds)

    @task(outlets=[TARGET_LISTS], **WAREHOUSE_WRITER)
    def load_target_lists(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        return pipeline.load_target_lists(ds)

    @task
    def report_effectiveness(ds: str | None = None) -> dict:
        from bankmkt import pipeline

        return pipeline.report_effectiveness(ds)

    history = build_history()
    dbt_models = warehouse_task_group()
    (
        check_landing()
        >> history
        >> dbt_models
        >> build_warehouse(history)
        >> validate_features()
        >> publish_features()
        >> monitor_models()
        >> score_and_target()
        >> load_target_lists()
        >> report_effectiveness()
    )


bank_daily()
