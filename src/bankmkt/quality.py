"""Great Expectations gate on the marts that leave the warehouse.

Suites run on a pandas frame read through a read-only DuckDB connection (Great
Expectations' SQLAlchemy path on DuckDB has open bugs). Each expectation carries
a severity in its meta: ``failure`` stops the run, ``warning`` only reports.
Results and Data Docs are kept per run under DATA_DIR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from bankmkt.runtime import apply_environment
from bankmkt.settings import Settings, get_settings

FAILURE = "failure"
WARNING = "warning"


class QualityGateFailed(RuntimeError):
    """A failure-level expectation did not hold; nothing may be published."""


@dataclass
class GateResult:
    suite: str
    run_date: date
    rows: int
    evaluated: int
    failed_failures: list[str] = field(default_factory=list)
    failed_warnings: list[str] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def success(self) -> bool:
        return not self.failed_failures

    def as_dict(self) -> dict:
        return {
            "suite": self.suite,
            "run_date": self.run_date.isoformat(),
            "rows": self.rows,
            "expectations": self.evaluated,
            "success": self.success,
            "failed": self.failed_failures,
            "warnings": self.failed_warnings,
            "data_docs": self.data_docs,
        }


def customer_features_expectations() -> list:
    """The suite of the customer feature mart (one day's rows)."""
    import great_expectations as gx

    E = gx.expectations

    def fail(expectation):
        expectation.meta = {"severity": FAILURE}
        return expectation

    def warn(expectation):
        expectation.meta = {"severity": WARNING}
        return expectation

    share_columns = ["spend_share_travel_90d", "spend_share_dining_90d", "spend_share_groceries_90d"]
    flag_columns = [
        "is_female", "has_marketing_consent", "has_credit_card", "has_personal_loan",
        "has_term_deposit", "has_wealth_management", "has_mortgage",
    ]
    complete = ["customer_id", "feature_date", "event_timestamp", "age", "tenure_days",
                "monthly_income", "balance_total", "txn_count_30d", "n_products_held"]
    return [
        fail(E.ExpectTableRowCountToBeBetween(min_value=1)),
        fail(E.ExpectColumnValuesToBeUnique(column="customer_id")),
        *[fail(E.ExpectColumnValuesToNotBeNull(column=c)) for c in complete],
        fail(E.ExpectColumnValuesToBeBetween(column="age", min_value=16, max_value=120)),
        fail(E.ExpectColumnValuesToBeBetween(column="tenure_days", min_value=0)),
        fail(E.ExpectColumnValuesToBeBetween(column="monthly_income", min_value=0)),
        fail(E.ExpectColumnValuesToBeBetween(column="txn_count_30d", min_value=0)),
        fail(E.ExpectColumnValuesToBeBetween(column="days_since_last_txn", min_value=0, max_value=90)),
        *[fail(E.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1)) for c in share_columns],
        *[fail(E.ExpectColumnValuesToBeInSet(column=c, value_set=[0, 1])) for c in flag_columns],
        fail(E.ExpectColumnValuesToBeBetween(column="last_nps", min_value=0, max_value=10)),
        warn(E.ExpectColumnValuesToNotBeNull(column="last_nps", mostly=0.05)),
        warn(E.ExpectColumnMeanToBeBetween(column="has_marketing_consent", min_value=0.2, max_value=1.0)),
        warn(E.ExpectColumnValuesToBeBetween(column="balance_total", min_value=-100_000, max_value=50_000_000, mostly=0.999)),
    ]


def _context(settings: Settings):
    import great_expectations as gx

    settings.gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.gx_dir))
    from great_expectations.data_context.types.base import ProgressBarsConfig

    bars = context.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()  # logs stay readable
    site_name = "platform_reports"
    sites = context.get_site_names()
    if site_name not in sites:
        context.add_data_docs_site(
            site_name=site_name,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(settings.data_docs_dir),
                },
            },
        )
    return context


def validate_frame(frame: pd.DataFrame, suite_name: str, expectations: list, run_date: date,
                   settings: Settings | None = None) -> GateResult:
    """Run a suite on a frame through a Checkpoint, keep the result, rebuild Data Docs."""
    import great_expectations as gx

    settings = apply_environment(settings or get_settings())
    context = _context(settings)
    source = context.data_sources.add_or_update_pandas(name="warehouse")
    try:
        asset = source.get_asset(suite_name)
    except LookupError:
        asset = source.add_dataframe_asset(name=suite_name)
    try:
        batch_definition = asset.get_batch_definition("daily")
    except KeyError:
        batch_definition = asset.add_batch_definition_whole_dataframe("daily")
    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
    suite = context.suites.add_or_update(suite)
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{suite_name}_daily", data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"{suite_name}_gate",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs", site_names=["platform_reports"])],
            result_format={"result_format": "SUMMARY"},
        )
    )
    run_id = gx.RunIdentifier(run_name=f"{suite_name}_{run_date.isoformat()}")
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
    result = GateResult(suite=suite_name, run_date=run_date, rows=len(frame), evaluated=0)
    for validation in outcome.run_results.values():
        for item in validation.results:
            result.evaluated += 1
            if item.success:
                continue
            config = item.expectation_config
            severity = (config.meta or {}).get("severity", FAILURE)
            column = config.kwargs.get("column", "table")
            unexpected = (item.result or {}).get("unexpected_count")
            sample = (item.result or {}).get("partial_unexpected_list", [])[:5]
            observed = (item.result or {}).get("observed_value")
            detail = f"{config.type} on {column}"
            if unexpected is not None:
                detail += f": {unexpected} unexpected rows, e.g. {sample}"
            elif observed is not None:
                detail += f": observed {observed}"
            (result.failed_failures if severity == FAILURE else result.failed_warnings).append(detail)
    index = settings.data_docs_dir / "index.html"
    result.data_docs = str(index) if index.exists() else None
    return result


def gate_customer_features(run_date: date, settings: Settings | None = None) -> GateResult:
    """Validate D's rows of the customer feature mart; raise QualityGateFailed on a failure-level miss."""
    import duckdb

    settings = settings or get_settings()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.execute(
            "select * from customer_features where feature_date = ?", [run_date]
        ).df()
    result = validate_frame(frame, "customer_features", customer_features_expectations(), run_date, settings)
    if not result.success:
        raise QualityGateFailed(
            f"customer_features for {run_date} failed the quality gate "
            f"({len(result.failed_failures)} failure-level expectations): "
            + "; ".join(result.failed_failures)
            + (f". Report: {result.data_docs}" if result.data_docs else "")
        )
    return result
