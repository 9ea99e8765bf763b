"""The dbt project as Airflow tasks (astronomer-cosmos), shared by the daily DAG and the dbt benchmark."""

from __future__ import annotations

from bankmkt.settings import WAREHOUSE_POOL, get_settings
from bankmkt.warehouse import DAILY_BUILD_EXCLUDE, DBT_PROFILE, run_date_environment

# Task arguments of everything that writes the DuckDB file (one writer per file): the one-slot
# pool keeps two such tasks from overlapping, the queue sends them to the one worker that has the
# warehouse's disk (CeleryExecutor; LocalExecutor ignores queues).
WAREHOUSE_WRITER = {"pool": WAREHOUSE_POOL, "queue": get_settings().warehouse_queue}


def warehouse_task_group(history_task_id: str = "build_history"):
    """The dbt project as Cosmos tasks: one per model, its tests after it.

    The build's data tests check the days it computes: the first one comes from the return value
    of ``history_task_id`` (``tested_since``, see bankmkt.warehouse.build_history_slices); without
    one, every row.

    Watcher mode: a producer task runs one `dbt build` for D in a child process
    (the single DuckDB writer); each model's task reports its node's result. The
    producer is made upstream of every model task so that the run also works
    task by task (`airflow dags test`).
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    settings = get_settings()
    if not settings.dbt_manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest {settings.dbt_manifest_path} is missing: run `make setup` "
            "(or `python -m bankmkt.warehouse parse`) before Airflow parses this DAG"
        )
    group = DbtTaskGroup(
        group_id="warehouse",
        project_config=ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=settings.dbt_manifest_path,
        ),
        profile_config=ProfileConfig(
            profile_name=DBT_PROFILE,
            target_name=settings.platform_env,
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # The daily incremental build, the selection pipeline.build_warehouse runs by hand: no
            # published outputs (their own task), no dbt unit tests (they run with full-refresh
            # builds and in CI, see bankmkt.warehouse).
            exclude=list(DAILY_BUILD_EXCLUDE),
            test_behavior=TestBehavior.AFTER_EACH,
            # No per-model Airflow assets: the DAG announces the warehouse once, after the group
            # (bankmkt://warehouse/marts), and nothing is scheduled on single models. An emitted
            # asset costs each model task API round trips (about 20 ms of a 120 ms task).
            emit_datasets=False,
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(settings.dbt_executable),
        ),
        operator_args={
            # D as an environment variable, not --vars: dbt keeps its partial parse (bankmkt.warehouse).
            "env": {
                **settings.dbt_environment(),
                **run_date_environment(
                    "{{ ds }}",
                    "{{ (ti.xcom_pull(task_ids='" + history_task_id + "') or {}).get('tested_since') or '' }}",
                ),
            },
            "append_env": True,
            "deferrable": False,
            "poke_interval": 1,
        },
    )
    roots = list(group.get_roots())
    producer = next(t for t in roots if t.task_id.endswith("dbt_producer_watcher"))
    producer.pool, producer.queue = WAREHOUSE_WRITER["pool"], WAREHOUSE_WRITER["queue"]
    for task_ in roots:
        if task_ is not producer:
            producer >> task_
    return group
