"""One suite on one frame through a GX Checkpoint, read back into a :class:`GateResult`.

GX runs on pandas with result format BASIC (SUMMARY computes unexpected-row
index lists, each of which copies the whole frame), inside
:mod:`bankmkt.gx_compat`'s version-checked workaround for GX's per-row Decimal scan.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from bankmkt import gx_compat
from bankmkt.quality.context import SITE_NAME, data_context, offline_data_docs
from bankmkt.quality.results import GateResult, describe_failure
from bankmkt.quality.suites import FAILURE
from bankmkt.runtime import apply_environment
from bankmkt.settings import Settings, get_settings

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 5}


def validate_frame(
    frame: pd.DataFrame,
    suite_name: str,
    expectations: list,
    run_date: date,
    settings: Settings | None = None,
    context=None,
) -> GateResult:
    """Run a suite on a frame through a Checkpoint, keep the result, update Data Docs.

    Reads the outcome into a :class:`GateResult`: failed failure-level and
    warning-level expectations as readable lines. Raises nothing.
    """
    import great_expectations as gx
    from great_expectations.exceptions import DataContextError

    settings = apply_environment(settings or get_settings())
    context = context or data_context(settings)
    source = context.data_sources.add_or_update_pandas(name="warehouse")
    try:
        asset = source.get_asset(suite_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=suite_name)
    try:
        batch_definition = asset.get_batch_definition("daily")
    except KeyError:
        batch_definition = asset.add_batch_definition_whole_dataframe("daily")
    # Replace the stored suite, validation definition and checkpoint rather than
    # update them: bounds change every run, and GX's add_or_update compares every
    # expectation with every stored one (seconds per run for a large suite).
    for store, name in (
        (context.checkpoints, f"{suite_name}_gate"),
        (context.validation_definitions, f"{suite_name}_daily"),
        (context.suites, suite_name),
    ):
        try:
            store.delete(name)
        except DataContextError:  # first run: nothing stored yet
            pass
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}_daily", data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite_name}_gate",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=[SITE_NAME])],
            result_format=RESULT_FORMAT,
        )
    )
    run_id = gx.RunIdentifier(run_name=f"{suite_name}_{run_date.isoformat()}", run_time=datetime.now(UTC))
    with gx_compat.numeric_columns_skip_decimal_scan():
        outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    result = GateResult(suite=suite_name, run_date=run_date, rows=len(frame), evaluated=0)
    for identifier, validation in outcome.run_results.items():
        for item in validation.results:
            result.evaluated += 1
            if item.success:
                continue
            severity = (item.expectation_config.meta or {}).get("severity", FAILURE)
            line = describe_failure(item)
            (result.failed_failures if severity == FAILURE else result.failed_warnings).append(line)
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_names=[SITE_NAME], only_if_exists=True)
        if urls and urls[0].get("site_url"):
            result.data_docs_page = urls[0]["site_url"].removeprefix("file://")
    index = settings.data_docs_dir / "index.html"
    result.data_docs = str(index) if index.exists() else None
    if index.exists():
        offline_data_docs(settings)
    result.status = "failed" if result.failed_failures else "passed"
    return result
