"""A randomised e-mail experiment (the Hillstrom "MineThatData E-Mail Analytics" shape) as landing files.

The source is one CSV (comma-separated, header) with one row per customer:
``recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend``.
``segment`` is the randomised arm: ``Mens E-Mail``, ``Womens E-Mail`` or ``No E-Mail`` (one
control shared by both arms); ``visit``, ``conversion`` and ``spend`` are the outcomes of the
two weeks after the send. :func:`convert_email_experiment` reads it (never changing it) and
writes ``landing/<source>/dt=YYYY-MM-DD/<source>.csv`` for every source of the contract and
every day from the history day (the day before the send) to the send day + 14.

Mapping (row = the row's number in the file, 1 = the line after the header):

| landing source | day | column | from the experiment |
|---|---|---|---|
| customers | history day | `customer_id` | `C` + row, 7 digits |
| | | `national_id` | `EM` + row, 9 digits (the file has no identity) |
| | | `first_name`, `last_name`, `email`, `phone` | empty |
| | | `birth_date`, `gender`, `occupation`, `monthly_income` | empty: the file has no age, sex, occupation or income (never imputed) |
| | | `region` | `zip_code` lower-case: `urban`, `suburban`, `rural` |
| | | `customer_since` | history day - 180 days when `newbie` = 1, else history day - 365 days |
| | | `has_marketing_consent` | `true` |
| | | `updated_at` | history day 00:00:00Z |
| customer_attributes | history day | `history_segment` (category) | `history_segment` as given (`7) $1,000 +`: the landing file quotes it) |
| | | `purchase_channel` (category) | `channel` lower-case: `phone`, `web`, `multichannel` |
| | | `bought_mens`, `bought_womens`, `newbie` (categories `no;yes`) | `mens`, `womens`, `newbie` |
| | | `recency_months` (number) | `recency` |
| | | `spend_12m` (number) | `history` |
| | | `valid_from` | history day 00:00:00Z |
| campaigns | send day | `campaign_id` | `EMAIL_MENS` ("Men's merchandise e-mail"), `EMAIL_WOMENS` ("Women's merchandise e-mail") |
| | | `experiment_id` | `EMAIL_2WEEKS` for both: they share one control |
| | | `product_code` | the `product_code` option (default `credit_card`): the retailer's merchandise offer is mapped to the bank product the user chooses |
| | | `channel` | `email` |
| | | `start_date`, `end_date` | send day |
| | | `response_window_days` | 14 |
| campaign_contacts | send day | `contact_id` | `EM` + row, 7 digits |
| | | `campaign_id` | the arm's campaign; `No E-Mail` rows under the first arm, `EMAIL_MENS` (the experiment_id makes them the control of both) |
| | | `contacted_at` | send day 08:00:00Z + ((row - 1) mod 57600) seconds (always within the send day) |
| | | `channel` | `email` (control rows too) |
| | | `is_control` | `true` for `No E-Mail` |
| | | `delivery_status` | `delivered` for treated rows, empty for control rows |
| | | `attempt_number` | 1 |
| | | `list_row_id`, `previous_campaign_contacts`, `days_since_previous_campaign`, `previous_campaign_outcome` | empty |
| campaign_responses | send day + 1 … + 14 | `visited` | a row with `visit` = 1 (treated and control alike); `response_id` `EMV` + row |
| | | `converted` | a row with `conversion` = 1; `amount` = `spend`; `response_id` `EMC` + row |
| | | `responded_at` | visit on send day + k, k = 1 + ⌊14·u²⌋ (early days weigh more), 08:00-20:00; the conversion on the visit's day or later (within 14 days), 5-65 minutes after the visit's time of day. u comes from a hash of the row number: deterministic |
| every source | every day it has nothing on | | header-only file (accounts, balances, transactions, holdings, digital events, complaints and surveys: every day) |

``amount`` is the retailer's spend in the file's dollars, delivered as it is (the contract's
amount is "what a conversion is worth", in EUR). A conversion without a visit is delivered as
a conversion alone; a spend on a row without a conversion has no response to carry it: both
are counted in the summary, never dropped silently. Bad input (a missing column, an unknown
segment, a flag other than 0/1, a negative amount, a recency outside 1-12...) is refused with
the row and column named. The customer attributes are declared in
``reference/customer_attributes.csv`` (other attributes already declared there are kept).

The decoding is vectorised (pandas, Arrow); the only loop is over the days when the files are
written (by :func:`bankmkt.adapters.berka.write_landing`). :func:`write_fixture` writes a
synthetic file of the same shape and structure, for tests and demos (the real file is not
shipped).

Command line: ``python -m bankmkt.adapters.email_experiment --source FILE [--data-dir P]
[--send-day D] [--product-code P] [--overwrite]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bankmkt.adapters.berka import BerkaLanding, _settings_for, write_landing
from bankmkt.attributes import AttributeSpec, load_declaration, write_declaration
from bankmkt.contract.schema import load_contract
from bankmkt.generator.landing import contract_columns, decimals, ids, with_nullable_columns
from bankmkt.runtime import parse_run_date
from bankmkt.settings import Settings

SOURCE_COLUMNS = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
)
FLAG_COLUMNS = ("mens", "womens", "newbie", "visit", "conversion")


@dataclasses.dataclass(frozen=True)
class Arm:
    """One treated arm of the experiment: its campaign and its ``segment`` label in the file."""

    campaign_id: str
    campaign_name: str
    segment: str


ARMS = (
    Arm("EMAIL_MENS", "Men's merchandise e-mail", "Mens E-Mail"),
    Arm("EMAIL_WOMENS", "Women's merchandise e-mail", "Womens E-Mail"),
)
CONTROL_SEGMENT = "No E-Mail"
SEGMENTS = (*(arm.segment for arm in ARMS), CONTROL_SEGMENT)
# The control is shared by both arms: its contacts are recorded under the first arm, and the
# common experiment_id tells the platform to pool them for every arm.
CONTROL_CAMPAIGN = ARMS[0].campaign_id
EXPERIMENT_ID = "EMAIL_2WEEKS"
RESPONSE_WINDOW_DAYS = 14  # the file's outcomes cover the two weeks after the send
DEFAULT_SEND_DAY = date(2008, 3, 3)  # a Monday in spring 2008, when the experiment ran
DEFAULT_PRODUCT_CODE = "credit_card"

ZIP_CODES = ("Urban", "Suburban", "Rural")
PURCHASE_CHANNELS = ("Phone", "Web", "Multichannel")
RECENCY_MONTHS = (1, 12)

SEND_START_SECONDS = 8 * 3600  # the send starts at 08:00 UTC...
SEND_SPREAD_SECONDS = 16 * 3600  # ...and one contact a second wraps round so that all fall on the send day
RESPONSE_START_SECONDS = 8 * 3600  # visits between 08:00 and 20:00 UTC
RESPONSE_SPREAD_SECONDS = 12 * 3600
CONVERSION_DELAY_SECONDS = (5 * 60, 60 * 60)  # a conversion 5 to 65 minutes after the visit's time of day
EXTRACT_CLOCK = "00:00:00"  # the history day's master data is valid from the start of the day

NEWBIE_TENURE_DAYS = 180  # a new customer of the last 12 months: about half a year
CUSTOMER_TENURE_DAYS = 365  # not new: at least a year

CUSTOMER_ID_DIGITS = 7  # the contract's C + 7 digits: at most 9,999,999 rows
MAX_PROBLEMS_PER_RULE = 5  # rows named per problem in an error; the rest are counted


class EmailExperimentError(ValueError):
    """The experiment file cannot be converted; the message names the row and column."""


# ---- reading and checking -------------------------------------------------------------------


def read_experiment(source_csv: Path | str) -> pd.DataFrame:
    """The experiment file, checked and typed: one row per customer, in file order.

    Columns: ``row`` (1 = the line after the header), ``recency`` (int), ``history_segment``
    (text, as given), ``history_cents``, ``mens``, ``womens``, ``newbie``,
    ``visit``, ``conversion`` (bool), ``zip_code``, ``channel`` (lower-case), ``segment`` and
    ``spend_cents``; ``attrs["ignored_columns"]`` lists the file's columns the mapping does not use.
    Raises :class:`EmailExperimentError` naming every bad row and column (the first few of each).
    """
    path = Path(source_csv)
    if not path.is_file():
        raise FileNotFoundError(f"no e-mail experiment file at {path}")
    # Blank lines are kept as rows, so that every row number is the file's record number.
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig")
    return check_experiment(raw, str(path))


def check_experiment(raw: pd.DataFrame, where: str = "experiment") -> pd.DataFrame:
    """:func:`read_experiment` on a frame of text (pure)."""
    raw = raw.rename(columns=lambda name: str(name).strip())
    missing = [c for c in SOURCE_COLUMNS if c not in raw.columns]
    if missing:
        raise EmailExperimentError(
            f"{where}: the header lacks column(s) {', '.join(missing)} (expected {','.join(SOURCE_COLUMNS)})"
        )
    if raw.empty:
        raise EmailExperimentError(f"{where}: the file has a header but no rows")
    if len(raw) >= 10**CUSTOMER_ID_DIGITS:
        raise EmailExperimentError(f"{where}: {len(raw)} rows do not fit customer ids of {CUSTOMER_ID_DIGITS} digits")
    text = {c: raw[c].astype("string").str.strip().fillna("") for c in SOURCE_COLUMNS}
    problems: list[str] = []

    def refuse(column: str, bad: pd.Series, detail: str) -> None:
        rows = np.flatnonzero(bad.to_numpy(dtype=bool))
        for i in rows[:MAX_PROBLEMS_PER_RULE]:
            problems.append(f"row {i + 1}, column {column}: {text[column].iloc[i]!r} {detail}")
        if len(rows) > MAX_PROBLEMS_PER_RULE:
            problems.append(f"column {column}: {len(rows) - MAX_PROBLEMS_PER_RULE} more rows {detail}")

    for column in FLAG_COLUMNS:
        refuse(column, ~text[column].isin(["0", "1"]), "is not 0 or 1")
    recency = pd.to_numeric(text["recency"], errors="coerce")
    low, high = RECENCY_MONTHS
    refuse(
        "recency", ~(recency.between(low, high) & (recency % 1 == 0)), f"is not a whole number of months {low}-{high}"
    )
    amounts = {}
    for column in ("history", "spend"):
        amounts[column] = pd.to_numeric(text[column], errors="coerce")
        refuse(column, ~(np.isfinite(amounts[column]) & (amounts[column] >= 0)), "is not an amount of 0 or more")
    refuse("segment", ~text["segment"].isin(SEGMENTS), f"is not one of {', '.join(SEGMENTS)}")
    refuse("zip_code", ~text["zip_code"].str.lower().isin([z.lower() for z in ZIP_CODES]), f"is not one of {ZIP_CODES}")
    refuse(
        "channel",
        ~text["channel"].str.lower().isin([c.lower() for c in PURCHASE_CHANNELS]),
        f"is not one of {PURCHASE_CHANNELS}",
    )
    # The landing writer does not quote, and the declaration separates categories with ';'.
    segment_label = text["history_segment"]
    refuse("history_segment", segment_label.eq(""), "is empty")
    # A category's values are ;-separated in the declaration: a label may hold a comma, not a semicolon.
    refuse("history_segment", segment_label.str.contains(r'[;"\r\n]'), "holds a semicolon, quote or line break")
    if problems:
        raise EmailExperimentError(f"{where}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))

    flags = {c: text[c].eq("1").to_numpy() for c in FLAG_COLUMNS}
    experiment = pd.DataFrame(
        {
            "row": np.arange(1, len(raw) + 1, dtype=np.int64),
            "recency": recency.to_numpy(dtype=np.int64),
            "history_segment": segment_label.to_numpy(dtype=object),
            "history_cents": np.rint(amounts["history"].to_numpy(dtype=float) * 100).astype(np.int64),
            **flags,
            "zip_code": text["zip_code"].str.lower().to_numpy(dtype=object),
            "channel": text["channel"].str.lower().to_numpy(dtype=object),
            "segment": text["segment"].to_numpy(dtype=object),
            "spend_cents": np.rint(amounts["spend"].to_numpy(dtype=float) * 100).astype(np.int64),
        }
    )
    experiment.attrs["ignored_columns"] = [str(c) for c in raw.columns if c not in SOURCE_COLUMNS]
    return experiment


# ---- the landing batch ----------------------------------------------------------------------


def unit_hash(rows: np.ndarray, salt: int) -> np.ndarray:
    """A number in [0, 1) per row number and salt (splitmix64): the same row always gets the same."""
    z = np.asarray(rows, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15 * (salt + 1) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def response_times(rows: np.ndarray, send_day: date) -> tuple[np.ndarray, np.ndarray]:
    """Each row's visit and conversion time (datetime64[s]) in the 14 days after the send.

    The visit falls on send day + k, k = 1 + floor(14 u^2) (most responses come early), between
    08:00 and 20:00; the conversion on the visit's day or a later one within the window, 5 to 65
    minutes after the visit's time of day. Deterministic: a hash of the row number.
    """
    visit_day = 1 + np.floor(RESPONSE_WINDOW_DAYS * unit_hash(rows, 1) ** 2).astype(np.int64)
    conversion_day = visit_day + np.floor((RESPONSE_WINDOW_DAYS + 1 - visit_day) * unit_hash(rows, 2) ** 2).astype(
        np.int64
    )
    visit_clock = RESPONSE_START_SECONDS + np.floor(RESPONSE_SPREAD_SECONDS * unit_hash(rows, 3)).astype(np.int64)
    low, high = CONVERSION_DELAY_SECONDS
    conversion_clock = visit_clock + low + np.floor((high - low) * unit_hash(rows, 4)).astype(np.int64)
    start = np.datetime64(send_day, "s")
    day = np.timedelta64(86400, "s")
    visit_at = start + visit_day * day + visit_clock.astype("timedelta64[s]")
    conversion_at = start + conversion_day * day + conversion_clock.astype("timedelta64[s]")
    return visit_at, conversion_at


def _stamps(times: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` from datetime64 values (UTC)."""
    return pc.strftime(pa.array(np.asarray(times, dtype="datetime64[s]")), format="%Y-%m-%dT%H:%M:%SZ")


def _constant(value, n: int, type_: pa.DataType = pa.string()) -> pa.Array:
    return pa.array([value] * n, type=type_)


def _delivery(source: str, columns: dict[str, pa.Array], dt: np.ndarray) -> pa.Table:
    """The source's table in contract order (absent nullable columns empty) with its delivery day ``dt``."""
    table = with_nullable_columns(pa.table(columns), source)
    expected = contract_columns(source)
    if table.column_names != expected:
        raise ValueError(f"{source}: built columns {table.column_names} differ from the contract {expected}")
    table = table.append_column("dt", pa.array(np.asarray(dt, dtype="datetime64[D]"), type=pa.date32()))
    return table.sort_by([("dt", "ascending"), (expected[0], "ascending")])


def _no_delivery(source: str) -> pa.Table:
    return pa.table(
        {**{c: pa.array([], type=pa.string()) for c in contract_columns(source)}, "dt": pa.array([], pa.date32())}
    )


def attribute_specs(experiment: pd.DataFrame) -> list[AttributeSpec]:
    """The customer attributes this experiment delivers, as declared for the features."""
    yes_no = ("no", "yes")
    return [
        AttributeSpec(
            "history_segment",
            "category",
            tuple(sorted(experiment["history_segment"].unique())),
            "Bucket of the dollars spent in the 12 months before the experiment (e-mail experiment's history_segment)",
        ),
        AttributeSpec(
            "purchase_channel",
            "category",
            tuple(sorted(c.lower() for c in PURCHASE_CHANNELS)),
            "Where the customer bought in the 12 months before the experiment",
        ),
        AttributeSpec("bought_mens", "category", yes_no, "Bought men's merchandise in the 12 months before"),
        AttributeSpec("bought_womens", "category", yes_no, "Bought women's merchandise in the 12 months before"),
        AttributeSpec("newbie", "category", yes_no, "New customer in the 12 months before the experiment"),
        AttributeSpec("recency_months", "number", (), "Months since the last purchase (1-12)"),
        AttributeSpec("spend_12m", "number", (), "Dollars spent in the 12 months before the experiment"),
    ]


def build_landing(experiment: pd.DataFrame, send_day: date, product_code: str) -> BerkaLanding:
    """Map the checked experiment (:func:`check_experiment`) to the landing sources (pure)."""
    history_day = send_day - timedelta(days=1)
    last_day = send_day + timedelta(days=RESPONSE_WINDOW_DAYS)
    n = len(experiment)
    row = experiment["row"].to_numpy()
    customer_id = ids("C", row, CUSTOMER_ID_DIGITS)
    extract_stamp = f"{history_day.isoformat()}T{EXTRACT_CLOCK}Z"
    on_history_day = np.full(n, np.datetime64(history_day, "D"))
    on_send_day = np.full(n, np.datetime64(send_day, "D"))

    newbie = experiment["newbie"].to_numpy()
    tenure = np.where(newbie, NEWBIE_TENURE_DAYS, CUSTOMER_TENURE_DAYS).astype("timedelta64[D]")
    customers = _delivery(
        "customers",
        {
            "customer_id": customer_id,
            "first_name": pa.nulls(n, pa.string()),
            "last_name": pa.nulls(n, pa.string()),
            "national_id": ids("EM", row, 9),
            "email": pa.nulls(n, pa.string()),
            "phone": pa.nulls(n, pa.string()),
            "birth_date": pa.nulls(n, pa.date32()),  # no age in the file: unknown, never a placeholder
            "gender": pa.nulls(n, pa.string()),
            "region": pa.array(experiment["zip_code"].to_numpy(dtype=object), type=pa.string()),
            "occupation": pa.nulls(n, pa.string()),
            "monthly_income": pa.nulls(n, pa.decimal128(18, 2)),
            "customer_since": pa.array(on_history_day - tenure, type=pa.date32()),
            "has_marketing_consent": _constant(True, n, pa.bool_()),
            "updated_at": _constant(extract_stamp, n),
        },
        on_history_day,
    )

    yes_no = np.array(["no", "yes"], dtype=object)
    texts = {
        "history_segment": experiment["history_segment"].to_numpy(dtype=object),
        "purchase_channel": experiment["channel"].to_numpy(dtype=object),
        "bought_mens": yes_no[experiment["mens"].to_numpy(dtype=np.int64)],
        "bought_womens": yes_no[experiment["womens"].to_numpy(dtype=np.int64)],
        "newbie": yes_no[newbie.astype(np.int64)],
        "recency_months": experiment["recency"].astype(str).to_numpy(dtype=object),
    }
    values = {name: pa.array(v, type=pa.string()) for name, v in texts.items()}
    values["spend_12m"] = pc.cast(decimals(experiment["history_cents"].to_numpy()), pa.string())
    specs = attribute_specs(experiment)
    if [s.attribute for s in specs] != list(values):
        raise ValueError("attribute values and declarations differ")  # a programming error, not the data's
    attributes = _delivery(
        "customer_attributes",
        {
            "customer_id": pa.concat_arrays([customer_id] * len(values)),
            "attribute": pa.array(np.repeat(np.array(list(values), dtype=object), n), type=pa.string()),
            "value": pa.concat_arrays(list(values.values())),
            "valid_from": _constant(extract_stamp, n * len(values)),
        },
        np.tile(on_history_day, len(values)),
    )

    campaigns = _delivery(
        "campaigns",
        {
            "campaign_id": pa.array([arm.campaign_id for arm in ARMS]),
            "campaign_name": pa.array([arm.campaign_name for arm in ARMS]),
            "product_code": _constant(product_code, len(ARMS)),
            "channel": _constant("email", len(ARMS)),
            "start_date": _constant(send_day, len(ARMS), pa.date32()),
            "end_date": _constant(send_day, len(ARMS), pa.date32()),
            "response_window_days": _constant(RESPONSE_WINDOW_DAYS, len(ARMS), pa.int64()),
            "experiment_id": _constant(EXPERIMENT_ID, len(ARMS)),
        },
        np.full(len(ARMS), np.datetime64(send_day, "D")),
    )

    segment = experiment["segment"].to_numpy(dtype=object)
    is_control = segment == CONTROL_SEGMENT
    campaign_by_segment = {arm.segment: arm.campaign_id for arm in ARMS} | {CONTROL_SEGMENT: CONTROL_CAMPAIGN}
    campaign_id = pa.array(pd.Series(segment).map(campaign_by_segment).to_numpy(dtype=object), type=pa.string())
    contact_id = ids("EM", row, 7)
    contacted_at = np.datetime64(send_day, "s") + (SEND_START_SECONDS + (row - 1) % SEND_SPREAD_SECONDS).astype(
        "timedelta64[s]"
    )
    contacts = _delivery(
        "campaign_contacts",
        {
            "contact_id": contact_id,
            "campaign_id": campaign_id,
            "customer_id": customer_id,
            "contacted_at": _stamps(contacted_at),
            "channel": _constant("email", n),
            "is_control": pa.array(is_control, type=pa.bool_()),
            "delivery_status": pa.array(np.where(is_control, None, "delivered"), type=pa.string()),
            "list_row_id": pa.nulls(n, pa.string()),
            "attempt_number": _constant(1, n, pa.int64()),
            "previous_campaign_contacts": pa.nulls(n, pa.int64()),
            "days_since_previous_campaign": pa.nulls(n, pa.int64()),
            "previous_campaign_outcome": pa.nulls(n, pa.string()),
        },
        on_send_day,
    )

    visit_at, conversion_at = response_times(row, send_day)
    responses = []
    for kind, prefix, mask, at in (
        ("visited", "EMV", experiment["visit"].to_numpy(), visit_at),
        ("converted", "EMC", experiment["conversion"].to_numpy(), conversion_at),
    ):
        take = pa.array(np.flatnonzero(mask))
        k = int(mask.sum())
        amount = (
            decimals(experiment["spend_cents"].to_numpy()[mask])
            if kind == "converted"
            else pa.nulls(k, pa.decimal128(18, 2))
        )
        responses.append(
            pa.table(
                {
                    "response_id": ids(prefix, row[mask], 7),
                    "contact_id": contact_id.take(take),
                    "customer_id": customer_id.take(take),
                    "campaign_id": campaign_id.take(take),
                    "responded_at": _stamps(at[mask]),
                    "response_type": _constant(kind, k),
                    "amount": amount,
                    "dt": pa.array(at[mask].astype("datetime64[D]"), type=pa.date32()),
                }
            )
        )
    both = pa.concat_tables(responses)
    response_table = _delivery(
        "campaign_responses",
        {name: both.column(name) for name in both.column_names if name != "dt"},
        both.column("dt").to_numpy(zero_copy_only=False),
    )

    delivered = {
        "customers": customers,
        "customer_attributes": attributes,
        "campaigns": campaigns,
        "campaign_contacts": contacts,
        "campaign_responses": response_table,
    }
    deliveries = {source: delivered.get(source, _no_delivery(source)) for source in load_contract()}
    spend_without_conversion = (experiment["spend_cents"] > 0) & ~experiment["conversion"]
    report = {
        "history_day": history_day.isoformat(),
        "send_day": send_day.isoformat(),
        "conversions_without_visit": int((experiment["conversion"] & ~experiment["visit"]).sum()),
        # Spend lands only as a conversion's amount: these rows' spend is not delivered.
        "spend_without_conversion_not_delivered": {
            "rows": int(spend_without_conversion.sum()),
            "spend": round(int(experiment.loc[spend_without_conversion, "spend_cents"].sum()) / 100, 2),
        },
        "rows_per_source": {source: table.num_rows for source, table in deliveries.items()},
    }
    return BerkaLanding(history_day, last_day, deliveries, report)


def arm_summary(experiment: pd.DataFrame) -> dict:
    """Customers, visits, conversions and converted spend per ``segment`` of the file."""
    grouped = experiment.assign(
        converted_spend_cents=np.where(experiment["conversion"], experiment["spend_cents"], 0)
    ).groupby("segment")
    counts = grouped.agg(
        customers=("row", "size"),
        visits=("visit", "sum"),
        conversions=("conversion", "sum"),
        spend_cents=("converted_spend_cents", "sum"),
    ).reindex(list(SEGMENTS), fill_value=0)
    return {
        "customers_per_arm": {s: int(v) for s, v in counts["customers"].items()},
        "visits_per_arm": {s: int(v) for s, v in counts["visits"].items()},
        "conversions_per_arm": {s: int(v) for s, v in counts["conversions"].items()},
        "spend_per_arm": {s: round(int(v) / 100, 2) for s, v in counts["spend_cents"].items()},
    }


# ---- converting -----------------------------------------------------------------------------


def convert_email_experiment(
    source_csv: Path,
    settings: Settings,
    send_day: date = DEFAULT_SEND_DAY,
    product_code: str = DEFAULT_PRODUCT_CODE,
    overwrite: bool = False,
) -> dict:
    """Convert the experiment file into landing files under ``settings.landing_dir`` and declare its
    customer attributes.

    Refuses (before writing anything) a product the contract does not know, a bad file
    (:class:`EmailExperimentError`, naming row and column) and landing folders that already hold
    files unless ``overwrite``. Returns a summary: rows, customers, visits, conversions and
    converted spend per arm, what was not delivered as given, the days, files and seconds.
    """
    started = perf_counter()
    send_day = parse_run_date(send_day)
    products = load_contract()["campaigns"].column("product_code").allowed
    if product_code not in products:
        raise ValueError(f"product_code {product_code!r} is not one of the contract's products {list(products)}")
    experiment = read_experiment(source_csv)
    landing = build_landing(experiment, send_day, product_code)
    specs = attribute_specs(experiment)
    # Attributes another source declared stay declared; this experiment's replace their namesakes.
    ours = {spec.attribute for spec in specs}
    declared = [spec for spec in load_declaration(settings) if spec.attribute not in ours] + specs
    files = write_landing(landing, settings, overwrite=overwrite)
    declaration = write_declaration(settings, declared)
    return {
        "source": str(Path(source_csv).resolve()),
        "landing_dir": str(settings.landing_dir),
        "rows": len(experiment),
        **arm_summary(experiment),
        "first_day": landing.first_day.isoformat(),
        "last_day": landing.last_day.isoformat(),
        "days": len(landing.days),
        "files": files,
        "product_code": product_code,
        **landing.report,
        "ignored_columns": experiment.attrs["ignored_columns"],
        "attribute_declaration": str(declaration),
        "attributes_declared": [spec.attribute for spec in specs],
        "seconds": round(perf_counter() - started, 2),
    }


# ---- a synthetic file of the same shape -----------------------------------------------------

# Share of customers per history bucket and the bucket's dollar range (the real file's buckets).
HISTORY_BUCKETS = (
    ("1) $0 - $100", 29.99, 100.0, 0.36),
    ("2) $100 - $200", 100.0, 200.0, 0.22),
    ("3) $200 - $350", 200.0, 350.0, 0.19),
    ("4) $350 - $500", 350.0, 500.0, 0.10),
    ("5) $500 - $750", 500.0, 750.0, 0.08),
    ("6) $750 - $1,000", 750.0, 1000.0, 0.03),
    ("7) $1,000 +", 1000.0, 3500.0, 0.02),
)
# Visit and conversion rates per arm over the two weeks (the published experiment's).
FIXTURE_VISIT_RATE = {"Mens E-Mail": 0.182, "Womens E-Mail": 0.151, "No E-Mail": 0.106}
FIXTURE_CONVERSION_RATE = {"Mens E-Mail": 0.0125, "Womens E-Mail": 0.0088, "No E-Mail": 0.0057}


def _calibrated(logit: np.ndarray, target: float, weight: np.ndarray | float = 1.0) -> np.ndarray:
    """Probabilities ``sigmoid(logit + c)`` with the shift c that makes ``mean(weight * p)`` ``target``."""
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if (weight / (1 + np.exp(-(logit + middle)))).mean() < target:
            low = middle
        else:
            high = middle
    return 1 / (1 + np.exp(-(logit + (low + high) / 2)))


def write_fixture(path: Path, rows: int = 3000, seed: int = 0) -> Path:
    """Write a synthetic experiment file of the real one's shape (deterministic for a seed).

    One third of the customers per arm, at random. Visits ~10.6% (control), ~18% (men's e-mail),
    ~15% (women's); conversions ~0.6%, ~1.25%, ~0.9%, each after a visit; a conversion's
    spend ~$100, lognormal. The e-mails work more on recent and higher-history customers, the
    men's e-mail mostly on buyers of men's merchandise and the women's on buyers of women's.
    """
    rng = np.random.default_rng(seed)
    recency = rng.choice(np.arange(1, 13), rows, p=np.array([14, 10, 8, 7, 6, 7, 6, 5, 10, 11, 8, 8]) / 100)
    bucket = rng.choice(len(HISTORY_BUCKETS), rows, p=[b[3] for b in HISTORY_BUCKETS])
    low = np.array([b[1] for b in HISTORY_BUCKETS])[bucket]
    high = np.array([b[2] for b in HISTORY_BUCKETS])[bucket]
    history = np.round(low + (high - low) * rng.beta(1.2, 2.0, rows), 2)
    bought = rng.choice(3, rows, p=[0.45, 0.45, 0.10])  # men's only, women's only, both
    mens, womens = (bought != 1).astype(int), (bought != 0).astype(int)
    zip_code = rng.choice(["Suburban", "Urban", "Rural"], rows, p=[0.45, 0.40, 0.15])
    newbie = rng.integers(0, 2, rows)
    channel = rng.choice(["Web", "Phone", "Multichannel"], rows, p=[0.44, 0.44, 0.12])
    segment = rng.permutation(np.resize(np.array(SEGMENTS, dtype=object), rows))

    recent = (6.5 - recency) / 3.5  # +1.6 (1 month ago) ... -1.6 (12 months ago)
    wealth = (np.log(history) - np.log(history).mean()) / np.log(history).std()
    visit = np.zeros(rows, dtype=int)
    conversion = np.zeros(rows, dtype=int)
    for arm in SEGMENTS:
        in_arm = segment == arm
        mens_mail, womens_mail = arm == ARMS[0].segment, arm == ARMS[1].segment
        # The e-mail's pull: larger for recent, higher-history customers who buy what it shows.
        fits = np.where(mens_mail, mens, 0) + np.where(womens_mail, womens, 0)
        pull = (mens_mail or womens_mail) * (0.4 + 0.6 * fits) * (1 + 0.35 * recent + 0.35 * wealth)
        base = 0.35 * recent + 0.25 * wealth + 0.2 * (channel == "Multichannel") - 0.1 * newbie
        p_visit = _calibrated((base + pull)[in_arm], FIXTURE_VISIT_RATE[arm])
        visited = rng.random(in_arm.sum()) < p_visit
        # A conversion follows a visit: the buying probability is calibrated over the visitors' chances.
        p_buy = _calibrated((0.4 * wealth + 0.8 * pull)[in_arm], FIXTURE_CONVERSION_RATE[arm], weight=p_visit)
        visit[in_arm], conversion[in_arm] = visited, visited & (rng.random(in_arm.sum()) < p_buy)
    spend = np.where(conversion == 1, np.round(np.maximum(100 * rng.lognormal(-0.18, 0.6, rows), 10.0), 2), 0.0)

    frame = pd.DataFrame(
        {
            "recency": recency,
            "history_segment": np.array([b[0] for b in HISTORY_BUCKETS], dtype=object)[bucket],
            "history": [f"{v:.2f}" for v in history],
            "mens": mens,
            "womens": womens,
            "zip_code": zip_code,
            "newbie": newbie,
            "channel": channel,
            "segment": segment,
            "visit": visit,
            "conversion": conversion,
            "spend": [f"{v:.2f}" if v else "0" for v in spend],
        }
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


# ---- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.adapters.email_experiment",
        description="Turn a randomised e-mail experiment (Hillstrom shape) into landing files of the contract.",
    )
    parser.add_argument("--source", required=True, help="the experiment CSV (one row per customer)")
    parser.add_argument("--data-dir", default=None, help="root of the platform's state (default: the DATA_DIR setting)")
    parser.add_argument(
        "--send-day", default=DEFAULT_SEND_DAY.isoformat(), help="day the e-mails went out (default: %(default)s)"
    )
    parser.add_argument(
        "--product-code",
        default=DEFAULT_PRODUCT_CODE,
        help="the bank product the retailer's offer stands for (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace landing files already in the data dir")
    args = parser.parse_args(argv)
    summary = convert_email_experiment(
        Path(args.source).expanduser(),
        _settings_for(args.data_dir),
        send_day=parse_run_date(args.send_day),
        product_code=args.product_code,
        overwrite=args.overwrite,
    )
    print(json.dumps(summary, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
