"""Benchmark: the dbt part of a daily run, three ways, on the same warehouse state.

1. direct  - the SQL dbt compiles for day D, executed straight in DuckDB in the
             manifest's dependency order (views, tables, incremental
             delete+insert, every data test as a count query): the floor.
2. dbt     - one `dbt build` command for D (what `make run`'s fallback and the
             Berka build use).
3. cosmos  - the daily DAG's Cosmos task group (watcher mode: one producer
             `dbt build`, one task per model with its tests) run by
             `airflow dags test` on a DAG holding only that group.

Each mode starts from a copy of the same warehouse (history loaded up to D-1),
so every mode does the same incremental work for D. Prints the seconds of each
and the ratios; the target is cosmos <= 1.5 x direct.

    uv run python benchmarks/dbt_modes.py --customers 100000 --days 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

BENCH_DAG = '''
import pendulum
from airflow.sdk import dag
from bankmkt.dbt_tasks import warehouse_task_group

@dag(dag_id="bench_warehouse", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def bench_warehouse():
    warehouse_task_group()

bench_warehouse()
'''


def _restore(snapshot: Path, warehouse: Path) -> None:
    for suffix in ("", ".wal"):
        target = Path(str(warehouse) + suffix)
        target.unlink(missing_ok=True)
        source = Path(str(snapshot) + suffix)
        if source.exists():
            shutil.copyfile(source, target)


def _direct_statements(manifest: dict) -> list[tuple[str, str, list[str]]]:
    """(node id, kind, statements) in dependency order, from compiled code."""
    nodes = {
        uid: node for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test") and "published_outputs" not in node.get("tags", [])
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
            plan.append((uid, "python (not SQL, skipped)", []))
        elif materialized == "view":
            plan.append((uid, "view", [f"create or replace view {relation} as {sql}"]))
        elif materialized == "incremental":
            key = node["config"]["unique_key"]
            keys = ", ".join(key) if isinstance(key, list) else key
            plan.append((uid, "incremental", [
                f"create or replace temp table bench_increment as {sql}",
                f"delete from {relation} where ({keys}) in (select ({keys}) from bench_increment)",
                f"insert into {relation} by name select * from bench_increment",
            ]))
        else:
            plan.append((uid, "table", [f"create or replace table {relation} as {sql}"]))
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", help="reuse a DATA_DIR prepared by an earlier run of this script")
    parser.add_argument("--skip", nargs="*", default=[], choices=["direct", "dbt", "cosmos"])
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
        generate_bank(customers=args.customers, days=args.days, start_date=start, seed=args.seed,
                      data_dir=data_dir, progress=lambda _line: None)
        t = time.perf_counter()
        pipeline.check_landing(day - timedelta(days=1))
        print(f"[setup] contract check of the history: {time.perf_counter() - t:.0f}s", flush=True)
        t = time.perf_counter()
        warehouse.build_warehouse(day - timedelta(days=1), settings=settings)
        figures["setup_full_build_history"] = time.perf_counter() - t
        print(f"[setup] full build up to {day - timedelta(days=1)}: {figures['setup_full_build_history']:.0f}s", flush=True)
        pipeline.check_landing(day)
        shutil.copyfile(settings.warehouse_path, snapshot)

    # The SQL dbt would run for D: compile against the D-1 state (is_incremental() true).
    _restore(snapshot, settings.warehouse_path)
    compile_target = data_dir / "bench_compile"
    warehouse.run_dbt(["compile", "--vars", f"{{run_date: '{day}'}}", "--exclude", warehouse.OUTPUT_SELECTOR],
                      settings, target_path=compile_target)
    plan = _direct_statements(json.loads((compile_target / "manifest.json").read_text()))

    if "direct" not in args.skip:
        import duckdb

        _restore(snapshot, settings.warehouse_path)
        t = time.perf_counter()
        with duckdb.connect(str(settings.warehouse_path)) as con:
            for uid, kind, statements in plan:
                for statement in statements:
                    result = con.execute(statement)
                    if kind == "test" and result.fetchone()[0]:
                        raise SystemExit(f"direct run: test {uid} failed")
        figures["direct_duckdb"] = time.perf_counter() - t
        skipped = [uid for uid, kind, _ in plan if kind.startswith("python")]
        print(f"[direct] {len(plan)} nodes in {figures['direct_duckdb']:.1f}s"
              + (f" (python models not run: {skipped})" if skipped else ""), flush=True)

    if "dbt" not in args.skip:
        _restore(snapshot, settings.warehouse_path)
        t = time.perf_counter()
        warehouse.build_warehouse(day, settings=settings)
        figures["dbt_build"] = time.perf_counter() - t
        print(f"[dbt] one dbt build: {figures['dbt_build']:.1f}s", flush=True)

    if "cosmos" not in args.skip:
        _restore(snapshot, settings.warehouse_path)
        dags = data_dir / "bench_dags"
        dags.mkdir(exist_ok=True)
        (dags / "bench_warehouse.py").write_text(textwrap.dedent(BENCH_DAG))
        env = {**os.environ, **settings.environment(), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
        if not (settings.airflow_home / "airflow.db").exists():
            subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        log = data_dir / "bench_cosmos.log"
        t = time.perf_counter()
        with open(log, "w") as out:
            completed = subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", "bench_warehouse", day.isoformat()],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        figures["cosmos_airflow_dags_test"] = time.perf_counter() - t
        if completed.returncode != 0:
            raise SystemExit(f"cosmos run failed, see {log}")
        print(f"[cosmos] airflow dags test of the task group: {figures['cosmos_airflow_dags_test']:.1f}s", flush=True)

    print("\nResults (seconds):")
    for name, seconds in figures.items():
        print(f"  {name:<28} {seconds:8.1f}")
    if "direct_duckdb" in figures:
        for name in ("dbt_build", "cosmos_airflow_dags_test"):
            if name in figures:
                print(f"  {name} / direct_duckdb = {figures[name] / figures['direct_duckdb']:.2f}")
    (data_dir / "bench_dbt_modes.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
