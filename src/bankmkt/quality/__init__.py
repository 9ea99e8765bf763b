"""Great Expectations gate on the marts that leave the warehouse.

Four suites, one per published data set: ``customer_features`` (the run date's
rows), ``customer_segments`` (the run date's rows), ``training_labels`` (the
whole mart) and ``target_lists`` (the Parquet lists scoring wrote for the run
date). Each suite holds

* static expectations: completeness, keys, ranges, allowed values, freshness
  (the mart's newest date is the run date);
* comparisons with the previous passed run, turned into expectations with
  computed bounds (row count within +-X %, mean within k previous standard
  deviations, share of a value within +-p points). The bounds come from the
  small profile each run leaves at ``reports/quality/dt=D/<suite>.profile.json``.

Every expectation carries a severity (``meta.severity`` and GX's own
``severity``): ``failure`` stops the run, ``warning`` is reported only. Each
suite runs through a ValidationDefinition and a Checkpoint whose
UpdateDataDocsAction renders the result under ``reports/data_docs``; the GX file
context under ``gx/`` keeps every run's result, and
``reports/quality/dt=D/summary.{json,html}`` lists the run's suites with links to
their Data Docs pages. docs/quality.md has the table of checks.

Speed (docs/quality.md, benchmarks/gx_validation.py): GX runs on pandas (its
SQLAlchemy path on DuckDB has open bugs) over only the columns a suite names,
with integer columns widened to int64 (GX's pandas range check falls back to a
per-row Python function on int32) and result format BASIC (SUMMARY computes
unexpected-row index lists, each of which copies the whole frame); the
validation runs inside :mod:`bankmkt.gx_compat`'s version-checked workaround
for GX's per-row Decimal scan.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pandas as pd

from bankmkt import gx_compat
from bankmkt.runtime import apply_environment, write_atomically
from bankmkt.settings import Settings, get_settings

log = logging.getLogger(__name__)

FAILURE = "failure"
WARNING = "warning"

# Marts of the warehouse the gate knows, in the order gate_marts runs them.
GATED_MARTS = ("customer_features", "customer_segments", "training_labels")
TARGET_LISTS = "target_lists"

LIFECYCLE_STAGES = ("new", "growing", "mature", "declining", "dormant", "churned")
VALUE_TIERS = ("platinum", "gold", "silver", "bronze")

SITE_NAME = "platform_reports"
# The Data Docs index lists this many newest results (older pages stay on disk
# and are linked from each run's summary); rebuilding it reads each listed result.
INDEX_RESULTS = 200
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 5}


class QualityGateFailed(RuntimeError):
    """A failure-level expectation did not hold; nothing may be published."""


@dataclass
class GateResult:
    """The outcome of one suite on one run date."""

    suite: str
    run_date: date
    rows: int
    evaluated: int
    failed_failures: list[str] = field(default_factory=list)
    failed_warnings: list[str] = field(default_factory=list)
    data_docs: str | None = None  # the Data Docs index
    status: str = "passed"  # passed | failed | skipped
    note: str | None = None
    data_docs_page: str | None = None  # this run's validation page
    previous_run: str | None = None
    profile: str | None = None
    summary: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status != "failed"

    def as_dict(self) -> dict:
        return {
            "suite": self.suite,
            "run_date": self.run_date.isoformat(),
            "status": self.status,
            "rows": self.rows,
            "expectations": self.evaluated,
            "success": self.success,
            "failed": self.failed_failures,
            "warnings": self.failed_warnings,
            "data_docs": self.data_docs,
            "data_docs_page": self.data_docs_page,
            "previous_run": self.previous_run,
            "profile": self.profile,
            "summary": self.summary,
            "note": self.note,
            "seconds": self.seconds,
            **({"reason": self.note} if self.status == "skipped" else {}),
        }

    def message(self) -> str:
        """What a user reads when the suite failed: one line per failed failure-level expectation."""
        if not self.evaluated:  # the data set could not be read (a required mart is missing)
            return f"{self.suite}: not validated: {self.note}"
        lines = [f"{self.suite}: {len(self.failed_failures)} failure-level expectation(s) failed"]
        lines += [f"  - {line}" for line in self.failed_failures]
        return "\n".join(lines)


@dataclass
class GateReport:
    """The outcome of several suites on one run date (what a pipeline stage records)."""

    run_date: date
    results: dict[str, GateResult]
    summary: str | None = None

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results.values())

    def as_dict(self) -> dict:
        ran = [r for r in self.results.values() if r.status != "skipped"]
        return {
            "run_date": self.run_date.isoformat(),
            "success": self.success,
            "expectations": sum(r.evaluated for r in ran),
            "rows": sum(r.rows for r in ran),
            "failed": [f"{r.suite}: {line}" for r in ran for line in r.failed_failures],
            "warnings": [f"{r.suite}: {line}" for r in ran for line in r.failed_warnings],
            "skipped": {r.suite: r.note for r in self.results.values() if r.status == "skipped"},
            "data_docs": next((r.data_docs for r in ran if r.data_docs), None),
            "summary": self.summary,
            "marts": {name: r.as_dict() for name, r in self.results.items()},
        }


# ---- expectations ---------------------------------------------------------------


def _expectations():
    import great_expectations as gx

    return gx.expectations


def _severe(expectation, level: str, **meta):
    """Tag an expectation with its severity (ours in meta, GX's own field, and a note Data Docs shows)."""
    from great_expectations.expectations.metadata_types import FailureSeverity

    expectation.meta = {"severity": level, **meta}
    expectation.severity = FailureSeverity.CRITICAL if level == FAILURE else FailureSeverity.WARNING
    consequence = "stops the run" if level == FAILURE else "reported only"
    notes = [f"**{level}** level: {consequence}."]
    notes += [f"{meta[key]}." for key in ("check", "comparison") if meta.get(key)]
    expectation.notes = " ".join(notes)
    return expectation


def fail(expectation, **meta):
    return _severe(expectation, FAILURE, **meta)


def warn(expectation, **meta):
    return _severe(expectation, WARNING, **meta)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, clock_time.min)


def _contract_column(source: str, column: str):
    """A landing-contract column: the one source of truth for codes and plausible ranges."""
    from bankmkt.contract import load_contract

    return next(c for c in load_contract()[source].columns if c.name == column)


def _allowed(source: str, column: str) -> list[str]:
    return list(_contract_column(source, column).allowed or ())


def customer_features_expectations(run_date: date, settings: Settings | None = None) -> list:
    """Static suite of the customer feature mart (the run date's rows)."""
    E = _expectations()
    monthly_income_max = _contract_column("customers", "monthly_income").max
    complete = [
        "customer_id",
        "feature_date",
        "event_timestamp",
        "age",
        "tenure_days",
        "monthly_income",
        "is_female",
        "has_marketing_consent",
        "txn_count_30d",
        "txn_count_90d",
        "spend_30d",
        "spend_90d",
        "income_90d",
        "observed_days_90d",
        "spend_to_income_90d",
        "days_since_last_txn",
        "balance_total",
        "balance_savings",
        "balance_avg_30d",
        "n_products_held",
    ]
    flags = [
        "is_female",
        "has_marketing_consent",
        "has_credit_card",
        "has_personal_loan",
        "has_term_deposit",
        "has_wealth_management",
        "has_mortgage",
    ]
    shares = ["spend_share_travel_90d", "spend_share_dining_90d", "spend_share_groceries_90d"]
    counts = ["txn_count_30d", "txn_count_90d", "digital_logins_30d", "product_views_30d", "complaints_90d"]
    money = ["spend_30d", "spend_90d", "income_90d", "spend_to_income_90d"]
    day, next_day = _start_of(run_date), _start_of(run_date + timedelta(days=1))
    return [
        fail(E.ExpectTableRowCountToBeBetween(min_value=1)),
        fail(
            E.ExpectColumnMaxToBeBetween(column="feature_date", min_value=day, max_value=day),
            check="freshness: the newest feature date is the run date",
        ),
        fail(
            E.ExpectColumnMinToBeBetween(column="event_timestamp", min_value=next_day, max_value=next_day),
            check="usable from the start of the next day",
        ),
        fail(
            E.ExpectColumnMaxToBeBetween(column="event_timestamp", min_value=next_day, max_value=next_day),
            check="usable from the start of the next day",
        ),
        fail(E.ExpectColumnValuesToBeUnique(column="customer_id")),
        *[fail(E.ExpectColumnValuesToNotBeNull(column=c)) for c in complete],
        fail(E.ExpectColumnValuesToBeBetween(column="age", min_value=16, max_value=120)),
        fail(E.ExpectColumnValuesToBeBetween(column="tenure_days", min_value=0, max_value=120 * 366)),
        fail(E.ExpectColumnValuesToBeBetween(column="monthly_income", min_value=0, max_value=monthly_income_max)),
        *[fail(E.ExpectColumnValuesToBeBetween(column=c, min_value=0)) for c in counts + money],
        fail(
            E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="txn_count_90d", column_B="txn_count_30d", or_equal=True)
        ),
        fail(E.ExpectColumnValuesToBeBetween(column="days_since_last_txn", min_value=0, max_value=90)),
        fail(E.ExpectColumnValuesToBeBetween(column="observed_days_90d", min_value=1, max_value=90)),
        *[fail(E.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1)) for c in shares],
        *[fail(E.ExpectColumnValuesToBeInSet(column=c, value_set=[0, 1])) for c in flags],
        fail(
            E.ExpectColumnValuesToBeBetween(
                column="n_products_held", min_value=0, max_value=len(_allowed("product_holdings", "product_code"))
            )
        ),
        fail(E.ExpectColumnValuesToBeBetween(column="last_nps", min_value=0, max_value=10)),
        warn(
            E.ExpectColumnValuesToBeBetween(
                column="balance_total", min_value=-100_000, max_value=50_000_000, mostly=0.999
            )
        ),
        warn(E.ExpectColumnMeanToBeBetween(column="has_marketing_consent", min_value=0.2, max_value=1.0)),
    ]


def customer_segments_expectations(run_date: date, settings: Settings | None = None) -> list:
    """Static suite of the lifecycle, value and needs segments (the run date's rows)."""
    E = _expectations()
    day, next_day = _start_of(run_date), _start_of(run_date + timedelta(days=1))
    not_churned = {"row_condition": 'lifecycle_stage!="churned"', "condition_parser": "pandas"}
    return [
        fail(E.ExpectTableRowCountToBeBetween(min_value=1)),
        fail(
            E.ExpectColumnMaxToBeBetween(column="segment_date", min_value=day, max_value=day),
            check="freshness: the newest segment date is the run date",
        ),
        fail(
            E.ExpectColumnMinToBeBetween(column="event_timestamp", min_value=next_day, max_value=next_day),
            check="known from the start of the next day",
        ),
        fail(
            E.ExpectColumnMaxToBeBetween(column="event_timestamp", min_value=next_day, max_value=next_day),
            check="known from the start of the next day",
        ),
        fail(E.ExpectColumnValuesToBeUnique(column="customer_id")),
        *[
            fail(E.ExpectColumnValuesToNotBeNull(column=c))
            for c in ("customer_id", "segment_date", "lifecycle_stage", "value_tier")
        ],
        fail(E.ExpectColumnValuesToBeInSet(column="lifecycle_stage", value_set=list(LIFECYCLE_STAGES))),
        fail(E.ExpectColumnValuesToBeInSet(column="value_tier", value_set=list(VALUE_TIERS))),
        fail(E.ExpectColumnValuesToBeBetween(column="value_score", min_value=0, max_value=1)),
        fail(E.ExpectColumnValuesToBeBetween(column="tenure_days", min_value=0, max_value=120 * 366)),
        warn(
            E.ExpectColumnValuesToNotBeNull(column="needs_segment", **not_churned),
            check="every customer who has not churned has a needs segment",
        ),
        warn(
            E.ExpectColumnUniqueValueCountToBeBetween(column="needs_segment", min_value=2, max_value=10),
            check="the clustering chose between 3 and 8 needs segments",
        ),
    ]


def training_labels_expectations(run_date: date, settings: Settings | None = None) -> list:
    """Static suite of the training labels (the whole mart: every contact whose window has closed)."""
    E = _expectations()
    end_of_day = _start_of(run_date + timedelta(days=1))
    return [
        warn(E.ExpectTableRowCountToBeBetween(min_value=1), check="no labelled contact yet: training is skipped"),
        fail(E.ExpectColumnValuesToBeUnique(column="contact_id")),
        *[
            fail(E.ExpectColumnValuesToNotBeNull(column=c))
            for c in (
                "contact_id",
                "campaign_id",
                "customer_id",
                "product_code",
                "is_control",
                "event_timestamp",
                "window_closes_at",
                "label",
            )
        ],
        fail(E.ExpectColumnValuesToBeInSet(column="label", value_set=[0, 1])),
        fail(E.ExpectColumnValuesToBeInSet(column="is_control", value_set=[True, False])),
        fail(E.ExpectColumnValuesToBeInSet(column="product_code", value_set=_allowed("campaigns", "product_code"))),
        warn(E.ExpectColumnValuesToBeInSet(column="channel", value_set=_allowed("campaigns", "channel"))),
        fail(
            E.ExpectColumnValuesToBeBetween(column="window_closes_at", max_value=end_of_day),
            check="no label whose response window is still open (leakage)",
        ),
        fail(E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="window_closes_at", column_B="event_timestamp")),
        warn(
            E.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="first_converted_at",
                column_B="event_timestamp",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            check="a conversion follows its contact",
        ),
        warn(
            E.ExpectColumnMaxToBeBetween(column="window_closes_at", min_value=_start_of(run_date - timedelta(days=30))),
            check="freshness: a response window closed in the last 30 days",
        ),
        warn(E.ExpectColumnMeanToBeBetween(column="label", min_value=0.0, max_value=0.5)),
    ]


def target_lists_expectations(run_date: date, settings: Settings | None = None) -> list:
    """Static suite of the run date's target lists (every campaign's file together)."""
    from bankmkt.campaigns import CHANNELS, load_catalogue
    from ml import PRODUCTS

    settings = settings or get_settings()
    E = _expectations()
    day = _start_of(run_date)
    # A list holds at most its channels' capacity in contacts, plus the controls beside them.
    bound = 0
    if settings.campaign_catalogue_file.exists():
        for campaign in load_catalogue(settings.campaign_catalogue_file).values():
            if campaign.is_active(run_date):
                capacity = sum(c for c, _ in campaign.channels.values())
                bound += int(capacity / (1 - campaign.control_share) * 1.5) + 20
    return [
        *(
            [
                fail(
                    E.ExpectTableRowCountToBeBetween(min_value=0, max_value=bound),
                    check="no list longer than its campaign's capacity and controls",
                )
            ]
            if bound
            else []
        ),
        warn(E.ExpectTableRowCountToBeBetween(min_value=1), check="nobody to contact today"),
        fail(
            E.ExpectColumnValuesToBeBetween(column="run_date", min_value=day, max_value=day),
            check="freshness: every row belongs to the run date",
        ),
        *[
            fail(E.ExpectColumnValuesToNotBeNull(column=c))
            for c in (
                "run_date",
                "list_row_id",
                "campaign_id",
                "product_code",
                "channel",
                "customer_key",
                "rank",
                "propensity",
                "expected_value",
                "contact_cost",
                "is_control",
                "model_name",
                "model_version",
            )
        ],
        fail(E.ExpectColumnValuesToBeUnique(column="customer_key"), check="next-best offer: one list per customer"),
        fail(
            E.ExpectColumnValuesToMatchRegex(column="customer_key", regex=r"^P[0-9a-f]{20}$"),
            check="customers by pseudonym only: never the customer number",
        ),
        fail(E.ExpectColumnValuesToBeUnique(column="list_row_id"), check="a list row is referenced by its id"),
        fail(E.ExpectCompoundColumnsToBeUnique(column_list=["campaign_id", "rank"])),
        fail(E.ExpectColumnValuesToBeInSet(column="product_code", value_set=list(PRODUCTS))),
        fail(E.ExpectColumnValuesToBeInSet(column="channel", value_set=list(CHANNELS))),
        fail(E.ExpectColumnValuesToBeBetween(column="rank", min_value=1)),
        fail(E.ExpectColumnValuesToBeBetween(column="propensity", min_value=0, max_value=1)),
        fail(
            E.ExpectColumnValuesToBeBetween(column="uplift", min_value=-1, max_value=1),
            check="an uplift is a difference of two probabilities (empty under propensity targeting)",
        ),
        fail(
            E.ExpectColumnValuesToBeBetween(column="expected_value", min_value=0),
            check="no offer worth less than its contact",
        ),
        fail(E.ExpectColumnValuesToBeBetween(column="contact_cost", min_value=0)),
        fail(E.ExpectColumnValuesToBeInSet(column="is_control", value_set=[True, False])),
        warn(E.ExpectColumnValuesToNotBeNull(column="reason_1", mostly=0.99), check="every target has a reason"),
    ]


# ---- comparisons with the previous run -------------------------------------------


@dataclass(frozen=True)
class Drift:
    """A comparison with the previous passed run; a tolerance of None skips that level.

    kind ``rows``: row count within +-tolerance (relative, at least ``floor`` rows);
    ``rows_kept``: at least the previous row count (failure tolerance = share that may go);
    ``mean``: mean within tolerance x the previous standard deviation;
    ``share``: each value's share within +-tolerance (absolute, 0.05 = 5 points).
    """

    kind: str
    column: str | None
    warning: float | None
    failure: float | None
    floor: int = 5


DRIFT: dict[str, tuple[Drift, ...]] = {
    "customer_features": (
        Drift("rows", None, 0.10, 0.50),
        *(
            Drift("mean", c, 0.25, 1.0)
            for c in ("age", "monthly_income", "balance_total", "spend_30d", "txn_count_30d", "digital_logins_30d")
        ),
        Drift("share", "has_marketing_consent", 0.05, 0.20),
        *(
            Drift("share", c, 0.05, None)
            for c in ("has_credit_card", "has_personal_loan", "has_term_deposit", "has_wealth_management")
        ),
    ),
    "customer_segments": (
        Drift("rows", None, 0.10, 0.50),
        Drift("share", "lifecycle_stage", 0.05, 0.20),
        Drift("share", "value_tier", 0.05, 0.20),
        Drift("share", "needs_segment", 0.05, None),
    ),
    "training_labels": (
        Drift("rows_kept", None, None, 0.0),
        Drift("rows", None, 0.50, None, floor=50),
        Drift("share", "label", 0.05, 0.25),
        Drift("share", "is_control", 0.05, None),
    ),
    TARGET_LISTS: (
        # Warning only: campaigns start, fill and end, so a list's volume moves for good reasons.
        Drift("rows", None, 0.50, None),
        Drift("mean", "propensity", 0.5, None),
        Drift("share", "product_code", 0.10, None),
        Drift("share", "is_control", 0.05, None),
    ),
}


def _is_flag(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    return pd.api.types.is_numeric_dtype(series) and set(series.dropna().unique()) <= {0, 1}


def profile_frame(suite: str, frame: pd.DataFrame, run_date: date) -> dict:
    """The facts of a run the next run compares with: rows, means and standard deviations, shares."""
    profile: dict = {
        "suite": suite,
        "run_date": run_date.isoformat(),
        "rows": int(len(frame)),
        "means": {},
        "shares": {},
    }
    for drift in DRIFT.get(suite, ()):
        if drift.column is None or drift.column not in frame.columns:
            continue
        values = frame[drift.column]
        if drift.kind == "mean":
            numbers = pd.to_numeric(values, errors="coerce")
            profile["means"][drift.column] = {"mean": _number(numbers.mean()), "std": _number(numbers.std())}
        elif drift.kind == "share":
            counts = values.dropna().value_counts(normalize=True)
            kind = "flag" if _is_flag(values) else "category"
            profile["shares"][drift.column] = {
                "kind": kind,
                "values": {_key(v): round(float(s), 6) for v, s in counts.items()},
            }
    return profile


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 6)


def _key(value) -> str:
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def drift_expectations(suite: str, previous: dict | None) -> list:
    """Expectations whose bounds come from the previous passed run's profile (none on the first run)."""
    if previous is None:
        return []
    E = _expectations()
    since = previous["run_date"]
    out = []
    for drift in DRIFT.get(suite, ()):
        for level, tolerance in ((WARNING, drift.warning), (FAILURE, drift.failure)):
            if tolerance is None:
                continue
            tag = fail if level == FAILURE else warn
            if drift.kind in ("rows", "rows_kept"):
                rows = previous["rows"]
                if drift.kind == "rows_kept":
                    low, high = math.floor(rows * (1 - tolerance)), None
                    note = f"previous run {since}: {rows} rows; rows may not disappear"
                else:
                    slack = max(rows * tolerance, drift.floor)
                    low, high = max(0, math.floor(rows - slack)), math.ceil(rows + slack)
                    note = (
                        f"previous run {since}: {rows} rows, allowed change +-{tolerance:.0%} "
                        f"(at least {drift.floor} rows)"
                    )
                out.append(
                    tag(
                        E.ExpectTableRowCountToBeBetween(min_value=low, max_value=high),
                        check=f"row count change ({level})",
                        comparison=note,
                    )
                )
            elif drift.kind == "mean":
                stats = previous["means"].get(drift.column)
                if not stats or stats["mean"] is None or not stats["std"]:
                    continue
                width = tolerance * stats["std"]
                out.append(
                    tag(
                        E.ExpectColumnMeanToBeBetween(
                            column=drift.column,
                            min_value=round(stats["mean"] - width, 6),
                            max_value=round(stats["mean"] + width, 6),
                        ),
                        check=f"mean shift ({level})",
                        comparison=f"previous run {since}: mean {stats['mean']:.4g}, allowed +-{tolerance:g} sd "
                        f"({stats['std']:.4g})",
                    )
                )
            elif drift.kind == "share":
                shares = previous["shares"].get(drift.column)
                if not shares:
                    continue
                out += _share_expectations(drift.column, shares, tolerance, level, since)
    return out


def _share_expectations(column: str, shares: dict, tolerance: float, level: str, since: str) -> list:
    E = _expectations()
    tag = fail if level == FAILURE else warn
    if shares["kind"] == "flag":
        share = shares["values"].get("1", 0.0)
        return [
            tag(
                E.ExpectColumnMeanToBeBetween(
                    column=column,
                    min_value=round(max(0.0, share - tolerance), 6),
                    max_value=round(min(1.0, share + tolerance), 6),
                ),
                check=f"share shift ({level})",
                comparison=f"previous run {since}: share {share:.1%}, allowed +-{tolerance * 100:g} points",
            )
        ]
    out = []
    for value, share in sorted(shares["values"].items()):
        note = f"previous run {since}: {value} {share:.1%}, allowed +-{tolerance * 100:g} points"
        low, high = share - tolerance, share + tolerance
        if low > 0:  # at least `low` of the rows hold the value
            out.append(
                tag(
                    E.ExpectColumnValuesToBeInSet(column=column, value_set=[value], mostly=round(low, 6)),
                    check=f"share of {value} at least {low:.1%} ({level})",
                    comparison=note,
                )
            )
        if high < 1:  # at most `high` of the rows hold it
            out.append(
                tag(
                    E.ExpectColumnValuesToNotBeInSet(column=column, value_set=[value], mostly=round(1 - high, 6)),
                    check=f"share of {value} at most {high:.1%} ({level})",
                    comparison=note,
                )
            )
    known = sorted(shares["values"])
    # A value the previous run did not have: any share warns, more than the tolerance fails.
    mostly = 1.0 if level == WARNING else round(1 - tolerance, 6)
    out.append(
        tag(
            E.ExpectColumnValuesToBeInSet(column=column, value_set=known, mostly=mostly),
            check=f"values the previous run did not have: at most {1 - mostly:.0%} ({level})",
            comparison=f"previous run {since}: {', '.join(known)}",
        )
    )
    return out


def same_run_expectations(suite: Suite, run_date: date, settings: Settings) -> list:
    """One row per customer in both marts: the row count of the run's other suite, when it ran."""
    path = profile_path(settings, suite.same_rows_as, run_date) if suite.same_rows_as else None
    if path is None or not path.exists():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [
        warn(
            _expectations().ExpectTableRowCountToEqual(value=rows),
            check=f"one row per customer, as in {suite.same_rows_as}",
            comparison=f"{suite.same_rows_as} of {run_date}: {rows} rows",
        )
    ]


def quality_dir(settings: Settings, run_date: date) -> Path:
    """Per-run quality reports: profiles, summary.json and summary.html."""
    return settings.reports_dir / "quality" / f"dt={run_date.isoformat()}"


def profile_path(settings: Settings, suite: str, run_date: date) -> Path:
    return quality_dir(settings, run_date) / f"{suite}.profile.json"


def previous_profile(suite: str, run_date: date, settings: Settings) -> dict | None:
    """The newest profile of a passed run before the run date (a failed run is no baseline)."""
    folder = settings.reports_dir / "quality"
    candidates = sorted(
        (p for p in folder.glob(f"dt=*/{suite}.profile.json") if p.parent.name[3:] < run_date.isoformat()),
        reverse=True,
    )
    for path in candidates:
        profile = json.loads(path.read_text())
        if profile.get("passed"):
            return profile
    return None


# ---- data -----------------------------------------------------------------------


def needed_columns(expectations: list, suite: str) -> list[str]:
    """The columns the suite names (the only ones read), in first-use order."""
    names: list[str] = []
    for expectation in expectations:
        for key in ("column", "column_A", "column_B"):
            if getattr(expectation, key, None):
                names.append(getattr(expectation, key))
        names += list(getattr(expectation, "column_list", None) or [])
    names += [d.column for d in DRIFT.get(suite, ()) if d.column]
    return list(dict.fromkeys(names))


def _widen(frame: pd.DataFrame) -> pd.DataFrame:
    """int8/16/32 -> int64 and float32 -> float64, as one consolidated frame.

    GX's pandas range check is vectorised only for int64/float64 (int32 falls back
    to a Python function per row), and a frame of many small blocks is merged
    again on every filter GX makes.
    """
    import numpy as np

    wider = {}
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype != np.int64:
            wider[name] = np.int64
        elif isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype != np.float64:
            wider[name] = np.float64
    return frame.astype(wider).copy() if wider else frame


# DuckDB types read as the wide pandas types GX's vectorised paths expect.
_WIDE_SQL_TYPES = {
    "TINYINT": "BIGINT",
    "SMALLINT": "BIGINT",
    "INTEGER": "BIGINT",
    "UTINYINT": "BIGINT",
    "USMALLINT": "BIGINT",
    "UINTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "HUGEINT": "DOUBLE",
}


class MartMissing(LookupError):
    """The mart is not in the warehouse (or lacks columns the suite needs)."""


def _read_warehouse(
    table: str, columns: list[str], date_column: str | None, run_date: date, settings: Settings
) -> pd.DataFrame:
    """The suite's columns of a mart: the newest date up to D when it has a date column, else every row."""
    from bankmkt.warehouse import read_only_connection

    if not settings.warehouse_path.exists():
        raise MartMissing(f"the warehouse {settings.warehouse_path} does not exist yet")
    with read_only_connection(settings) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = ?", [table]
            ).fetchall()
        )
        if not types:
            raise MartMissing(f"{table} is not in the warehouse yet (its dbt model has not been built)")
        missing = [c for c in columns if c not in types]
        if missing:
            raise MartMissing(f"{table} lacks the documented column(s) {', '.join(missing)}")

        def typed(column: str) -> str:
            wide = "DOUBLE" if types[column].startswith("DECIMAL") else _WIDE_SQL_TYPES.get(types[column])
            return f'cast("{column}" as {wide}) as "{column}"' if wide else f'"{column}"'

        select = ", ".join(typed(c) for c in columns)
        if date_column is None:
            return con.execute(f"select {select} from {table}").df()
        return con.execute(
            f'select {select} from {table} where "{date_column}" = '
            f'(select max("{date_column}") from {table} where "{date_column}" <= ?)',
            [run_date],
        ).df()


def _read_target_lists(columns: list[str], run_date: date, settings: Settings) -> pd.DataFrame:
    files = sorted(settings.target_list_dir(run_date).glob("target_list_*.parquet"))
    if not files:
        raise MartMissing(f"no target lists in {settings.target_list_dir(run_date)} (scoring skipped or not run)")
    return _prepared(pd.concat([pd.read_parquet(p) for p in files], ignore_index=True), columns, "the target lists")


def _prepared(frame: pd.DataFrame, columns: list[str], what: str) -> pd.DataFrame:
    """A frame not read from the warehouse, cut to the suite's columns and typed as the warehouse reads are."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MartMissing(f"{what} lack the documented column(s) {', '.join(missing)}")
    frame = frame[columns].copy()
    if "run_date" in frame.columns:
        frame["run_date"] = pd.to_datetime(frame["run_date"])
    return _widen(frame)


@dataclass(frozen=True)
class Suite:
    """A published data set and how the gate reads it."""

    name: str
    expectations: Callable[[date, Settings], list]
    date_column: str | None
    required: bool  # a required mart that is missing fails the gate; an optional one is skipped
    same_rows_as: str | None = None  # a suite of the same run with one row per customer too


SUITES: dict[str, Suite] = {
    "customer_features": Suite("customer_features", customer_features_expectations, "feature_date", True),
    "customer_segments": Suite(
        "customer_segments", customer_segments_expectations, "segment_date", False, same_rows_as="customer_features"
    ),
    "training_labels": Suite("training_labels", training_labels_expectations, None, True),
    TARGET_LISTS: Suite(TARGET_LISTS, target_lists_expectations, None, False),
}


# ---- Great Expectations ---------------------------------------------------------------


def _context(settings: Settings):
    """The file context under gx/ with the Data Docs site under reports/data_docs."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    settings.gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.gx_dir))
    bars = context.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()  # logs stay readable
    site_config = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_RESULTS},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(settings.data_docs_dir)},
    }
    sites = context.variables.data_docs_sites or {}
    if SITE_NAME not in sites:
        context.add_data_docs_site(site_name=SITE_NAME, site_config=site_config)
    elif sites[SITE_NAME] != site_config:  # an older DATA_DIR: same site, bounded index
        context.update_data_docs_site(site_name=SITE_NAME, site_config=site_config)
    return context


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
    context = context or _context(settings)
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
        _offline_data_docs(settings)
    result.status = "failed" if result.failed_failures else "passed"
    return result


def _offline_data_docs(settings: Settings) -> None:
    """Point the Data Docs pages at local copies of their scripts and styles (bankmkt.offline_assets)."""
    from bankmkt.offline_assets import AssetsMissing, localize_site

    try:
        localize_site(settings.data_docs_dir, settings.datadocs_assets_dir)
    except AssetsMissing as error:
        log.warning("Data Docs keep their internet links: %s", error)


def describe_failure(item) -> str:
    """``<column>: <expectation> <bounds>: <what was observed> (<comparison>)``, one line."""
    config = item.expectation_config
    kwargs = config.kwargs
    meta = config.meta or {}
    if kwargs.get("column"):
        subject = kwargs["column"]
    elif kwargs.get("column_A"):
        subject = f"{kwargs['column_A']} vs {kwargs['column_B']}"
    elif kwargs.get("column_list"):
        subject = "(" + ", ".join(kwargs["column_list"]) + ")"
    else:
        subject = "table"
    bounds = ""
    if "value_set" in kwargs:
        bounds = f" {list(kwargs['value_set'])}"
    elif kwargs.get("min_value") is not None or kwargs.get("max_value") is not None:
        bounds = f" [{_show(kwargs.get('min_value'))}, {_show(kwargs.get('max_value'))}]"
    if kwargs.get("mostly") not in (None, 1, 1.0):
        bounds += f" for at least {kwargs['mostly']:.1%} of rows"
    found = item.result or {}
    info = item.exception_info or {}
    raised = info.get("raised_exception") or any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values()
    )
    if raised:
        messages = [info.get("exception_message")] + [
            v.get("exception_message") for v in info.values() if isinstance(v, dict)
        ]
        observed = "error: " + "; ".join(m for m in messages if m)[:300]
    elif found.get("unexpected_count") is not None:
        sample = _sample(found.get("partial_unexpected_list"))
        observed = (
            f"{found['unexpected_count']} of {found.get('element_count')} rows unexpected "
            f"({found.get('unexpected_percent') or 0:.2f}%), e.g. {sample}"
        )
    else:
        observed = f"observed {_show(found.get('observed_value'))}"
    line = f"{subject}: {config.type}{bounds}: {observed}"
    if meta.get("comparison"):
        line += f" ({meta['comparison']})"
    return line


def _sample(values) -> str:
    """``[124, 'diamond', 2024-03-20 00:00:00]``: the values as a user would type them."""
    return "[" + ", ".join(str(v) if isinstance(v, (date, pd.Timestamp)) else repr(v) for v in values or []) + "]"


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


# ---- the gate -------------------------------------------------------------------------


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
            frame = _prepared(frame, columns, f"the {mart} rows")
        elif mart == TARGET_LISTS:
            frame = _read_target_lists(columns, run_date, settings)
        else:
            frame = _read_warehouse(mart, columns, suite.date_column, run_date, settings)
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


def _raise_if_failed(run_date: date, results: list[GateResult]) -> None:
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
    _raise_if_failed(run_date, [result])
    return result


def gate_marts(run_date: date, settings: Settings | None = None, marts: tuple[str, ...] = GATED_MARTS) -> GateReport:
    """Validate every gated mart for D (a missing optional mart is skipped with a note).

    All suites run, then :class:`QualityGateFailed` is raised when any failed,
    so one report lists everything wrong with the run.
    """
    settings = apply_environment(settings or get_settings())
    context = _context(settings)
    results = {mart: run_gate(mart, run_date, settings, context=context) for mart in marts}
    for result in results.values():
        if result.status == "skipped":
            print(f"[quality] {result.suite} skipped: {result.note}", flush=True)
    _raise_if_failed(run_date, list(results.values()))
    report = GateReport(run_date, results, summary=next((r.summary for r in results.values() if r.summary), None))
    return report


def gate_target_lists(
    run_date: date, settings: Settings | None = None, frame: pd.DataFrame | None = None
) -> GateResult:
    """Validate D's target lists (``frame`` before they are written, else the written Parquet files).

    Raises QualityGateFailed on a failure-level miss; no lists for D is a skip with a note.
    """
    result = run_gate(TARGET_LISTS, run_date, settings, frame=frame)
    _raise_if_failed(run_date, [result])
    return result


# ---- per-run summary ----------------------------------------------------------------


def write_summary(run_date: date, results: list[GateResult], settings: Settings) -> Path:
    """Merge suite outcomes into ``reports/quality/dt=D/summary.json`` and rewrite ``summary.html``."""
    folder = quality_dir(settings, run_date)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "summary.json", folder / "summary.html"
    summary = (
        json.loads(json_path.read_text()) if json_path.exists() else {"run_date": run_date.isoformat(), "suites": {}}
    )
    for result in results:
        result.summary = str(html_path)
        summary["suites"][result.suite] = result.as_dict()
    summary["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary["success"] = all(entry["success"] for entry in summary["suites"].values())
    text, page = json.dumps(summary, indent=2, default=str) + "\n", render_summary_html(summary, folder)
    write_atomically(json_path, lambda partial: partial.write_text(text, encoding="utf-8"))
    write_atomically(html_path, lambda partial: partial.write_text(page, encoding="utf-8"))
    return html_path


def _suite_page(entry: dict) -> str | None:
    """The suite's Data Docs page (each expectation's severity and comparison are in its note)."""
    if not entry.get("data_docs"):
        return None
    page = Path(entry["data_docs"]).parent / "expectations" / f"{entry['suite']}.html"
    return str(page) if page.exists() else None


def render_summary_html(summary: dict, folder: Path) -> str:
    """A short page: one row per suite with its status, counts, problems and Data Docs link."""

    def link(path: str | None, text: str) -> str:
        if not path:
            return ""
        return f'<a href="{html.escape(os.path.relpath(path, folder))}">{html.escape(text)}</a>'

    rows = []
    for name, entry in sorted(summary["suites"].items()):
        problems = "".join(f"<li class=failure>{html.escape(line)}</li>" for line in entry["failed"])
        problems += "".join(f"<li class=warning>{html.escape(line)}</li>" for line in entry["warnings"])
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td class={entry['status']}>{entry['status']}</td>"
            f"<td>{entry['rows']}</td><td>{entry['expectations']}</td>"
            f"<td>{len(entry['failed'])}</td><td>{len(entry['warnings'])}</td>"
            f"<td>{html.escape(entry.get('previous_run') or '')}</td>"
            f"<td>{link(entry.get('data_docs_page'), 'validation result')} "
            f"{link(_suite_page(entry), 'suite')}</td>"
            f"<td>{html.escape(entry.get('note') or '')}<ul>{problems}</ul></td></tr>"
        )
    verdict = "passed" if summary["success"] else "FAILED"
    index = next((e.get("data_docs") for e in summary["suites"].values() if e.get("data_docs")), None)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Quality gate {summary["run_date"]}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}.failed,.failure{{color:#b00}}
.warning{{color:#a60}}.passed{{color:#070}}.skipped{{color:#666}}</style></head>
<body><h1>Quality gate for {summary["run_date"]}: {verdict}</h1>
<p>Failure-level expectations stop the run; warnings are reported only. Comparisons use the previous
passed run's profile. {link(index, "All Data Docs")}</p>
<table><tr><th>suite</th><th>status</th><th>rows</th><th>expectations</th><th>failures</th><th>warnings</th>
<th>compared with</th><th>Data Docs</th><th>details</th></tr>
{"".join(rows)}
</table><p>Updated {summary["updated_at"]}.</p></body></html>
"""


def main(argv: list[str] | None = None) -> int:
    """`python -m bankmkt.quality --date D [--suite NAME]`: run the gate by hand."""
    import argparse

    from bankmkt.runtime import parse_run_date

    parser = argparse.ArgumentParser(prog="python -m bankmkt.quality", description=main.__doc__)
    parser.add_argument("--date", required=True)
    parser.add_argument("--suite", choices=[*GATED_MARTS, TARGET_LISTS, "marts"], default="marts")
    args = parser.parse_args(argv)
    day = parse_run_date(args.date)
    try:
        if args.suite == "marts":
            outcome = gate_marts(day).as_dict()
        elif args.suite == TARGET_LISTS:
            outcome = gate_target_lists(day).as_dict()
        else:
            result = run_gate(args.suite, day)
            _raise_if_failed(day, [result])
            outcome = result.as_dict()
    except QualityGateFailed as failed:
        print(failed)
        return 1
    print(json.dumps(outcome, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
