"""Every DAG file imports without errors, quickly, and wires the expected stages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
IMPORT_BUDGET_SECONDS = 2.0


def test_there_are_dag_files():
    assert DAG_FILES, f"no DAG files in {DAGS_DIR}"


def test_dagbag_has_no_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    assert {"bank_daily", "bank_training"} <= set(bag.dag_ids)


# What a dag processor has loaded before it parses a file: Airflow, its plugins
# (Cosmos registers one) and the operator libraries. What is measured is the DAG
# file's own cost: its imports of project code and building its tasks.
PROCESSOR_PRELOAD = (
    "import airflow.sdk, airflow.models, airflow.dag_processing.dagbag\n"
    "import cosmos.airflow.task_group, cosmos.operators.watcher\n"
    "from airflow.sdk import plugins_manager; plugins_manager.integrate_macros_plugins()\n"
)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_fast(dag_file):
    """Import time of the DAG file in a fresh interpreter set up like a dag processor; budget 2 s per file."""
    script = (
        PROCESSOR_PRELOAD + "import time, runpy\n"
        "start = time.perf_counter()\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        "print(time.perf_counter() - start)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    seconds = float(completed.stdout.strip().splitlines()[-1])
    print(f"{dag_file.name} imported in {seconds:.3f}s")
    assert seconds < IMPORT_BUDGET_SECONDS


def _daily_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR)).dags["bank_daily"]


def test_daily_dag_runs_the_stages_in_order():
    dag = _daily_dag()
    order = [
        "build_warehouse",
        "validate_features",
        "publish_features",
        "monitor_models",
        "score_and_target",
        "load_target_lists",
        "report_effectiveness",
    ]
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    # the history slices (a first load) come between the contract check and the day's dbt build
    assert dag.get_task("build_history").upstream_task_ids == {"check_landing"}
    assert dag.get_task("build_history").pool == dag.get_task("load_target_lists").pool  # the warehouse's writer
    producer = dag.get_task("warehouse.dbt_producer_watcher")
    assert producer.upstream_task_ids == {"build_history"}
    # the record of the warehouse stage waits for every dbt task, and takes build_history's return value
    dbt_tasks = {t.task_id for t in dag.tasks if t.task_id.startswith("warehouse.")}
    assert dag.get_task("build_warehouse").upstream_task_ids <= dbt_tasks | {"build_history"}
    assert dag.get_task("build_warehouse").upstream_task_ids & dbt_tasks
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "train_models" not in dag.task_ids  # training is the asset-scheduled DAG's


def test_training_runs_when_the_daily_monitoring_says_new_evidence_arrived():
    """bank_training is scheduled on the asset monitor_models updates, and trains after deciding."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    daily, training = bag.dags["bank_daily"], bag.dags["bank_training"]
    produced = {asset.uri for asset in daily.get_task("monitor_models").outlets}
    assert produced == {"bankmkt://monitoring/models"}
    scheduled_on = {asset.uri for asset in training.timetable.asset_condition.objects}
    assert scheduled_on == produced
    assert training.get_task("train_models").upstream_task_ids == {"decide_retraining"}
    assert training.get_task("train_models").retries == 3
    assert training.max_active_runs == 1


def test_every_dbt_model_is_a_task_with_its_tests_after_it():
    import json

    from bankmkt.settings import get_settings

    manifest = json.loads(get_settings().dbt_manifest_path.read_text())
    models = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "published_outputs" not in node["tags"]
    }
    dag = _daily_dag()
    task_ids = {t.task_id for t in dag.tasks}
    for model in models:
        run_task = next((t for t in task_ids if t.endswith(f".{model}_run") or t.endswith(f"{model}.run")), None)
        assert run_task, f"model {model} has no task"
        tested = [t for t in task_ids if t.startswith(run_task.rsplit(".", 1)[0]) and t.endswith("test")]
        has_tests = any(
            node["resource_type"] == "test" and f"model.bank_marketing.{model}" in node["depends_on"]["nodes"]
            for node in manifest["nodes"].values()
        )
        if has_tests:
            assert tested, f"model {model} has tests but no test task after it"


def test_dag_files_touch_no_database_at_import():
    """A DAG file's top level imports nothing heavy: no dbt, duckdb, feast, mlflow, pandas."""
    script = (
        PROCESSOR_PRELOAD + "import sys, runpy\n"
        "before = set(sys.modules)\n"
        f"runpy.run_path({str(DAGS_DIR / 'bank_daily.py')!r})\n"
        f"runpy.run_path({str(DAGS_DIR / 'bank_training.py')!r})\n"
        "heavy = {'duckdb', 'dbt', 'feast', 'mlflow', 'lightgbm', 'great_expectations'}\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in heavy))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_the_daily_dbt_build_leaves_out_published_outputs_and_unit_tests():
    producer = _daily_dag().get_task("warehouse.dbt_producer_watcher")
    excluded = str(producer.exclude).replace(",", " ").split()
    assert set(excluded) == {"tag:published_outputs", "resource_type:unit_test"}


def test_each_task_runs_the_function_the_command_line_stage_runs():
    """`python -m bankmkt.cli stage NAME` and the DAG task NAME call the same function of bankmkt.pipeline."""
    import inspect

    from airflow.dag_processing.dagbag import DagBag

    from bankmkt.cli import STAGES

    bag = DagBag(dag_folder=str(DAGS_DIR))
    tasks = [
        t
        for dag_id in ("bank_daily", "bank_training")
        for t in bag.dags[dag_id].tasks
        if not t.task_id.startswith("warehouse.")  # the Cosmos tasks: the dbt build build_warehouse runs by hand
    ]
    assert sorted(t.task_id for t in tasks) == sorted(STAGES)
    for task_ in tasks:
        source = inspect.getsource(task_.python_callable)
        assert f"pipeline.{task_.task_id}(" in source, task_.task_id
        assert "runs_dir" not in source and "json" not in source, task_.task_id


def test_the_command_line_trains_what_the_decision_names_as_the_training_dag_does(monkeypatch):
    from datetime import date

    from bankmkt import pipeline
    from bankmkt.cli import run_stage

    calls = []
    monkeypatch.setattr(pipeline, "decide_retraining", lambda day: calls.append(("decide", day)) or {"retrain": ["m"]})
    monkeypatch.setattr(pipeline, "train_models", lambda day, models: calls.append(("train", day, models)) or {})
    run_stage("train_models", date(2024, 3, 5))
    assert calls == [("decide", date(2024, 3, 5)), ("train", date(2024, 3, 5), ["m"])]


def test_the_cosmos_group_renders_the_build_the_warehouse_stage_runs_by_hand():
    from bankmkt.warehouse import DAILY_BUILD_EXCLUDE

    producer = _daily_dag().get_task("warehouse.dbt_producer_watcher")
    assert str(producer.exclude).replace(",", " ").split() == list(DAILY_BUILD_EXCLUDE)


def test_the_cosmos_build_tests_the_days_build_history_says_it_computes():
    """DBT_TESTED_SINCE comes from build_history's return value; without one, every row is tested."""
    from types import SimpleNamespace

    import jinja2

    producer = _daily_dag().get_task("warehouse.dbt_producer_watcher")
    template = jinja2.Environment().from_string(producer.env["DBT_TESTED_SINCE"])
    pulled = []

    def ti(value):
        return SimpleNamespace(xcom_pull=lambda task_ids: pulled.append(task_ids) or value)

    assert template.render(ti=ti({"tested_since": "2024-03-01", "slices": []})) == "2024-03-01"
    assert template.render(ti=ti({"tested_since": None})) == ""
    assert template.render(ti=ti(None)) == ""
    assert set(pulled) == {"build_history"}
    assert producer.env["DBT_RUN_DATE"] == "{{ ds }}"


def test_the_training_run_finds_the_daily_run_that_measured_its_day():
    """The triggering event of the run date first, else the asset's recent events (newest first); the
    event names the bank_daily run whose monitor_models return value holds the day's monitoring."""
    import runpy
    from types import SimpleNamespace

    module = runpy.run_path(str(DAGS_DIR / "bank_training.py"))
    find, monitoring = module["_monitoring_event"], module["MONITORING"]

    def event(day, run_id):
        return SimpleNamespace(
            extra={"run_date": day}, source_dag_id="bank_daily", source_run_id=run_id, source_task_id="monitor_models"
        )

    triggering = {monitoring: [event("2024-03-05", "scheduled_a"), event("2024-03-05", "scheduled_b")]}
    recent = [event("2024-03-06", "manual_c"), event("2024-03-05", "manual_d")]
    assert find("2024-03-05", triggering, recent).source_run_id == "scheduled_b"
    assert find("2024-03-05", {}, recent).source_run_id == "manual_d"
    assert find("2024-03-07", triggering, recent) is None  # no run of that day: the stage measures itself
    assert (
        find(
            "2024-03-05",
            {},
            [
                SimpleNamespace(
                    extra={"run_date": "2024-03-05"}, source_dag_id=None, source_run_id=None, source_task_id=None
                )
            ],
        )
        is None
    )


def test_the_training_run_takes_its_date_from_the_monitoring_event():
    """An asset-triggered run has no logical date: the run date is the one the daily run's event carries."""
    import runpy
    from types import SimpleNamespace

    module = runpy.run_path(str(DAGS_DIR / "bank_training.py"))
    run_date, monitoring = module["_run_date"], module["MONITORING"]
    events = {
        monitoring: [
            SimpleNamespace(extra={"run_date": "2024-03-04"}),
            SimpleNamespace(extra={"run_date": "2024-03-05"}),
        ]
    }
    assert run_date(None, events) == "2024-03-05"  # the latest event when several queued up
    assert run_date("2024-03-09", {}) == "2024-03-09"  # a manual or `dags test` run: its logical date
    with pytest.raises(ValueError, match="no run date"):
        run_date(None, {monitoring: [SimpleNamespace(extra={})]})
