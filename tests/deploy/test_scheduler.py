"""The production profile under its scheduler: real services on this machine's PostgreSQL and Redis.

`bankmkt.deploy init` migrates Airflow and MLflow, each in a database of its own (named for this
test), creates the admin and the warehouse pool. The MLflow server (basic auth), the Airflow
api-server (FAB users), dag-processor, scheduler, triggerer and two Celery workers (Redis broker,
results in PostgreSQL; only the first takes the warehouse queue) run as processes through the
same entry point as docker-compose.yml. One bank day is triggered through the REST API; its
monitoring asset schedules the training DAG. The checks read what the day left: the warehouse
snapshot, the Redis online store through the Feast SDK, the champions on the MLflow server,
the target lists. The databases and the Redis databases are dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from bankmkt.settings import WAREHOUSE_POOL

pytestmark = [pytest.mark.scheduler, pytest.mark.needs_postgres, pytest.mark.needs_redis]

START = date(2024, 1, 1)
DAYS = 45
DAY = START + timedelta(days=DAYS - 1)
CUSTOMERS = 400
REDIS_ONLINE_DB, REDIS_BROKER_DB = 4, 5


@contextmanager
def environment_of(settings):
    """The process environment of ``settings`` (Feast and MLflow read it), restored afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.environment().items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def stack(postgres_server, redis_server, tmp_path_factory):
    from bankmkt.generator import generate_bank
    from bankmkt.stack import ServiceStack, drop_databases, trial_environment

    data_dir = tmp_path_factory.mktemp("prod-stack")
    generate_bank(customers=CUSTOMERS, days=DAYS, start_date=START, seed=7, data_dir=data_dir, contact_rate=0.15)
    prefix = f"bankmkt_ci_{os.getpid()}"
    host = redis_server.split(":")[0]
    env = trial_environment(
        data_dir,
        prefix,
        redis=redis_server,
        online_db=REDIS_ONLINE_DB,
        broker_db=REDIS_BROKER_DB,
        postgres_url=postgres_server.rsplit("/", 1)[0] + "/postgres",
        TARGET_LIST_SIZE="20",
    )
    stack = ServiceStack(env, data_dir / "service-logs", celery_workers=2, worker_concurrency=2)
    try:
        stack.start()
        daily_id = stack.trigger("bank_daily", DAY)
        daily = stack.wait_for_run("bank_daily", daily_id, timeout=900)
        training = stack.wait_for_triggered_run("bank_training", timeout=900) if daily["state"] == "success" else None
        yield {"stack": stack, "settings": stack.settings, "daily": daily, "daily_id": daily_id, "training": training}
    finally:
        stack.stop()
        import redis

        for db in (REDIS_ONLINE_DB, REDIS_BROKER_DB):
            redis.Redis(host=host, port=int(redis_server.split(":")[1]), db=db).flushdb()
        drop_databases(stack.settings)


def test_the_daily_run_and_the_training_it_schedules_succeed(stack):
    service = stack["stack"]
    assert stack["daily"]["state"] == "success", (
        f"failed tasks: {service.failed_tasks('bank_daily', stack['daily_id'])}; logs in {service.log_dir}"
    )
    training = stack["training"]
    assert training["state"] == "success" and training["run_type"] == "asset_triggered"
    print(
        f"scheduler-driven day: bank_daily {service.seconds(stack['daily']):.0f}s, "
        f"bank_training {service.seconds(training):.0f}s"
    )


def test_warehouse_writers_share_one_slot_and_queue_the_rest_spread(stack):
    service, settings = stack["stack"], stack["settings"]
    tasks = {t["task_id"]: t for t in service.task_instances("bank_daily", stack["daily_id"])}
    writers = {
        "build_history",
        "warehouse.dbt_producer_watcher",
        "build_warehouse",
        "validate_features",
        "load_target_lists",
    }
    for task_id in writers:
        assert (tasks[task_id]["pool"], tasks[task_id]["queue"]) == (WAREHOUSE_POOL, settings.warehouse_queue)
    others = [t for name, t in tasks.items() if name not in writers]
    assert others and all(t["queue"] == "default" and t["pool"] == "default_pool" for t in others)


def test_readers_see_the_published_snapshot(stack):
    settings = stack["settings"]
    with duckdb.connect(str(settings.warehouse_snapshot_path), read_only=True) as con:
        features = con.execute("select count(*) from customer_features where feature_date = ?", [DAY]).fetchall()[0][0]
        listed = con.execute("select count(*) from fct_target_lists where run_date = ?", [DAY]).fetchall()[0][0]
    assert features > 0 and listed > 0


def test_features_are_online_in_redis(stack):
    from bankmkt import features

    settings = stack["settings"]
    exported = pd.read_parquet(settings.feature_export_file(DAY)).set_index("customer_id").sort_index()
    customers = list(exported.index[:25])
    with environment_of(settings):
        served = features.online_features(customers, settings).set_index("customer_id").sort_index()
    assert settings.feature_store_yaml.name == "feature_store.prod.yaml"
    columns = [c for c in served.columns if c in exported.columns and pd.api.types.is_numeric_dtype(exported[c])]
    assert len(columns) > 10
    pd.testing.assert_frame_equal(
        served[columns].astype("float64"), exported.loc[customers, columns].astype("float64"), check_names=False
    )
    publish = __import__("json").loads((settings.runs_dir / f"dt={DAY}" / "publish_features.json").read_text())
    assert publish["result"]["online_store"].startswith("redis://")


def test_the_mlflow_server_holds_champions_and_wants_credentials(stack):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    settings = stack["settings"]
    with environment_of(settings):
        models = {m.name: m.aliases for m in MlflowClient(settings.mlflow_server_uri).search_registered_models()}
        assert any(name.startswith("propensity_") and "champion" in aliases for name, aliases in models.items())
        os.environ.pop("MLFLOW_TRACKING_PASSWORD")
        with pytest.raises(MlflowException, match="401"):
            MlflowClient(settings.mlflow_server_uri).search_registered_models()


def test_target_lists_are_published(stack):
    settings = stack["settings"]
    lists = sorted(settings.target_list_dir(DAY).glob("target_list_*.parquet"))
    assert lists
    frame = pd.concat(pd.read_parquet(path) for path in lists)
    assert len(frame) > 0 and frame["customer_key"].is_unique and "customer_id" not in frame


def test_the_api_wants_a_user_and_respects_roles(stack):
    from bankmkt.stack import StackError

    service = stack["stack"]
    with pytest.raises(StackError, match="401"):
        service.token("admin", "not-the-password")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "users",
            "create",
            "--username",
            "analyst",
            "--role",
            "Viewer",
            "--password",
            "analyst-pw-1",
            "--firstname",
            "A",
            "--lastname",
            "Nalyst",
            "--email",
            "analyst@bankmkt.invalid",
        ],
        env=service._environment(),
        check=True,
        capture_output=True,
    )
    viewer = service.token("analyst", "analyst-pw-1")
    service._token, admin = viewer, service._token
    try:
        assert service.runs("bank_daily")  # a viewer reads
        with pytest.raises(StackError, match="403"):
            service.trigger("bank_daily", DAY + timedelta(days=1))  # but does not run DAGs
    finally:
        service._token = admin


def test_init_again_changes_nothing(stack):
    output = stack["stack"].init()
    assert "all present" in output and "admin 'admin' updated" in output
