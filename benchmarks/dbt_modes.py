"""Benchmark: the dbt part of a daily run, three ways, on the same warehouse state.

1. direct  - the SQL dbt compiles for day D, executed straight in DuckDB in the
             manifest's dependency order (views, tables, incremental
             delete+insert, every data test as a count query), and the two
             Python models' own code on the same connection: the floor.
             `direct_sql_only` leaves the Python models out (the older figure).
2. dbt     - one `dbt build` command for D (what `make run`'s fallback and the
             Berka build use).
3. cosmos  - the daily DAG's Cosmos task group (watcher mode: one producer
             `dbt build`, one task per model with its tests) run by
             `airflow dags test` on a DAG holding only that group. The harness
             (the CLI, its in-process execution API, exit) is measured alone on a
             one-task DAG just before and subtracted: `cosmos_less_harness`.

Each mode starts from a copy of the same warehouse (history loaded up to D-1),
so every mode does the same incremental work for D, and each must leave the same
row counts as the direct run. Prints wall seconds, CPU seconds (this process for
direct; the child processes for dbt and cosmos: dbt, Airflow, DuckDB) and the
ratios; the target is cosmos <= 1.5 x direct. Per-node seconds go to
bench_nodes.json and the Cosmos run's phases (from its log) are printed.

    uv run python benchmarks/dbt_modes.py --customers 100000 --days 90   # make bench-dbt (--days 30: a day of the first month)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

BENCH_DAG = """
import pendulum
from airflow.sdk import dag
from bankmkt.dbt_tasks import warehouse_task_group

@dag(dag_id="bench_warehouse", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def bench_warehouse():
    warehouse_task_group()

bench_warehouse()
"""

# The harness alone: the same `airflow dags test` on a DAG of one empty task (CLI start-up, DAG
# parse, run creation, the in-process execution API's start-up, one task, exit).
BENCH_EMPTY_DAG = """
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag

@dag(dag_id="bench_empty", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def bench_empty():
    EmptyOperator(task_id="nothing")

bench_empty()
"""


def _restore(snapshot: Path, warehouse: Path) -> None:
    for suffix in ("", ".wal"):
        target = Path(str(warehouse) + suffix)
        target.unlink(missing_ok=True)
        source = Path(str(snapshot) + suffix)
        if source.exists():
            shutil.copyfile(source, target)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _dags_test(dag_id: str, day: date, env: dict, out) -> tuple[int, float, float]:
    """`airflow dags test` of one DAG in a child process: (exit code, wall seconds, CPU seconds)."""
    t, cpu = time.perf_counter(), _children_cpu()
    completed = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id, day.isoformat()],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    return completed.returncode, time.perf_counter() - t, _children_cpu() - cpu


def _row_counts(warehouse_path: Path, plan: list[tuple[str, str, list[str]]], relations: dict[str, str]) -> dict:
    import duckdb

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return {
            uid: con.execute(f"select count(*) from {relations[uid]}").fetchone()[0]
            for uid, kind, _ in plan
            if kind != "test"
        }


def _run_python_model(con, uid: str, node: dict, relation: str) -> None:
    """A Python model's compiled code run as dbt-duckdb runs it: model(dbt, con), result stored as a table."""
    import types

    module = types.ModuleType(node["alias"])
    exec(compile(node["compiled_code"], uid, "exec"), module.__dict__)
    frame = module.model(module.dbtObj(lambda name: con.query(f"select * from {name}")), con)
    con.register("bench_python_model", frame)
    con.execute(f"create or replace table {relation} as select * from bench_python_model")
    con.unregister("bench_python_model")


# Phases of `airflow dags test` read from its log: (name, pattern of the line that ends it).
COSMOS_PHASES = [
    ("airflow start-up, DAG parse, run created", r"\[DAG TEST\] starting task_id=\S*dbt_producer_watcher "),
    # The first task's first call builds the in-process execution API (a deployed Airflow's
    # API server does this once when it starts, not per run).
    ("execution API start-up (in-process)", r"Task started "),
    ("producer task start-up", r"Running command: "),
    ("dbt start-up", r"Running with dbt="),
    ("dbt parse", r"Found \d+ models"),
    ("dbt build (nodes)", r"Finished running "),
    ("producer wrap-up", r"\[DAG TEST\] end task task_id=\S*dbt_producer_watcher "),
    ("model and test tasks", r"DagRun Finished"),
]


def _cosmos_phases(log: Path, started: float, finished: float) -> list[tuple[str, float]]:
    """Seconds of each phase of COSMOS_PHASES, then the process's exit after the run finished."""
    from datetime import datetime

    stamps, pending = {}, list(COSMOS_PHASES)
    for line in log.read_text(errors="replace").splitlines():
        if pending and re.search(pending[0][1], line) and re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z", line):
            stamps[pending.pop(0)[0]] = datetime.fromisoformat(line[:26]).timestamp()
    phases, previous = [], started
    for name, _ in COSMOS_PHASES:
        if name in stamps:
            phases.append((name, stamps[name] - previous))
            previous = stamps[name]
    phases.append(("process exit", finished - previous))
    return phases


def _direct_statements(manifest: dict) -> list[tuple[str, str, list[str]]]:
    """(node id, kind, statements) in dependency order, from compiled code."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test")
        and "published_outputs" not in node.get("tags", [])
        and node.get("compiled_code")
    }
    order, seen = [], set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in nodes:
            return
        seen.add(uid)
        for parent in nodes[uid]["depends_on"]["nodes"]:
            visit(parent)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    plan = []
    for uid in order:
        node = nodes[uid]
        sql = node["compiled_code"]
        if node["resource_type"] == "test":
            plan.append((uid, "test", [f"select count(*) from ({sql}) as failures"]))
            continue
        relation = f'"{node["schema"]}"."{node["alias"]}"'
        materialized = node["config"]["materialized"]
        if node.get("language") == "python":
            plan.append((uid, "python", []))
        elif materialized == "view":
            plan.append((uid, "view", [f"create or replace view {relation} as {sql}"]))
        elif materialized == "incremental":
            key = node["config"]["unique_key"]
            keys = ", ".join(key) if isinstance(key, list) else key
            plan.append(
                (
                    uid,
                    "incremental",
                    [
                        f"create or replace temp table bench_increment as {sql}",
                        f"delete from {relation} where ({keys}) in (select ({keys}) from bench_increment)",
                        f"insert into {relation} by name select * from bench_increment",
                    ],
                )
            )
        else:
            plan.append((uid, "table", [f"create or replace table {relation} as {sql}"]))
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", help="reuse a DATA_DIR prepared by an earlier run of this script")
    parser.add_argument("--skip", nargs="*", default=[], choices=["direct", "dbt", "cosmos"])
    parser.add_argument("--label", default="", help="suffix for the JSON files written (e.g. before, after)")
    args = parser.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-dbt-"))
    os.environ["DATA_DIR"] = str(data_dir)
    from bankmkt import pipeline, warehouse
    from bankmkt.runtime import apply_environment

    settings = apply_environment()
    start = date(2024, 1, 1)
    day = start + timedelta(days=args.days - 1)
    snapshot = data_dir / "bench_snapshot.duckdb"
    figures: dict[str, float] = {}

    if not snapshot.exists():
        from bankmkt.generator import generate_bank

        print(f"[setup] {args.customers} customers x {args.days} days in {data_dir}", flush=True)
        generate_bank(
            customers=args.customers,
            days=args.days,
            start_date=start,
            seed=args.seed,
            data_dir=data_dir,
            progress=lambda _line: None,
        )
        t = time.perf_counter()
        pipeline.check_landing(day - timedelta(days=1))
        print(f"[setup] contract check of the history: {time.perf_counter() - t:.0f}s", flush=True)
        t = time.perf_counter()
        warehouse.build_warehouse(day - timedelta(days=1), settings=settings)
        figures["setup_full_build_history"] = time.perf_counter() - t
        print(
            f"[setup] full build up to {day - timedelta(days=1)}: {figures['setup_full_build_history']:.0f}s",
            flush=True,
        )
        pipeline.check_landing(day)
        shutil.copyfile(settings.warehouse_path, snapshot)

    # The SQL dbt would run for D: compile against the D-1 state (is_incremental() true).
    _restore(snapshot, settings.warehouse_path)
    compile_target = data_dir / "bench_compile"
    warehouse.run_dbt(
        ["compile", "--vars", f"{{run_date: '{day}'}}", "--exclude", warehouse.OUTPUT_SELECTOR],
        settings,
        target_path=compile_target,
    )
    manifest = json.loads((compile_target / "manifest.json").read_text())
    plan = _direct_statements(manifest)
    relations = {
        uid: f'"{manifest["nodes"][uid]["schema"]}"."{manifest["nodes"][uid]["alias"]}"'
        for uid, kind, _ in plan
        if kind != "test"
    }
    label = f"_{args.label}" if args.label else ""
    node_seconds: dict[str, dict[str, float]] = {}
    counts: dict[str, dict] = {}

    def as_after_yesterdays_run() -> None:
        """Leave dbt's target folder as the previous day's run leaves it (its partial-parse cache)."""
        warehouse.run_dbt(["parse"], settings, run_date=day - timedelta(days=1))

    def keep_dbt_results(mode: str) -> None:
        results = json.loads((settings.dbt_target_dir / "run_results.json").read_text())["results"]
        node_seconds[mode] = {r["unique_id"]: round(r.get("execution_time") or 0.0, 3) for r in results}

    if "direct" not in args.skip:
        import duckdb

        _restore(snapshot, settings.warehouse_path)
        node_seconds["direct"] = {}
        t, cpu = time.perf_counter(), time.process_time()
        with duckdb.connect(str(settings.warehouse_path)) as con:
            for uid, kind, statements in plan:
                node_start = time.perf_counter()
                if kind == "python":
                    _run_python_model(con, uid, manifest["nodes"][uid], relations[uid])
                for statement in statements:
                    result = con.execute(statement)
                    if kind == "test" and result.fetchone()[0]:
                        raise SystemExit(f"direct run: test {uid} failed")
                node_seconds["direct"][uid] = round(time.perf_counter() - node_start, 3)
        figures["direct_duckdb"] = time.perf_counter() - t
        figures["direct_duckdb_cpu"] = time.process_time() - cpu
        python_seconds = sum(
            s
            for uid, s in node_seconds["direct"].items()
            if uid in relations and manifest["nodes"][uid].get("language") == "python"
        )
        figures["direct_sql_only"] = figures["direct_duckdb"] - python_seconds
        counts["direct"] = _row_counts(settings.warehouse_path, plan, relations)
        print(
            f"[direct] {len(plan)} nodes in {figures['direct_duckdb']:.1f}s "
            f"({figures['direct_duckdb_cpu']:.1f}s CPU), of which the Python models {python_seconds:.1f}s",
            flush=True,
        )

    if "dbt" not in args.skip:
        _restore(snapshot, settings.warehouse_path)
        as_after_yesterdays_run()
        t, cpu = time.perf_counter(), _children_cpu()
        warehouse.build_warehouse(day, settings=settings)
        figures["dbt_build"] = time.perf_counter() - t
        figures["dbt_build_cpu"] = _children_cpu() - cpu
        keep_dbt_results("dbt")
        counts["dbt"] = _row_counts(settings.warehouse_path, plan, relations)
        print(f"[dbt] one dbt build: {figures['dbt_build']:.1f}s ({figures['dbt_build_cpu']:.1f}s CPU)", flush=True)

    if "cosmos" not in args.skip:
        _restore(snapshot, settings.warehouse_path)
        dags = data_dir / "bench_dags"
        dags.mkdir(exist_ok=True)
        (dags / "bench_warehouse.py").write_text(textwrap.dedent(BENCH_DAG))
        env = {**os.environ, **settings.environment(), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
        if not (settings.airflow_home / "airflow.db").exists():
            subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        (dags / "bench_empty.py").write_text(textwrap.dedent(BENCH_EMPTY_DAG))
        returncode, figures["harness_empty_dag"], figures["harness_empty_dag_cpu"] = _dags_test(
            "bench_empty", day, env, subprocess.DEVNULL
        )
        if returncode != 0:
            raise SystemExit("the empty DAG's run failed")
        print(
            f"[harness] airflow dags test of a one-task DAG: {figures['harness_empty_dag']:.1f}s "
            f"({figures['harness_empty_dag_cpu']:.1f}s CPU)",
            flush=True,
        )
        log = data_dir / f"bench_cosmos{label}.log"
        as_after_yesterdays_run()
        started = time.time()
        with open(log, "w") as out:
            returncode, figures["cosmos_airflow_dags_test"], figures["cosmos_airflow_dags_test_cpu"] = _dags_test(
                "bench_warehouse", day, env, out
            )
        finished = time.time()
        if returncode != 0 or "DagRun Finished" not in log.read_text(errors="replace"):
            raise SystemExit(f"cosmos run failed, see {log}")
        keep_dbt_results("cosmos")
        counts["cosmos"] = _row_counts(settings.warehouse_path, plan, relations)
        print(
            f"[cosmos] airflow dags test of the task group: {figures['cosmos_airflow_dags_test']:.1f}s "
            f"({figures['cosmos_airflow_dags_test_cpu']:.1f}s CPU)",
            flush=True,
        )
        phases = _cosmos_phases(log, started, finished)
        for name, seconds in phases:
            print(f"  {name:<40} {seconds:6.1f}s", flush=True)
        # The task group's own span, from the producer task's start to the run's end: what a
        # running Airflow pays per day (the CLI's start-up and exit, and the in-process API's start-up, are the harness's).
        harness = {COSMOS_PHASES[0][0], COSMOS_PHASES[1][0], "process exit"}
        figures["cosmos_task_group"] = sum(seconds for name, seconds in phases if name not in harness)
        # The same, measured rather than read from the log: the run less the empty DAG's run.
        figures["cosmos_less_harness"] = figures["cosmos_airflow_dags_test"] - figures["harness_empty_dag"]
        figures["cosmos_less_harness_cpu"] = figures["cosmos_airflow_dags_test_cpu"] - figures["harness_empty_dag_cpu"]

    for mode, mode_counts in counts.items():
        if "direct" in counts and mode_counts != counts["direct"]:
            differing = [uid for uid in mode_counts if mode_counts[uid] != counts["direct"].get(uid)]
            raise SystemExit(f"{mode} left other row counts than the direct run: {differing}")
    print("\nResults (seconds):")
    for name, seconds in figures.items():
        print(f"  {name:<32} {seconds:8.1f}")
    if "direct_duckdb" in figures:
        for name in ("dbt_build", "cosmos_airflow_dags_test", "cosmos_task_group", "cosmos_less_harness"):
            if name in figures:
                print(
                    f"  {name} / direct_duckdb = {figures[name] / figures['direct_duckdb']:.2f}"
                    f" (/ direct_sql_only = {figures[name] / figures['direct_sql_only']:.2f})"
                )
        for name in ("dbt_build_cpu", "cosmos_airflow_dags_test_cpu", "cosmos_less_harness_cpu"):
            if name in figures:
                print(f"  {name} / direct_duckdb_cpu = {figures[name] / figures['direct_duckdb_cpu']:.2f}")
        print(f"  load average now {os.getloadavg()[0]:.1f}")
    (data_dir / f"bench_dbt_modes{label}.json").write_text(json.dumps(figures, indent=2))
    (data_dir / f"bench_nodes{label}.json").write_text(json.dumps(node_seconds, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
