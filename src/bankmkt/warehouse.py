"""Build the DuckDB warehouse with dbt (dbt is the warehouse's only writer)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from bankmkt.runtime import apply_environment, progress
from bankmkt.settings import Settings, get_settings

# Models that load what the pipeline writes after scoring; built by their own step.
OUTPUT_SELECTOR = "tag:published_outputs"
# dbt unit tests check the SQL's logic on fixed inputs, not the day's data: they run with every
# full-refresh or first build (the first run, Berka, `make test`), not in each daily incremental
# build, as dbt advises for production runs. Data tests run in every build.
UNIT_TEST_SELECTOR = "resource_type:unit_test"
# What D's daily build leaves out, one list for the DAG's Cosmos task group (bankmkt.dbt_tasks)
# and for build_warehouse (the warehouse stage run by hand): the two run the same build.
DAILY_BUILD_EXCLUDE = (OUTPUT_SELECTOR, UNIT_TEST_SELECTOR)
# dbt_project.yml's profile. Every dbt call names it and the target, as Cosmos does: dbt keys
# its partial-parse cache on them, and the DAG's producer and these calls share the cache.
DBT_PROFILE = "bank_marketing"


class WarehouseBuildError(RuntimeError):
    """dbt reported a failed model or test."""


def run_date_environment(run_date: date | str, tested_since: date | str | None = None) -> dict[str, str]:
    """How logical date D reaches dbt (a date, or an Airflow template such as "{{ ds }}").

    An environment variable, so dbt's partial parse survives a new day: `--vars`
    would change dbt's parse state every day and force a full re-parse of the
    project. The project's `run_date()` macro reads DBT_RUN_DATE when a model
    executes (a `--vars "{run_date: ...}"` still overrides it).

    ``tested_since``: the first day the build computes (DBT_TESTED_SINCE; the `tested_since()`
    macro). The data tests of the tables that grow every day check the rows from that day on;
    None (a first or full build) checks every row.
    """
    return {"DBT_RUN_DATE": str(run_date), "DBT_TESTED_SINCE": str(tested_since or "")}


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    target_path: Path | None = None,
    run_date: date | None = None,
    tested_since: date | None = None,
) -> dict:
    """Run dbt in a child process with the platform's environment (and D, if given); raise with the failing nodes.

    ``tested_since`` (with ``run_date``): the first day the build computes, where the data tests
    of the day-by-day tables start (:func:`run_date_environment`).

    A child process, not dbtRunner: dbt-duckdb keeps its connection open for the
    life of the process, and the single-writer lock must be released before the
    next stage opens the warehouse read-only.
    """
    import json
    import os
    import subprocess

    settings = apply_environment(settings or get_settings())
    if args and args[0] in ("build", "run", "test"):  # dbt reads marketing's catalogue as a source
        from bankmkt.campaigns import ensure_catalogue

        ensure_catalogue(settings)
    target = target_path or settings.dbt_target_dir
    command = [
        str(settings.dbt_executable),
        "--no-use-colors",
        *args,
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--profile",
        DBT_PROFILE,
        "--target",
        settings.platform_env,
        "--log-path",
        str(settings.dbt_log_dir),
    ]
    if "--target-path" not in args:
        command += ["--target-path", str(target)]
    results_path = target / "run_results.json"
    results_path.unlink(missing_ok=True)
    env = {**os.environ, **(run_date_environment(run_date, tested_since) if run_date else {})}
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    print(completed.stdout[-20000:], flush=True)  # dbt's own log lines, for the task log
    summary: dict = {"command": " ".join(args), "nodes": {}, "failures": []}
    if results_path.exists():
        for node_result in json.loads(results_path.read_text())["results"]:
            status = node_result["status"]
            summary["nodes"][node_result["unique_id"]] = {
                "status": status,
                "seconds": round(node_result.get("execution_time") or 0.0, 3),
                "rows": (node_result.get("adapter_response") or {}).get("rows_affected"),
            }
            if status in {"error", "fail", "runtime error"}:
                message = " ".join(str(node_result.get("message") or "").split())
                summary["failures"].append(f"{node_result['unique_id']}: {status}: {message[:600]}")
    counts: dict[str, int] = {}
    for node in summary["nodes"].values():
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    summary["status_counts"] = counts
    if completed.returncode != 0:
        errors = [line for line in completed.stdout.splitlines() if "Error" in line or "error" in line]
        reason = "; ".join(summary["failures"]) or " | ".join(errors[-5:]) or completed.stderr[-2000:]
        if "schemas on this incremental model are out of sync" in reason:
            reason = (
                f"the warehouse at {settings.warehouse_path} was built by an older version of the "
                "models (a column was added or removed): rebuild it once with --full-refresh "
                f"(python -m bankmkt.warehouse build --date D --full-refresh). dbt said: {reason}"
            )
        raise WarehouseBuildError(f"dbt {' '.join(args)} failed: {reason}")
    return summary


def build_warehouse(
    run_date: date, full_refresh: bool = False, settings: Settings | None = None, unit_tests: bool | None = None
) -> dict:
    """`dbt build` of staging, intermediate and marts for logical date D (models and their data tests).

    dbt's unit tests run with a full refresh and with the first build of a warehouse
    (``unit_tests`` defaults to that); a daily incremental build leaves them out
    (:data:`DAILY_BUILD_EXCLUDE`, the selection the DAG's Cosmos task group renders).
    A history longer than a slice is first built month by month (:func:`build_history_slices`);
    this build then adds the days from the last slice to D.
    """
    settings = apply_environment(settings or get_settings())
    if unit_tests is None:
        unit_tests = full_refresh or not settings.warehouse_path.exists()
    sliced = build_history_slices(run_date, settings, full_refresh=full_refresh)
    args = ["build", "--exclude", *((OUTPUT_SELECTOR,) if unit_tests else DAILY_BUILD_EXCLUDE)]
    if full_refresh and not sliced["slices"]:
        args.append("--full-refresh")
    since = date.fromisoformat(sliced["tested_since"]) if sliced.get("tested_since") else None
    return {**run_dbt(args, settings, run_date=run_date, tested_since=since), "history_slices": sliced}


# A slice of the history builds the incremental models and everything they read, with their data
# tests; the published outputs (loaded after scoring) and the tables nothing incremental reads
# (training labels, effectiveness, segments) wait for D's own build.
SLICE_SELECTOR = "+config.materialized:incremental"


def features_built_until(settings: Settings) -> tuple[bool, date | None]:
    """Whether the warehouse has ``customer_features``, and the last feature date it holds
    (None: no warehouse, no such table, or no row in it). One read-only connection."""
    import duckdb

    if not settings.warehouse_path.exists():
        return False, None
    with configured(duckdb.connect(str(settings.warehouse_path), read_only=True), settings) as con:
        if not con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = 'customer_features'"
        ).fetchall()[0][0]:
            return False, None
        return True, con.execute("select max(feature_date) from customer_features").fetchall()[0][0]


def first_landed_day(settings: Settings) -> date | None:
    """The earliest day any landing source has a file for."""
    from bankmkt.contract.schema import landed_days, landing_sources

    days = [min(found) for source in landing_sources() if (found := landed_days(settings, source))]
    return min(days) if days else None


def history_slices(run_date: date, settings: Settings, built_until: date | None = None) -> list[date]:
    """The ends of the slices to build before D's own build, oldest first.

    From the first landed day (or the day after ``built_until``), the last day of every
    ``warehouse_slice_months``-th calendar month that ends before D. Empty when the history to
    build fits in one slice, or when slicing is off (``WAREHOUSE_SLICE_MONTHS=0``).
    """
    import calendar

    months = settings.warehouse_slice_months
    start = built_until + timedelta(days=1) if built_until else first_landed_day(settings)
    if months <= 0 or start is None:
        return []
    ends: list[date] = []
    year, month = start.year, start.month
    while True:
        month_index = year * 12 + month - 1 + months - 1
        year, month = divmod(month_index, 12)
        month += 1
        end = date(year, month, calendar.monthrange(year, month)[1])
        if end >= run_date:
            return ends
        ends.append(end)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def build_history_slices(run_date: date, settings: Settings | None = None, full_refresh: bool = False) -> dict:
    """Build the history before D in bounded slices, when there is more than one slice of it to build.

    A first build (no ``customer_features`` yet), a full refresh, or a warehouse whose last feature
    date lies more than a slice before D (days the platform did not run) would otherwise compute
    every day of that history in one dbt run, and dbt's memory follows the days x customers of it
    (14.5 GB for 100,000 customers and 90 days). Each slice is a `dbt build` of the incremental
    models and what they read (:data:`SLICE_SELECTOR`) at the slice's last day: the first one builds
    from the start (or, with ``full_refresh``, rebuilds), each later one adds the days after the
    previous one (the models' ``incremental_start``), as D's own build then does. A failing slice
    raises with its dates; the next run starts again after the last day built.
    """
    import time

    settings = apply_environment(settings or get_settings())
    has_features, built_until = (False, None) if full_refresh else features_built_until(settings)
    if has_features and built_until is None:
        # Built, but no customer yet: nothing to slice, and D's build tests every row.
        return {"built_until_before": None, "slices": [], "tested_since": None}
    ends = history_slices(run_date, settings, built_until)
    before = built_until
    done: list[dict] = []
    step = progress(len(ends), "warehouse history", unit="slice") if ends else None
    for number, end in enumerate(ends, start=1):
        # cautious: only the tests whose every parent is in the slice (not, say, a relationship test
        # from a table the slice does not build to dim_customers).
        args = [
            "build",
            "--select",
            SLICE_SELECTOR,
            "--exclude",
            *DAILY_BUILD_EXCLUDE,
            "--indirect-selection",
            "cautious",
        ]
        if full_refresh and number == 1:
            args.append("--full-refresh")
        # The slice's data tests check the days it computes (the first slice of a new warehouse: all).
        since = built_until + timedelta(days=1) if built_until else None
        started = time.perf_counter()
        try:
            summary = run_dbt(args, settings, run_date=end, tested_since=since)
        except WarehouseBuildError as error:
            raise WarehouseBuildError(
                f"history slice {number}/{len(ends)} (the days up to {end}, before {run_date}'s build): {error}"
            ) from None
        done.append(
            {
                "until": end.isoformat(),
                "seconds": round(time.perf_counter() - started, 1),
                **summary.get("status_counts", {}),
            }
        )
        step(f"slice {number}/{len(ends)}: the days up to {end} built in {done[-1]['seconds']:.0f}s")
        built_until = end
    # D's own build computes the days after the last one built (at most D: a rerun recomputes D),
    # and its data tests check those; a first or full build, every row.
    tested_since = min(built_until + timedelta(days=1), run_date) if built_until else None
    return {
        "built_until_before": before.isoformat() if before else None,
        "slices": done,
        "tested_since": tested_since.isoformat() if tested_since else None,
    }


# Published output -> the files under DATA_DIR/outputs it is loaded from (a model is built only when they exist).
PUBLISHED_OUTPUTS = {
    "fct_target_lists": "target_lists/dt={day}/target_list_*.parquet",
    "fct_model_monitoring": "monitoring/dt=*/model_monitoring.parquet",
    "fct_retraining_decisions": "monitoring/dt=*/retraining_decisions.parquet",
}


def load_published_outputs(run_date: date, settings: Settings | None = None) -> dict:
    """Load what the platform wrote after the build (D's target lists, the model monitoring and
    the retraining decisions, Parquet) into the warehouse: the models whose files exist."""
    settings = settings or get_settings()
    migrate_target_lists(settings)
    models = [
        name
        for name, pattern in PUBLISHED_OUTPUTS.items()
        if any(settings.outputs_dir.glob(pattern.format(day=run_date.isoformat())))
    ]
    if not models:
        return {"status_counts": {}, "models": []}
    return {**run_dbt(["build", "--select", *models], settings, run_date=run_date), "models": models}


def migrate_target_lists(settings: Settings) -> bool:
    """A warehouse whose ``fct_target_lists`` still names customers by number: replace ``customer_id``
    by its pseudonym ``customer_key`` in place (earlier days' lists keep counting for the contact policy).
    Returns whether anything changed."""
    import duckdb

    from bankmkt.pseudonyms import customer_key_sql

    if not settings.warehouse_path.exists():
        return False
    with configured(duckdb.connect(str(settings.warehouse_path)), settings) as con:
        columns = {
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns where table_name = 'fct_target_lists'"
            ).fetchall()
        }
        if "customer_id" not in columns:
            return False
        key, parameters = customer_key_sql("customer_id", settings)
        con.execute("begin")
        con.execute("alter table fct_target_lists add column customer_key varchar")
        con.execute(f"update fct_target_lists set customer_key = {key}", parameters)
        con.execute("alter table fct_target_lists drop column customer_id")
        con.execute("commit")
    return True


def read_only_connection(settings: Settings | None = None, snapshot: bool = False):
    """A read-only DuckDB connection to the warehouse.

    ``snapshot=True``: the published snapshot (:func:`publish_snapshot`), the last validated day,
    which can be read while dbt writes the warehouse (DuckDB locks the file being written, even
    against readers): the training DAG, the feature export, analysts. Until a first snapshot
    exists, the warehouse itself.
    """
    import duckdb

    settings = settings or get_settings()
    path = (
        settings.warehouse_snapshot_path
        if snapshot and settings.warehouse_snapshot_path.exists()
        else settings.warehouse_path
    )
    return configured(duckdb.connect(str(path), read_only=True), settings)


def configured(con, settings: Settings | None = None):
    """``con`` with the platform's DuckDB settings (memory limit, threads, spill folder); returned.

    Set on the open connection rather than passed to ``connect``: DuckDB refuses a second
    connection to a file with a configuration other than the first one's.
    """
    for key, value in (settings or get_settings()).duckdb_config().items():
        con.execute(f"SET {key} = '{str(value).replace(chr(39), chr(39) * 2)}'")
    return con


def publish_snapshot(settings: Settings | None = None) -> dict:
    """Copy the warehouse to its read snapshot, atomically: readers see the previous snapshot or
    this one, never a file being written. Called by the writer's own run between writes (after the
    gate passed, after the published outputs were loaded), so the copy is consistent."""
    import shutil
    import time

    import duckdb

    from bankmkt.runtime import write_atomically

    settings = settings or get_settings()
    start = time.perf_counter()
    if settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal").exists():
        with configured(duckdb.connect(str(settings.warehouse_path)), settings) as con:  # fold the WAL into the file
            con.execute("checkpoint")
    target = settings.warehouse_snapshot_path
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda partial: shutil.copyfile(settings.warehouse_path, partial))
    return {"snapshot": str(target), "bytes": target.stat().st_size, "seconds": round(time.perf_counter() - start, 2)}


def parse_project(settings: Settings | None = None) -> Path:
    """`dbt parse` into dbt_project/target: the manifest Cosmos renders the DAG from (and dbt's partial-parse cache)."""
    settings = settings or get_settings()
    target = settings.dbt_manifest_path.parent
    run_dbt(["parse", "--target-path", str(target)], settings, target_path=target)
    return settings.dbt_manifest_path


def manifest_is_stale(settings: Settings | None = None) -> bool:
    """True when the manifest is missing or older than a file of the dbt project (a model, macro, test or
    YAML edited since `make setup`): Cosmos would render the DAG from the old project, and its test
    tasks would wait for results the new project never produces."""
    settings = settings or get_settings()
    manifest = settings.dbt_manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    project = settings.dbt_project_dir
    sources = [
        project / "dbt_project.yml",
        *(p for d in ("models", "macros", "tests") for p in (project / d).rglob("*")),
    ]
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from bankmkt.runtime import parse_run_date

    parser = argparse.ArgumentParser(prog="python -m bankmkt.warehouse", description="dbt for the warehouse")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("parse", help="build the manifest the DAG is rendered from")
    build = commands.add_parser("build", help="dbt build for one logical date")
    build.add_argument("--date", required=True)
    build.add_argument("--full-refresh", action="store_true")
    commands.add_parser("docs", help="dbt docs generate (catalog and static site in the dbt target folder)")
    args = parser.parse_args(argv)
    if args.command == "parse":
        print(f"manifest: {parse_project()}")
    elif args.command == "build":
        try:
            day = parse_run_date(args.date)
        except ValueError as error:
            parser.error(f"--date: {error}")
        try:
            summary = build_warehouse(day, full_refresh=args.full_refresh)
        except WarehouseBuildError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(summary["status_counts"])
    elif args.command == "docs":
        run_dbt(["docs", "generate", "--static"])
        print(f"docs: {get_settings().dbt_target_dir / 'static_index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
