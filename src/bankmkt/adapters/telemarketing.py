"""A bank's telemarketing campaign extract ("bank marketing" shape) as landing files of the contract.

The public UCI "Bank Marketing" data (Moro, Cortez and Rita, 2014) is one row per client
called by a Portuguese bank's term-deposit telemarketing, May 2008 to November 2010, in the
order of the calls, without a year. :func:`convert_telemarketing` reads such an extract
(never changing it) and writes ``landing/<source>/dt=YYYY-MM-DD/<source>.csv`` for every
source of the contract and every day from the first to the last call day, and the
declaration of the attributes it delivers (``reference/customer_attributes.csv``).

Two variants are recognised by their header (``;``-separated, strings double-quoted):

- **additional** (``bank-additional-full.csv``): ``age;job;marital;education;default;housing;
  loan;contact;month;day_of_week;duration;campaign;pdays;previous;poutcome;emp.var.rate;
  cons.price.idx;cons.conf.idx;euribor3m;nr.employed;y``; ``pdays`` 999 = never contacted
  before; ``poutcome`` nonexistent / failure / success.
- **full** (``bank-full.csv``): ``age;job;marital;education;default;balance;housing;loan;
  contact;day;month;duration;campaign;pdays;previous;poutcome;y``; ``pdays`` -1 = never;
  ``poutcome`` unknown / other / failure / success; ``contact`` may be unknown.

The value ``unknown`` (or an empty field) is unknown and lands empty, never imputed.

Mapping (row n is the n-th data row, 1-based; the call day D is the contact's delivery day ``dt``; the
customer and its attributes are delivered on D - 1: the bank knew the customer before it phoned, and the
features known at the call, from the start of D, then hold them):

| extract field | landing | rule |
|---|---|---|
| row number n | `customers.customer_id`, `customers.national_id`, `campaign_contacts.contact_id`, `campaign_responses.response_id` | `C` + 7 digits, `TM` + 9 digits, `TM` + 8 digits, `TMR` + 8 digits: one customer and one contact per row |
| `month`, file order | the year of every date | `start_year` (default 2008) for the first row, plus one each time the month goes backwards from one row to the next (a month followed directly by the same month a year later cannot be told apart) |
| `day` (full) | call day D | that day of the month; a day that does not exist in the month, or that goes backwards within a month block, is refused |
| `day_of_week` (additional) | call day D | within a (year, month) block, its n rows of weekday w in file order (k = 0..n-1) go to the d days of that month that are a w, the ⌊(2k+1)·d / 2n⌋-th of them (0-based): evenly spread, in file order, deterministic |
| order of the rows within D | `campaign_contacts.contacted_at` | 09:00:00 UTC + ⌊r·32400 / m⌋ seconds for the r-th (0-based, file order) of the day's m calls: from 09:00:00 to at most 17:59:59 |
| `age` | `customers.birth_date` | D − `age` years − 182 days (the age at the call is exactly `age`) |
| `job` | `customers.occupation`; attribute `job` | retired, student, unemployed as they are; self-employed and entrepreneur → self_employed; unknown → empty; every other job → employee. The attribute keeps the bank's own job |
| `marital`, `education` | attributes `marital`, `education` | category, as written |
| `default` | attribute `credit_default` | category (no / yes) |
| `housing`, `loan` | attributes `housing_loan`, `personal_loan` | category (no / yes) |
| `contact` | `campaign_contacts.channel`; attribute `phone_type` | channel `phone`, empty when `contact` is unknown; the attribute is cellular / telephone |
| `balance` (full) | attribute `balance` | number, as written (EUR, may be negative) |
| `emp.var.rate`, `cons.price.idx`, `cons.conf.idx`, `euribor3m`, `nr.employed` (additional) | attributes `emp_var_rate`, `cons_price_idx`, `cons_conf_idx`, `euribor3m`, `nr_employed` | number, as written: the economic context of the call day |
| `campaign` | `campaign_contacts.attempt_number` | as is (1 = first call of this campaign to the client) |
| `previous` | `campaign_contacts.previous_campaign_contacts` | as is |
| `pdays` | `campaign_contacts.days_since_previous_campaign` | as is; empty for 999 (additional) or -1 (full): never contacted before |
| `poutcome` | `campaign_contacts.previous_campaign_outcome` | success, failure, other; empty for nonexistent / unknown |
| `y` | `campaign_responses` | yes: one `converted` response at `contacted_at` + 1 second (same day), amount empty; no: none |
| `duration` | not delivered | the call's length is known only when the call ends, with its outcome (a 0-second call never converts): as a feature it leaks the label |
| (none) | `customers` on D − 1 | `customer_since` D − 1, `updated_at` D − 1 00:00:00Z, `has_marketing_consent` true; names, e-mail, phone, gender, region, monthly_income empty |
| (none) | `customer_attributes` on D − 1 | one row per customer and attribute, `valid_from` D − 1 00:00:00Z; declared in `reference/customer_attributes.csv`, a category's values being those seen in the file (sorted) |
| (none) | `campaigns` on the first call day | one campaign `TELEMARKETING` "Term deposit telemarketing", product `term_deposit`, channel `phone`, start and end date the first and last call day, response window 1 day, no experiment |
| (none) | `campaign_contacts` | campaign `TELEMARKETING`, `is_control` false, `delivery_status` delivered, `list_row_id` empty |
| (none) | every other source | a header-only file every day |

Every row is delivered: a row that cannot be mapped stops the conversion with its row and
line number, its column and its value; nothing is dropped. :func:`write_fixture` writes a
synthetic extract of either variant with the real data's structure, for tests and demos
(the real file is not shipped).

Command line: ``python -m bankmkt.adapters.telemarketing --source FILE [--data-dir P]
[--start-year Y] [--overwrite]`` prints the summary as JSON.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import dataclasses
import json
import sys
from datetime import date
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bankmkt.adapters.berka import BerkaLanding, _settings_for, write_landing
from bankmkt.attributes import AttributeSpec, load_declaration, write_declaration
from bankmkt.contract.schema import load_contract
from bankmkt.generator.landing import contract_columns, empty_delivery, ids
from bankmkt.settings import Settings

DELIMITER = ";"
ADDITIONAL_COLUMNS = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "housing",
    "loan",
    "contact",
    "month",
    "day_of_week",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "emp.var.rate",
    "cons.price.idx",
    "cons.conf.idx",
    "euribor3m",
    "nr.employed",
    "y",
)
FULL_COLUMNS = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
)
VARIANTS = {"additional": ADDITIONAL_COLUMNS, "full": FULL_COLUMNS}
# pdays of a client never contacted by an earlier campaign.
NEVER_CONTACTED_PDAYS = {"additional": 999, "full": -1}
DEFAULT_START_YEAR = 2008

UNKNOWN = "unknown"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

CAMPAIGN_ID = "TELEMARKETING"
CAMPAIGN_NAME = "Term deposit telemarketing"
PRODUCT_CODE = "term_deposit"
CHANNEL = "phone"
RESPONSE_WINDOW_DAYS = 1  # the outcome (y) is known when the call ends

# Calls from 09:00:00 to 17:59:59 UTC: the day's calls spread over these seconds in file order.
FIRST_CALL_SECOND = 9 * 3600
CALL_SECONDS = 9 * 3600
RESPONSE_DELAY_SECONDS = 1
# birth_date = call day - age years - this: the client's birthday lies half a year before the call.
HALF_YEAR_DAYS = 182
MAX_AGE = 120

OCCUPATION_BY_JOB = {
    "retired": "retired",
    "student": "student",
    "unemployed": "unemployed",
    "self-employed": "self_employed",
    "entrepreneur": "self_employed",
}
DEFAULT_OCCUPATION = "employee"  # admin., blue-collar, management, services, technician, housemaid...
OUTCOME_BY_POUTCOME = {"success": "success", "failure": "failure", "other": "other", "nonexistent": None, UNKNOWN: None}

# Attribute -> (extract column, description). Categories first, then numbers.
CATEGORY_ATTRIBUTES = {
    "job": ("job", "Job as the bank records it (admin., blue-collar, technician...)"),
    "marital": ("marital", "Marital status (divorced includes widowed)"),
    "education": ("education", "Highest education"),
    "credit_default": ("default", "Has credit in default"),
    "housing_loan": ("housing", "Has a housing loan"),
    "personal_loan": ("loan", "Has a personal loan"),
    "phone_type": ("contact", "Phone the client was called on: cellular or telephone (landline)"),
}
NUMBER_ATTRIBUTES = {
    "full": {"balance": ("balance", "Average yearly balance (EUR)")},
    "additional": {
        "emp_var_rate": ("emp.var.rate", "Employment variation rate on the call day (quarterly indicator)"),
        "cons_price_idx": ("cons.price.idx", "Consumer price index on the call day (monthly indicator)"),
        "cons_conf_idx": ("cons.conf.idx", "Consumer confidence index on the call day (monthly indicator)"),
        "euribor3m": ("euribor3m", "Euribor 3-month rate on the call day (daily indicator)"),
        "nr_employed": ("nr.employed", "Number of employees, thousands, on the call day (quarterly indicator)"),
    },
}
FIELDS_NOT_DELIVERED = {
    "duration": "the call's length is known only when the call ends, together with its outcome "
    "(a 0-second call never converts): delivered, it would leak the label into any model"
}


class TelemarketingInputError(ValueError):
    """The extract cannot be converted; the message names the row, the line, the column and the value."""


# ---- reading --------------------------------------------------------------------------------


def detect_variant(header: list[str], where: str = "extract") -> str:
    """``additional`` or ``full`` from the header's column names; refuses a header of neither shape."""
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise TelemarketingInputError(f"{where}: the header repeats {duplicated}")
    present = set(header)
    variant = max(VARIANTS, key=lambda name: len(present & set(VARIANTS[name])))
    expected = VARIANTS[variant]
    missing = [c for c in expected if c not in present]
    unexpected = [c for c in header if c not in expected]
    if missing or unexpected:
        raise TelemarketingInputError(
            f"{where}: the header is not the {variant!r} variant's: "
            + "; ".join(
                part
                for part in (
                    f"missing columns {missing}" if missing else "",
                    f"unexpected columns {unexpected}" if unexpected else "",
                )
                if part
            )
            + f" (expected {DELIMITER.join(expected)})"
        )
    return variant


def read_extract(source_csv: Path) -> tuple[str, pd.DataFrame, dict]:
    """The extract's variant, its rows as stripped text (indexed by line number), and reading counts.

    Refuses a header that is not ``;``-separated, a header of neither variant and a row
    whose number of fields differs from the header's. Blank lines are skipped and counted.
    """
    source_csv = Path(source_csv)
    with source_csv.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=DELIMITER, quotechar='"')
        header = next(reader, None)
        if not header:
            raise TelemarketingInputError(f"{source_csv}: empty file, expected a header line")
        if len(header) == 1:
            seen = next((d for d in (",", "\t", "|") if d in header[0]), None)
            raise TelemarketingInputError(
                f"{source_csv}: wrong delimiter: the header is not {DELIMITER!r}-separated"
                + (f" (it is {seen!r}-separated)" if seen else "")
            )
        header = [name.strip() for name in header]
        variant = detect_variant(header, str(source_csv))
        rows, lines, blank = [], [], 0
        for fields in reader:
            if not fields or fields == [""]:
                blank += 1
                continue
            if len(fields) != len(header):
                raise TelemarketingInputError(
                    f"{source_csv}: row {len(rows) + 1} (line {reader.line_num}) has {len(fields)} fields, "
                    f"the header {len(header)}" + (" (wrong delimiter?)" if len(fields) == 1 else "")
                )
            rows.append(fields)
            lines.append(reader.line_num)
    if not rows:
        raise TelemarketingInputError(f"{source_csv}: no rows after the header")
    # Indexed by line number, so that a refusal can name the line as well as the row.
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"), dtype="string")
    frame = frame.apply(lambda column: column.str.strip())
    return variant, frame, {"rows_read": len(frame), "blank_lines_skipped": blank}


# ---- decoders (pure, vectorised) ------------------------------------------------------------


def _refuse(frame: pd.DataFrame, column: str, bad: np.ndarray | pd.Series, what: str) -> None:
    """Raise for the first row where ``bad`` holds, with its row, line, column and value."""
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    at = int(np.flatnonzero(bad)[0])
    line = f" (line {frame.index[at]})" if frame.index.name == "line" else ""
    more = int(bad.sum()) - 1
    raise TelemarketingInputError(
        f"row {at + 1}{line}, column {column}: {frame[column].iloc[at]!r} {what}"
        + (f"; {more} more row(s) like it" if more else "")
    )


def parse_integers(frame: pd.DataFrame, column: str, low: int, high: int) -> np.ndarray:
    """``column`` as int64; refuses a value that is not a whole number in ``low..high``."""
    number = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(number) | (number != np.round(number)) | (number < low) | (number > high)
    _refuse(frame, column, bad, f"is not a whole number from {low} to {high}")
    return number.astype("int64")


def parse_numbers(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as written, empty or ``unknown`` as <NA>; refuses text that is not a finite number."""
    text = frame[column].mask(frame[column].isin(["", UNKNOWN]))
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    _refuse(frame, column, text.notna().to_numpy() & ~np.isfinite(number), "is not a number")
    return text


def parse_codes(frame: pd.DataFrame, column: str, vocabulary: tuple[str, ...]) -> np.ndarray:
    """Position of each (case-insensitive) value in ``vocabulary``; refuses any other value."""
    code = frame[column].str.lower().map({v: i for i, v in enumerate(vocabulary)})
    _refuse(frame, column, code.isna().to_numpy(), f"is not one of {', '.join(vocabulary)}")
    return code.to_numpy(dtype="int64")


def known(values: pd.Series) -> pd.Series:
    """The values with ``unknown`` (and empty) as <NA>."""
    return values.mask(values.str.lower().isin(["", UNKNOWN]))


def call_years(months: np.ndarray, start_year: int) -> np.ndarray:
    """The year of each row: ``start_year``, plus one each time the month goes backwards."""
    backwards = np.concatenate([[0], (np.diff(months) < 0).astype("int64")])
    return start_year + np.cumsum(backwards)


def _days_in_month(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    first = _first_of_month(years, months)
    following = _first_of_month(years + months // 12, months % 12 + 1)
    return (following - first).astype("int64")


def _first_of_month(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    return ((years - 1970) * 12 + (months - 1)).astype("datetime64[M]").astype("datetime64[D]")


def days_from_weekday(years: np.ndarray, months: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    """Call days (datetime64[D]) of rows that give only their weekday (0 = Monday).

    Within each (year, month) block the n rows of weekday w, in file order (k = 0..n-1),
    go to the d days of the month that are a w: the ⌊(2k+1)·d / 2n⌋-th of them.
    """
    first = _first_of_month(years, months)
    # 1970-01-01 was a Thursday (weekday 3).
    first_weekday = (first.astype("int64") + 3) % 7
    offset = (weekdays - first_weekday) % 7  # first day of the month with that weekday, 0-based
    matching = (_days_in_month(years, months) - 1 - offset) // 7 + 1
    groups = pd.DataFrame({"block": years * 12 + months, "weekday": weekdays}).groupby(["block", "weekday"], sort=False)
    k = groups.cumcount().to_numpy()
    n = groups["block"].transform("size").to_numpy()
    week = (2 * k + 1) * matching // (2 * n)
    return first + (offset + 7 * week).astype("timedelta64[D]")


def days_from_day(frame: pd.DataFrame, years: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Call days from the ``day`` column; refuses a day the month lacks or one going back in a month block."""
    days = parse_integers(frame, "day", 1, 31)
    _refuse(frame, "day", days > _days_in_month(years, months), "is not a day of its month")
    block = years * 12 + months
    same_block = np.concatenate([[False], block[1:] == block[:-1]])
    backwards = same_block & (np.diff(days, prepend=days[0]) < 0)
    _refuse(
        frame,
        "day",
        backwards,
        "goes back from the day of the row before within the same month: the rows are not in call order",
    )
    return _first_of_month(years, months) + (days - 1).astype("timedelta64[D]")


def call_seconds(call_days: np.ndarray) -> np.ndarray:
    """Second of the day of each call: the day's calls from 09:00:00 on, evenly, in file order."""
    groups = pd.Series(call_days).groupby(call_days, sort=False)
    rank = groups.cumcount().to_numpy()
    calls = groups.transform("size").to_numpy()
    return FIRST_CALL_SECOND + rank * CALL_SECONDS // calls


def birth_dates(call_days: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """Call day minus ``ages`` years (29 February → 28 February), minus half a year."""
    day = pd.DatetimeIndex(call_days)
    years = day.year.to_numpy() - ages
    months = day.month.to_numpy()
    same_day = np.minimum(day.day.to_numpy(), _days_in_month(years, months))
    anniversary = _first_of_month(years, months) + (same_day - 1).astype("timedelta64[D]")
    return anniversary - np.timedelta64(HALF_YEAR_DAYS, "D")


def occupation(jobs: pd.Series) -> pd.Series:
    """Occupation group of the contract from the bank's job (unknown: <NA>)."""
    job = known(jobs).str.lower()
    return job.map(OCCUPATION_BY_JOB).where(job.isna() | job.isin(list(OCCUPATION_BY_JOB)), DEFAULT_OCCUPATION)


@dataclasses.dataclass
class Calls:
    """The decoded extract: one row per call, in file order, with the day and second of the call."""

    variant: str
    rows: pd.DataFrame  # the extract's text columns, stripped
    row_number: np.ndarray
    call_day: np.ndarray  # datetime64[D]
    call_second: np.ndarray
    age: np.ndarray
    attempt: np.ndarray
    previous: np.ndarray
    pdays: pd.Series  # Int64, <NA> = never contacted before
    outcome: pd.Series  # success / failure / other, <NA> = none or unknown
    converted: np.ndarray
    phoned: np.ndarray  # False where the contact type is unknown


def decode_calls(frame: pd.DataFrame, variant: str, start_year: int = DEFAULT_START_YEAR) -> Calls:
    """Decode and check every field the landing needs (pure: reads the frame, writes nothing)."""
    months = parse_codes(frame, "month", MONTHS) + 1
    years = call_years(months, start_year)
    this_year = date.today().year
    _refuse(
        frame,
        "month",
        years > this_year,
        f"would fall in a year after {this_year}: the month goes backwards {int(years[-1] - start_year)} times "
        "in the file, so the rows are not in call order (the 10% samples bank.csv and bank-additional.csv are "
        "shuffled; convert the -full files)",
    )
    if variant == "full":
        call_day = days_from_day(frame, years, months)
    else:
        call_day = days_from_weekday(years, months, parse_codes(frame, "day_of_week", WEEKDAYS))
    pdays = parse_integers(frame, "pdays", -1 if variant == "full" else 0, 36500 if variant == "full" else 999)
    never = pdays == NEVER_CONTACTED_PDAYS[variant]
    poutcome = frame["poutcome"].str.lower()
    _refuse(frame, "poutcome", ~poutcome.isin(list(OUTCOME_BY_POUTCOME)), f"is not one of {list(OUTCOME_BY_POUTCOME)}")
    converted = parse_codes(frame, "y", ("no", "yes")) == 1
    # The declaration separates a category's values with ';': such a value could not be declared.
    for column in ("job", "marital", "education", "default", "housing", "loan", "contact"):
        _refuse(frame, column, frame[column].str.contains(DELIMITER, regex=False), f"contains {DELIMITER!r}")
    return Calls(
        variant=variant,
        rows=frame,
        row_number=np.arange(1, len(frame) + 1),
        call_day=call_day,
        call_second=call_seconds(call_day),
        age=parse_integers(frame, "age", 0, MAX_AGE),
        attempt=parse_integers(frame, "campaign", 1, 1000),
        previous=parse_integers(frame, "previous", 0, 10000),
        pdays=pd.Series(pdays, dtype="Int64").mask(never),
        outcome=poutcome.map(OUTCOME_BY_POUTCOME).astype("string"),
        converted=converted,
        phoned=known(frame["contact"]).notna().to_numpy(),
    )


# ---- the landing batch ----------------------------------------------------------------------

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _stamps(days: np.ndarray, seconds: np.ndarray | int = 0) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SSZ`` of each day plus a second of the day."""
    moments = days.astype("datetime64[s]") + np.asarray(seconds, dtype="int64").astype("timedelta64[s]")
    return pc.strftime(pa.array(moments), format=TIMESTAMP_FORMAT)


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype="datetime64[D]"), type=pa.date32())


def _text(values) -> pa.Array:
    """Strings, <NA> and None as null."""
    return pa.array(pd.Series(values, dtype="string").to_numpy(dtype=object, na_value=None), type=pa.string())


def _constant(value, rows: int, type_=pa.string()) -> pa.Array:
    return pa.array([value] * rows, type=type_)


def _table(source: str, columns: dict[str, pa.Array], dt: np.ndarray) -> pa.Table:
    """Every contract column (null where not given) plus ``dt``, sorted by day then key."""
    unknown = set(columns) - set(contract_columns(source))
    if unknown:
        raise ValueError(f"{source}: columns {sorted(unknown)} are not in the contract")
    rows = len(dt)
    full = {name: columns.get(name, pa.nulls(rows, pa.string())) for name in contract_columns(source)}
    key = contract_columns(source)[0]
    table = pa.table({**full, "dt": _dates(dt)})
    return table.sort_by([("dt", "ascending"), (key, "ascending")])


def _empty(source: str) -> pa.Table:
    return empty_delivery(source).append_column("dt", pa.array([], type=pa.date32()))


def attribute_specs(calls: Calls) -> list[AttributeSpec]:
    """The declaration: every category with the values seen in the extract (sorted), then the numbers."""
    specs = []
    for attribute, (column, description) in CATEGORY_ATTRIBUTES.items():
        values = sorted(set(known(calls.rows[column]).dropna()))
        specs.append(AttributeSpec(attribute, "category", tuple(values), description))
    for attribute, (_, description) in NUMBER_ATTRIBUTES[calls.variant].items():
        specs.append(AttributeSpec(attribute, "number", (), description))
    return specs


def _attribute_values(calls: Calls) -> dict[str, pd.Series]:
    values = {attribute: known(calls.rows[column]) for attribute, (column, _) in CATEGORY_ATTRIBUTES.items()}
    for attribute, (column, _) in NUMBER_ATTRIBUTES[calls.variant].items():
        values[attribute] = parse_numbers(calls.rows, column)
    return values


def build_landing(calls: Calls) -> tuple[BerkaLanding, list[AttributeSpec]]:
    """Map the decoded calls to every landing source, and the attribute declaration (pure)."""
    n = len(calls.row_number)
    day = calls.call_day
    # The bank knew the customer before it phoned: the profile and its attributes are delivered on
    # the day before the call, so the features of the call's time (known from the start of the call
    # day) hold them. The economic context is a monthly indicator, known before the call day too.
    known = day - np.timedelta64(1, "D")
    first_day, last_day = known.min(), day.max()
    customer_id = ids("C", calls.row_number, 7)
    contact_id = ids("TM", calls.row_number, 8)
    contacted_at = _stamps(day, calls.call_second)
    midnight = _stamps(known)
    no = pa.array(np.zeros(n, dtype=bool))

    customers = _table(
        "customers",
        {
            "customer_id": customer_id,
            "national_id": ids("TM", calls.row_number, 9),
            "birth_date": _dates(birth_dates(day, calls.age)),
            "occupation": _text(occupation(calls.rows["job"])),
            "customer_since": _dates(known),
            "has_marketing_consent": pa.array(np.ones(n, dtype=bool)),
            "updated_at": midnight,
        },
        known,
    )
    campaigns = _table(
        "campaigns",
        {
            "campaign_id": _constant(CAMPAIGN_ID, 1),
            "campaign_name": _constant(CAMPAIGN_NAME, 1),
            "product_code": _constant(PRODUCT_CODE, 1),
            "channel": _constant(CHANNEL, 1),
            "start_date": _dates(np.array([day.min()])),
            "end_date": _dates(np.array([last_day])),
            "response_window_days": _constant(RESPONSE_WINDOW_DAYS, 1, pa.int64()),
        },
        np.array([day.min()]),
    )
    contacts = _table(
        "campaign_contacts",
        {
            "contact_id": contact_id,
            "campaign_id": _constant(CAMPAIGN_ID, n),
            "customer_id": customer_id,
            "contacted_at": contacted_at,
            "channel": _text(np.where(calls.phoned, CHANNEL, None)),
            "is_control": no,
            "delivery_status": _constant("delivered", n),
            "attempt_number": pa.array(calls.attempt),
            "previous_campaign_contacts": pa.array(calls.previous),
            "days_since_previous_campaign": pa.array(calls.pdays.to_numpy(dtype=object, na_value=None), pa.int64()),
            "previous_campaign_outcome": _text(calls.outcome),
        },
        day,
    )
    yes = calls.converted
    responses = _table(
        "campaign_responses",
        {
            "response_id": ids("TMR", calls.row_number[yes], 8),
            "contact_id": contact_id.filter(pa.array(yes)),
            "customer_id": customer_id.filter(pa.array(yes)),
            "campaign_id": _constant(CAMPAIGN_ID, int(yes.sum())),
            "responded_at": _stamps(day[yes], calls.call_second[yes] + RESPONSE_DELAY_SECONDS),
            "response_type": _constant("converted", int(yes.sum())),
        },
        day[yes],
    )
    values = _attribute_values(calls)
    names = list(values)
    attributes = _table(
        "customer_attributes",
        {
            "customer_id": pa.concat_arrays([customer_id] * len(names)),
            "attribute": _text(np.repeat(names, n)),
            "value": _text(pd.concat(values.values(), ignore_index=True)),
            "valid_from": pa.concat_arrays([midnight] * len(names)),
        },
        np.tile(known, len(names)),
    )
    delivered = {
        "customers": customers,
        "campaigns": campaigns,
        "campaign_contacts": contacts,
        "campaign_responses": responses,
        "customer_attributes": attributes,
    }
    deliveries = {source: delivered.get(source, _empty(source)) for source in load_contract()}

    specs = attribute_specs(calls)
    first, last = pd.Timestamp(first_day).date(), pd.Timestamp(last_day).date()
    report = {
        "variant": calls.variant,
        "customers": customers.num_rows,
        "contacts": contacts.num_rows,
        "conversions": responses.num_rows,
        "conversion_rate": round(float(yes.mean()), 4),
        "rows": {source: table.num_rows for source, table in deliveries.items()},
        "years": sorted({int(y) for y in pd.DatetimeIndex(day).year}),
        "attributes": {
            spec.attribute: {
                "kind": spec.kind,
                "unknown": int(values[spec.attribute].isna().sum()),
                **({"categories": list(spec.categories)} if spec.is_category else {}),
            }
            for spec in specs
        },
        "contacts_without_channel": int((~calls.phoned).sum()),
        "never_contacted_before": int(calls.pdays.isna().sum()),
        "fields_not_delivered": FIELDS_NOT_DELIVERED,
    }
    return BerkaLanding(first, last, deliveries, report), specs


# ---- writing --------------------------------------------------------------------------------


def convert_telemarketing(
    source_csv: Path, settings: Settings, start_year: int = DEFAULT_START_YEAR, overwrite: bool = False
) -> dict:
    """Convert a telemarketing extract into landing files and the attribute declaration.

    Refuses, before writing anything, a bad extract (:class:`TelemarketingInputError`, naming
    the row, line, column and value) and landing folders that already hold files unless
    ``overwrite``; attributes other sources declared stay declared. Returns a summary: the
    variant, rows read, customers, contacts and conversions delivered, the days covered, rows
    per source, each attribute's unknown count, the fields not delivered and why, the seconds.
    """
    started = perf_counter()
    source_csv = Path(source_csv).expanduser().resolve()
    variant, frame, read = read_extract(source_csv)
    landing, specs = build_landing(decode_calls(frame, variant, start_year))
    # Attributes another source declared stay declared; this extract's replace their namesakes.
    ours = {spec.attribute for spec in specs}
    declared = [spec for spec in load_declaration(settings) if spec.attribute not in ours] + specs
    files = write_landing(landing, settings, overwrite=overwrite)
    declaration = write_declaration(settings, declared)
    return {
        "source": str(source_csv),
        "landing_dir": str(settings.landing_dir),
        "declaration": str(declaration),
        **read,
        "first_day": landing.first_day.isoformat(),
        "last_day": landing.last_day.isoformat(),
        "days": len(landing.days),
        "files": files,
        **landing.report,
        "seconds": round(perf_counter() - started, 2),
    }


# ---- a synthetic extract ----------------------------------------------------------------------

# Shares of the real files (bank-additional-full: 41,188 rows; bank-full: 45,211 rows).
JOB_SHARES = {
    "additional": {
        "admin.": 0.253,
        "blue-collar": 0.225,
        "technician": 0.164,
        "services": 0.096,
        "management": 0.071,
        "retired": 0.042,
        "entrepreneur": 0.035,
        "self-employed": 0.035,
        "housemaid": 0.026,
        "unemployed": 0.025,
        "student": 0.021,
        UNKNOWN: 0.008,
    },
    "full": {
        "blue-collar": 0.215,
        "management": 0.209,
        "technician": 0.168,
        "admin.": 0.114,
        "services": 0.092,
        "retired": 0.050,
        "self-employed": 0.035,
        "entrepreneur": 0.033,
        "unemployed": 0.029,
        "housemaid": 0.027,
        "student": 0.021,
        UNKNOWN: 0.007,
    },
}
EDUCATION_SHARES = {
    "additional": {
        "university.degree": 0.295,
        "high.school": 0.231,
        "basic.9y": 0.147,
        "professional.course": 0.127,
        "basic.4y": 0.101,
        "basic.6y": 0.056,
        UNKNOWN: 0.042,
        "illiterate": 0.001,
    },
    "full": {"secondary": 0.513, "tertiary": 0.294, "primary": 0.151, UNKNOWN: 0.042},
}
DEFAULT_SHARES = {"additional": {"no": 0.79, UNKNOWN: 0.209, "yes": 0.001}, "full": {"no": 0.982, "yes": 0.018}}
CONTACT_SHARES = {
    "additional": {"cellular": 0.635, "telephone": 0.365},
    "full": {"cellular": 0.91, "telephone": 0.09},  # where recorded: 29% unknown, nearly all May-June 2008
}
PREVIOUS_OUTCOME_SHARES = {
    "additional": {"failure": 0.75, "success": 0.25},
    "full": {"failure": 0.59, "other": 0.22, "success": 0.19},
}
# Log-odds of a conversion (before the intercept that sets the overall rate).
OUTCOME_EFFECT = {"success": 3.3, "failure": 0.35, "other": 0.6}
JOB_EFFECT = {
    "student": 1.2,
    "retired": 1.0,
    "unemployed": 0.3,
    "admin.": 0.15,
    "blue-collar": -0.35,
    "services": -0.2,
}
TARGET_CONVERSION_RATE = 0.113


def _draw(rng: np.random.Generator, shares: dict[str, float], size: int) -> np.ndarray:
    values = np.array(list(shares), dtype=object)
    weights = np.array(list(shares.values()))
    return values[rng.choice(len(values), size=size, p=weights / weights.sum())]


def write_fixture(path: Path, rows: int = 2000, months: int = 6, variant: str = "additional", seed: int = 0) -> Path:
    """Write a synthetic extract of ``variant`` with the real data's structure; deterministic for a seed.

    Month blocks in call order from May (of ``DEFAULT_START_YEAR``) over ``months`` months,
    weekday calls; job, marital, education, default, housing, loan and contact shares like
    the real files (about 3% unknown job or education, 21% unknown default in the additional
    variant); ``campaign`` skewed from 1; 87% never contacted before; economic indicators
    drifting by month; about 11% conversions, more after an earlier success (~65%), on
    cellular, for students and the retired, in months of low euribor3m and nr.employed,
    fewer with more attempts. ``duration`` follows the outcome, as in the real data.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {list(VARIANTS)}, not {variant!r}")
    if rows < months or months < 1:
        raise ValueError(f"need at least one row per month ({rows} rows, {months} months)")
    rng = np.random.default_rng(seed)

    # Month blocks: May is the biggest, as in the real file; every month has a row.
    weights = rng.gamma(2.0, size=months) + np.r_[2.0, np.zeros(months - 1)]
    block = np.repeat(np.arange(months), 1 + rng.multinomial(rows - months, weights / weights.sum()))
    month = (4 + block) % 12 + 1
    year = DEFAULT_START_YEAR + (4 + block) // 12
    day = np.empty(rows, dtype="int64")
    for b in range(months):
        here = block == b
        y, m = int(year[here][0]), int(month[here][0])
        weekdays = [d for d in range(1, calendar.monthrange(y, m)[1] + 1) if calendar.weekday(y, m, d) < 5]
        day[here] = np.sort(rng.choice(weekdays, size=int(here.sum())))
    weekday = np.array([calendar.weekday(int(y), int(m), int(d)) for y, m, d in zip(year, month, day)])

    # The economy worsens month by month (a random walk with a drift): rates and employment fall.
    crisis = np.clip(np.cumsum(rng.normal(0.18, 0.12, months)) - 0.18, 0, 1)
    c = crisis[block]
    euribor = np.round(4.95 - 4.1 * c - 0.003 * day + rng.normal(0, 0.004, rows), 3)
    emp_var_rate = np.round(1.4 - 4.8 * crisis, 1)[block]
    cons_price_idx = np.round(93.99 - 1.2 * crisis + rng.normal(0, 0.25, months), 3)[block]
    cons_conf_idx = np.round(-36.4 - 8.0 * crisis + rng.normal(0, 3.0, months), 1)[block]
    nr_employed = np.round(5228.1 - 240.0 * crisis, 1)[block]

    job = _draw(rng, JOB_SHARES[variant], rows)
    age = np.clip(np.round(rng.normal(39, 9.5, rows)), 20, 64)
    age = np.where(job == "student", np.clip(np.round(18 + rng.gamma(2.5, 3.0, rows)), 17, 40), age)
    age = np.where(job == "retired", np.clip(np.round(rng.normal(63, 9, rows)), 45, 98), age).astype("int64")
    young = age < 30
    marital = np.where(
        young,
        _draw(rng, {"single": 0.6, "married": 0.36, "divorced": 0.035, UNKNOWN: 0.005}, rows),
        _draw(rng, {"married": 0.67, "single": 0.19, "divorced": 0.135, UNKNOWN: 0.002}, rows),
    )
    education = _draw(rng, EDUCATION_SHARES[variant], rows)
    degree = "university.degree" if variant == "additional" else "tertiary"
    education = np.where((job == "management") & (rng.random(rows) < 0.5), degree, education)
    default = _draw(rng, DEFAULT_SHARES[variant], rows)
    housing = _draw(rng, {"yes": 0.524, "no": 0.452, UNKNOWN: 0.024}, rows)
    loan = np.where(housing == UNKNOWN, UNKNOWN, _draw(rng, {"no": 0.845, "yes": 0.155}, rows))
    contact = _draw(rng, CONTACT_SHARES[variant], rows)
    if variant == "full":  # the real file's unknown contacts are those of its first months
        early = block < max(1, months // 3)
        contact = np.where(early & (rng.random(rows) < 0.8), UNKNOWN, contact)
    attempt = np.minimum(rng.geometric(0.42, rows) + (rng.random(rows) < 0.03) * rng.geometric(0.1, rows), 56)
    previous = np.where(rng.random(rows) < 0.87, 0, np.minimum(rng.geometric(0.55, rows), 7))
    outcome = np.where(previous > 0, _draw(rng, PREVIOUS_OUTCOME_SHARES[variant], rows), "")
    balance = np.round(np.exp(rng.normal(6.2, 1.6, rows)) * (age / 40))
    balance = np.where(rng.random(rows) < 0.08, -np.round(rng.gamma(1.5, 300, rows)), np.minimum(balance, 100_000))
    balance = np.where(rng.random(rows) < 0.08, 0, balance).astype("int64")

    score = (
        pd.Series(outcome).map(OUTCOME_EFFECT).fillna(0).to_numpy()
        + pd.Series(job).map(JOB_EFFECT).fillna(0).to_numpy()
        + np.select([contact == "cellular", contact == UNKNOWN], [0.85, -0.6], 0.0)
        - 0.12 * (np.minimum(attempt, 10) - 1)
        + 1.8 * c
        + 0.025 * np.maximum(age - 60, 0)
        + 0.04 * np.maximum(28 - age, 0)
        - 0.35 * (housing == "yes")
        - 0.25 * (loan == "yes")
        - 0.45 * (default == UNKNOWN)
        + 0.2 * (education == degree)
        + 0.15 * (marital == "single")
        + (0.12 * (np.log1p(np.maximum(balance, 0)) - 6) if variant == "full" else 0)
    )
    low, high = -12.0, 6.0  # the intercept that gives the target rate, by bisection
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (
            (middle, high) if (1 / (1 + np.exp(-(score + middle)))).mean() < TARGET_CONVERSION_RATE else (low, middle)
        )
    converted = rng.random(rows) < 1 / (1 + np.exp(-(score + low)))
    duration = np.round(np.where(converted, rng.lognormal(6.1, 0.5, rows), rng.lognormal(5.2, 0.75, rows)))

    never = NEVER_CONTACTED_PDAYS[variant]
    if variant == "additional":
        recent = rng.integers(1, 16, rows)
        known_pdays = (outcome == "success") & (rng.random(rows) < 0.9) | (outcome == "failure") & (
            rng.random(rows) < 0.1
        )
        pdays = np.where(known_pdays, recent, never)
        poutcome = np.where(previous > 0, outcome, "nonexistent")
    else:
        pdays = np.where(previous > 0, rng.integers(30, 400, rows), never)
        poutcome = np.where(previous > 0, outcome, UNKNOWN)

    columns = {
        "age": age,
        "job": job,
        "marital": marital,
        "education": education,
        "default": default,
        "balance": balance,
        "housing": housing,
        "loan": loan,
        "contact": contact,
        "month": np.array(MONTHS, dtype=object)[month - 1],
        "day": day,
        "day_of_week": np.array(WEEKDAYS, dtype=object)[weekday],
        "duration": duration.astype("int64"),
        "campaign": attempt.astype("int64"),
        "pdays": pdays.astype("int64"),
        "previous": previous.astype("int64"),
        "poutcome": poutcome,
        "emp.var.rate": emp_var_rate,
        "cons.price.idx": cons_price_idx,
        "cons.conf.idx": cons_conf_idx,
        "euribor3m": euribor,
        "nr.employed": nr_employed,
        "y": np.where(converted, "yes", "no"),
    }
    extract = pd.DataFrame({name: columns[name] for name in VARIANTS[variant]})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # As the real files: ';', strings (and the header) double-quoted, numbers bare.
    extract.to_csv(path, sep=DELIMITER, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    return path


# ---- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.adapters.telemarketing",
        description="Turn a bank telemarketing extract (UCI Bank Marketing shape) into landing files of the contract.",
    )
    parser.add_argument("--source", required=True, help="the extract: bank-additional-full.csv or bank-full.csv shape")
    parser.add_argument("--data-dir", default=None, help="root of the platform's state (default: the DATA_DIR setting)")
    parser.add_argument(
        "--start-year", type=int, default=DEFAULT_START_YEAR, help="year of the first row (default %(default)s)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace landing files already in the data dir")
    args = parser.parse_args(argv)
    try:
        summary = convert_telemarketing(
            Path(args.source), _settings_for(args.data_dir), start_year=args.start_year, overwrite=args.overwrite
        )
    except (TelemarketingInputError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
