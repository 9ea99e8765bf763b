"""Build the DuckDB warehouse with dbt (dbt is the warehouse's only writer)."""

from __future__ import annotations

from datetime import date

from bankmkt.runtime import apply_environment
from bankmkt.settings import Settings, get_settings

# Models that load what the pipeline writes after scoring; built by their own step.
OUTPUT_SELECTOR = "tag:published_outputs"


class WarehouseBuildError(RuntimeError):
    """dbt reported a failed model or test."""


def run_dbt(args: list[str], settings: Settings | None = None) -> dict:
    """Invoke dbt in-process with the platform's environment; raise with the failing nodes."""
    from dbt.cli.main import dbtRunner

    settings = apply_environment(settings or get_settings())
    full_args = [
        *args,
        "--project-dir", str(settings.dbt_project_dir),
        "--profiles-dir", str(settings.dbt_project_dir),
        "--target-path", str(settings.dbt_target_dir),
        "--log-path", str(settings.dbt_log_dir),
    ]
    outcome = dbtRunner().invoke(full_args)
    summary = {"command": " ".join(args), "nodes": {}, "failures": []}
    results = getattr(outcome.result, "results", None) or []
    for node_result in results:
        node = node_result.node
        status = str(node_result.status)
        summary["nodes"][node.unique_id] = {
            "status": status,
            "seconds": round(node_result.execution_time or 0.0, 3),
            "rows": (node_result.adapter_response or {}).get("rows_affected"),
        }
        if status in {"error", "fail", "runtime error"}:
            summary["failures"].append(f"{node.unique_id}: {status}: {node_result.message}")
    counts: dict[str, int] = {}
    for node in summary["nodes"].values():
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    summary["status_counts"] = counts
    if not outcome.success:
        reason = "; ".join(summary["failures"]) or str(outcome.exception)
        raise WarehouseBuildError(f"dbt {' '.join(args)} failed: {reason}")
    return summary


def build_warehouse(run_date: date, full_refresh: bool = False, settings: Settings | None = None) -> dict:
    """`dbt build` of staging, intermediate and marts for logical date D (models and their tests)."""
    args = ["build", "--vars", f"{{run_date: '{run_date.isoformat()}'}}", "--exclude", OUTPUT_SELECTOR]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(args, settings)


def load_published_outputs(run_date: date, settings: Settings | None = None) -> dict:
    """Load the day's target lists (written as Parquet by scoring) into the warehouse."""
    args = ["build", "--vars", f"{{run_date: '{run_date.isoformat()}'}}", "--select", OUTPUT_SELECTOR]
    return run_dbt(args, settings)


def read_only_connection(settings: Settings | None = None):
    """A read-only DuckDB connection to the warehouse (readers never take the writer's lock)."""
    import duckdb

    settings = settings or get_settings()
    return duckdb.connect(str(settings.warehouse_path), read_only=True)
