"""The expectations of each published data set and how the gate reads it.

Every expectation is tagged with a severity by :func:`fail` or :func:`warn`;
:data:`SUITES` names, per data set, its static expectations, its date column,
whether it is required, and the suite of the same run it must match row for row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time

from bankmkt.settings import Settings, get_settings

FAILURE = "failure"
WARNING = "warning"

# Marts of the warehouse the gate knows, in the order gate_marts runs them.
GATED_MARTS = ("customer_features", "customer_segments", "training_labels")
TARGET_LISTS = "target_lists"

LIFECYCLE_STAGES = ("new", "growing", "mature", "declining", "dormant", "churned")
VALUE_TIERS = ("platinum", "gold", "silver", "bronze")


def gx_expectations():
    """GX's expectation classes, imported when a suite is built (GX is a heavy import)."""
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


def _one_row_per_customer_of_the_day(E, date_column: str, run_date: date, known: str) -> list:
    """What every daily customer mart promises: rows, the run date as its newest date, an event time at the
    start of the next day, one row per customer."""
    day, next_day = _start_of(run_date), _start_of(run_date + timedelta(days=1))
    noun = date_column.replace("_", " ")
    return [
        fail(E.ExpectTableRowCountToBeBetween(min_value=1)),
        fail(
            E.ExpectColumnMaxToBeBetween(column=date_column, min_value=day, max_value=day),
            check=f"freshness: the newest {noun} is the run date",
        ),
        fail(
            E.ExpectColumnMinToBeBetween(column="event_timestamp", min_value=next_day, max_value=next_day),
            check=known,
        ),
        fail(
            E.ExpectColumnMaxToBeBetween(column="event_timestamp", min_value=next_day, max_value=next_day),
            check=known,
        ),
        fail(E.ExpectColumnValuesToBeUnique(column="customer_id")),
    ]


def customer_features_expectations(run_date: date, settings: Settings | None = None) -> list:
    """Static suite of the customer feature mart (the run date's rows)."""
    E = gx_expectations()
    monthly_income_max = _contract_column("customers", "monthly_income").max
    complete = [
        "customer_id",
        "feature_date",
        "event_timestamp",
        "tenure_days",
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
    return [
        *_one_row_per_customer_of_the_day(E, "feature_date", run_date, "usable from the start of the next day"),
        *[fail(E.ExpectColumnValuesToNotBeNull(column=c)) for c in complete],
        # The contract lets a bank leave birth date, income and gender unknown (the features stay
        # missing, never imputed): a warning when most customers lack them, not a stop.
        *[warn(E.ExpectColumnValuesToNotBeNull(column=c, mostly=0.95)) for c in ("age", "monthly_income", "is_female")],
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
    E = gx_expectations()
    not_churned = {"row_condition": 'lifecycle_stage!="churned"', "condition_parser": "pandas"}
    return [
        *_one_row_per_customer_of_the_day(E, "segment_date", run_date, "known from the start of the next day"),
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
    E = gx_expectations()
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
    E = gx_expectations()
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


@dataclass(frozen=True)
class Suite:
    """A published data set and how the gate reads it."""

    name: str
    expectations: Callable[[date, Settings], list]
    date_column: str | None
    required: bool  # a required mart that is missing fails the gate; an optional one is skipped
    same_rows_as: str | None = None  # a suite of the same run with one row per customer too
    relation: str | None = None  # what the gate reads when it is not the mart itself

    @property
    def reads(self) -> str:
        return self.relation or self.name


SUITES: dict[str, Suite] = {
    # The feature mart as written for Feast: dbt's feature_export files (staged), validated before they move.
    "customer_features": Suite(
        "customer_features", customer_features_expectations, "feature_date", True, relation="feature_export"
    ),
    "customer_segments": Suite(
        "customer_segments", customer_segments_expectations, "segment_date", False, same_rows_as="customer_features"
    ),
    "training_labels": Suite("training_labels", training_labels_expectations, None, True),
    TARGET_LISTS: Suite(TARGET_LISTS, target_lists_expectations, None, False),
}
