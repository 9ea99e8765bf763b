"""The gate: validate a published data set for run date D, record its profile and summary, stop the run
on a failure-level miss."""

from __future__ import annotations

import json
import time
from datetime import date

import pandas as pd

from bankmkt.quality.context import data_context
from bankmkt.quality.drift import (
    drift_expectations,
    previous_profile,
    profile_frame,
    profile_path,
    same_run_expectations,
)
from bankmkt.quality.reads import MartMissing, needed_columns, prepared_frame, read_target_lists, read_warehouse
from bankmkt.quality.results import GateReport, GateResult, QualityGateFailed
from bankmkt.quality.suites import GATED_MARTS, SUITES, TARGET_LISTS
from bankmkt.quality.summary import write_summary
from bankmkt.quality.validation import validate_frame
from bankmkt.runtime import apply_environment, write_atomically
from bankmkt.settings import Settings, get_settings


def run_gate(
    mart: str, run_date: date, settings: Settings | None = None, *, frame: pd.DataFrame | None = None, context=None
) -> GateResult:
    """Validate one published data set for run date D and record the outcome; raises nothing.

    ``mart`` is a warehouse mart of :data:`GATED_MARTS` or ``target_lists``;
    ``frame`` validates rows not written yet (e.g. target lists before they are
    saved). A mart not in the warehouse yet is skipped with a note when it is
    optional and failed when it is required. The run's profile, summary and Data
    Docs page are written either way.
    """
    settings = apply_environment(settings or get_settings())
    suite = SUITES[mart]
    started = time.perf_counter()
    expectations = suite.expectations(run_date, settings)
    columns = needed_columns(expectations, mart)
    try:
        if frame is not None:
            frame = prepared_frame(frame, columns, f"the {mart} rows")
        elif mart == TARGET_LISTS:
            frame = read_target_lists(columns, run_date, settings)
        else:
            frame = read_warehouse(suite.reads, columns, suite.date_column, run_date, settings)
    except MartMissing as missing:
        status = "failed" if suite.required else "skipped"
        result = GateResult(suite=mart, run_date=run_date, rows=0, evaluated=0, status=status, note=str(missing))
        if suite.required:
            result.failed_failures.append(str(missing))
        result.summary = str(write_summary(run_date, [result], settings))
        return result
    read = time.perf_counter()

    previous = previous_profile(mart, run_date, settings)
    expectations += drift_expectations(mart, previous)
    expectations += same_run_expectations(suite, run_date, settings)
    result = validate_frame(frame, mart, expectations, run_date, settings, context=context)
    validated = time.perf_counter()

    profile = profile_frame(mart, frame, run_date)
    profile["passed"] = result.success
    profile["previous_run"] = previous["run_date"] if previous else None
    path = profile_path(settings, mart, run_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(profile, indent=2) + "\n"
    write_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))
    result.profile = str(path)
    result.previous_run = profile["previous_run"]
    if previous is None:
        result.note = "first run: no previous profile, comparisons start with the next run"
    result.seconds = {"read": round(read - started, 2), "validate": round(validated - read, 2)}
    result.summary = str(write_summary(run_date, [result], settings))
    return result


def raise_if_failed(run_date: date, results: list[GateResult]) -> None:
    failed = [r for r in results if not r.success]
    if not failed:
        return
    summary = next((r.summary for r in results if r.summary), None)
    lines = [f"quality gate failed for {run_date}:"]
    for result in failed:
        lines.append(result.message())
        if result.data_docs_page:
            lines.append(f"  Data Docs: {result.data_docs_page}")
    if summary:
        lines.append(f"report: {summary}")
    raise QualityGateFailed("\n".join(lines))


def gate_customer_features(run_date: date, settings: Settings | None = None) -> GateResult:
    """Validate D's rows of the customer feature mart; raise QualityGateFailed on a failure-level miss."""
    result = run_gate("customer_features", run_date, settings)
    raise_if_failed(run_date, [result])
    return result


def gate_marts(run_date: date, settings: Settings | None = None, marts: tuple[str, ...] = GATED_MARTS) -> GateReport:
    """Validate every gated mart for D (a missing optional mart is skipped with a note).

    All suites run, then :class:`QualityGateFailed` is raised when any failed,
    so one report lists everything wrong with the run.
    """
    settings = apply_environment(settings or get_settings())
    context = data_context(settings)
    results = {mart: run_gate(mart, run_date, settings, context=context) for mart in marts}
    for result in results.values():
        if result.status == "skipped":
            print(f"[quality] {result.suite} skipped: {result.note}", flush=True)
    raise_if_failed(run_date, list(results.values()))
    report = GateReport(run_date, results, summary=next((r.summary for r in results.values() if r.summary), None))
    return report


def gate_target_lists(
    run_date: date, settings: Settings | None = None, frame: pd.DataFrame | None = None
) -> GateResult:
    """Validate D's target lists (``frame`` before they are written, else the written Parquet files).

    Raises QualityGateFailed on a failure-level miss; no lists for D is a skip with a note.
    """
    result = run_gate(TARGET_LISTS, run_date, settings, frame=frame)
    raise_if_failed(run_date, [result])
    return result
