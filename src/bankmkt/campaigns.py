"""The campaign catalogue: what marketing runs, through which channels, at what cost and capacity.

Marketing edits one CSV, ``DATA_DIR/reference/campaign_catalogue.csv``, one row per
campaign and channel (docs/campaigns.md). The attributes of a campaign repeat on each
of its channel rows and must agree. :func:`load_catalogue` validates the file like a
landing file: every problem is reported with its row, column and value, and nothing is
targeted from a catalogue with a problem. Without a file, :func:`ensure_catalogue`
writes the standing catalogue (one always-on campaign per promoted product), so a new
bank gets lists on its first day and marketing has a file to edit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from bankmkt.runtime import parse_run_date, write_atomically

CHANNELS: tuple[str, ...] = ("email", "push", "sms", "phone", "branch")
LIFECYCLE_STAGES: tuple[str, ...] = ("new", "growing", "mature", "declining", "dormant", "churned")
PROMOTED_PRODUCTS: tuple[str, ...] = ("credit_card", "personal_loan", "term_deposit", "wealth_management")

# Column -> (kind, required). Kinds: text, product, channel, date, int, money, share, stages.
COLUMNS: dict[str, tuple[str, bool]] = {
    "campaign_id": ("id", True),
    "campaign_name": ("text", True),
    "product_code": ("product", True),
    "offer": ("text", True),
    "incentive_eur": ("money", True),
    "start_date": ("date", True),
    "end_date": ("date", True),
    "response_window_days": ("int", True),
    "control_share": ("share", True),
    "min_age": ("int", False),
    "max_age": ("int", False),
    "lifecycle_stages": ("stages", False),
    "daily_budget_eur": ("money", False),
    "channel": ("channel", True),
    "daily_capacity": ("int", True),
    "cost_per_contact_eur": ("money", True),
}
CAMPAIGN_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
CAMPAIGN_COLUMNS = [c for c in COLUMNS if c not in ("channel", "daily_capacity", "cost_per_contact_eur")]

# Standing catalogue: what one contact costs through each channel and the share of the daily
# list size each channel takes (e-mail and push are cheap and wide, calls and branch advisers scarce).
CHANNEL_COST_EUR = {"email": 0.10, "push": 0.05, "sms": 0.20, "phone": 4.00, "branch": 8.00}
CHANNEL_CAPACITY_SHARE = {"email": 0.40, "push": 0.25, "sms": 0.15, "phone": 0.12, "branch": 0.08}
OFFERS = {
    "credit_card": ("First-year fee waived", 0.0),
    "personal_loan": ("0.5 pp off the rate", 0.0),
    "term_deposit": ("Bonus rate for 12 months", 10.0),
    "wealth_management": ("Free portfolio review", 25.0),
}
STANDING_START, STANDING_END = date(2000, 1, 1), date(2099, 12, 31)


class CatalogueError(ValueError):
    """The campaign catalogue has rows the platform cannot target from; the message lists them."""


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    campaign_name: str
    product_code: str
    offer: str
    incentive_eur: float
    start_date: date
    end_date: date
    response_window_days: int
    control_share: float
    min_age: int | None
    max_age: int | None
    lifecycle_stages: tuple[str, ...]
    channels: dict[str, tuple[int, float]]  # channel -> (daily capacity, cost per contact)
    daily_budget_eur: float | None = None  # contact costs a day may not exceed it; None: capacity only

    def is_active(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date

    def holds_out(self, customer_id: str) -> bool:
        """Whether the customer is in this campaign's control group (:func:`is_control`): what
        targeting (:mod:`ml.targeting`) asks of each customer it selects."""
        return is_control(self.campaign_id, customer_id, self.control_share)


def is_control(campaign_id: str, customer_id: str, control_share: float) -> bool:
    """Whether a customer belongs to a campaign's control group, for the campaign's whole life.

    Deterministic from the two ids (a hash, not a draw): the same customer is a control of
    the same campaign on every day and every rerun, and independent of the list's order.
    """
    digest = hashlib.sha256(f"{campaign_id}|{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < control_share


def load_catalogue(path: Path) -> dict[str, Campaign]:
    """Read and validate the catalogue; raise :class:`CatalogueError` naming every bad row and column."""
    if not path.exists():
        raise CatalogueError(f"{path}: no campaign catalogue (write one, or run ensure_catalogue for the standing one)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:
        raise CatalogueError(f"{path}: not a readable CSV ({error})") from None
    frame.columns = [c.strip() for c in frame.columns]
    problems: list[str] = []
    missing = [c for c, (_, required) in COLUMNS.items() if required and c not in frame.columns]
    if missing:
        raise CatalogueError(f"{path}: missing column(s) {missing}; expected {list(COLUMNS)}")
    for column in COLUMNS:  # optional columns a catalogue may leave out
        if column not in frame.columns:
            frame[column] = ""
    unknown = [c for c in frame.columns if c not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {unknown}")
    if frame.empty:
        problems.append("no campaign rows")
    rows: list[dict] = []
    for number, raw in enumerate(frame.to_dict(orient="records"), start=1):
        row = {}
        for column, (kind, required) in COLUMNS.items():
            value = str(raw.get(column, "")).strip()
            try:
                row[column] = _parse(kind, value, required)
            except ValueError as why:
                problems.append(f"row {number}, column {column}: {value!r} {why}")
        if (
            "start_date" in row
            and "end_date" in row
            and row["start_date"]
            and row["end_date"]
            and row["end_date"] < row["start_date"]
        ):
            problems.append(f"row {number}: end_date {row['end_date']} is before start_date {row['start_date']}")
        if row.get("min_age") is not None and row.get("max_age") is not None and row["max_age"] < row["min_age"]:
            problems.append(f"row {number}: max_age {row['max_age']} is below min_age {row['min_age']}")
        window = row.get("response_window_days")
        if window is not None and not 1 <= window <= 90:
            problems.append(f"row {number}, column response_window_days: {window} is not between 1 and 90")
        row["_row"] = number
        rows.append(row)
    campaigns: dict[str, Campaign] = {}
    seen: dict[tuple[str, str], int] = {}
    for campaign_id in dict.fromkeys(r.get("campaign_id") for r in rows if r.get("campaign_id")):
        group = [r for r in rows if r.get("campaign_id") == campaign_id]
        first = group[0]
        for other in group[1:]:
            for column in CAMPAIGN_COLUMNS:
                if other.get(column) != first.get(column):
                    problems.append(
                        f"row {other['_row']}, column {column}: {other.get(column)!r} differs from "
                        f"{first.get(column)!r} on row {first['_row']} of the same campaign {campaign_id}"
                    )
        channels = {}
        for r in group:
            key = (campaign_id, r.get("channel"))
            if key in seen:
                problems.append(f"row {r['_row']}: channel {r.get('channel')} of {campaign_id} repeats row {seen[key]}")
            seen[key] = r["_row"]
            channels[r.get("channel")] = (r.get("daily_capacity"), r.get("cost_per_contact_eur"))
        if problems:
            continue
        campaigns[campaign_id] = Campaign(**{c: first[c] for c in CAMPAIGN_COLUMNS}, channels=channels)
    if problems:
        raise CatalogueError(f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return campaigns


def _parse(kind: str, value: str, required: bool):
    if value == "":
        if required:
            raise ValueError("is empty (required)")
        return () if kind == "stages" else None
    if kind == "text":
        return value
    if kind == "id":
        if not CAMPAIGN_ID.fullmatch(value):
            raise ValueError("is not a campaign id (1-40 letters, digits, '-' or '_': it names the list's file)")
        return value
    if kind == "product":
        if value not in PROMOTED_PRODUCTS:
            raise ValueError(f"is not a promoted product {list(PROMOTED_PRODUCTS)}")
        return value
    if kind == "channel":
        if value not in CHANNELS:
            raise ValueError(f"is not a channel {list(CHANNELS)}")
        return value
    if kind == "date":
        try:
            return parse_run_date(value)
        except ValueError:
            raise ValueError("is not a date YYYY-MM-DD") from None
    if kind == "int":
        if not value.isdigit():
            raise ValueError("is not a whole number >= 0")
        return int(value)
    if kind == "money":
        try:
            number = float(value)
        except ValueError:
            raise ValueError("is not an amount in EUR") from None
        if not number >= 0 or number == float("inf"):
            raise ValueError("is not an amount >= 0")
        return number
    if kind == "share":
        try:
            number = float(value)
        except ValueError:
            raise ValueError("is not a share between 0 and 1") from None
        if not 0.0 < number < 1.0:
            raise ValueError("is not a share strictly between 0 and 1 (a campaign needs contacts and controls)")
        return number
    if kind == "stages":
        stages = tuple(s.strip() for s in value.split(";") if s.strip())
        bad = [s for s in stages if s not in LIFECYCLE_STAGES]
        if bad:
            raise ValueError(f"names unknown life-cycle stage(s) {bad}; use {list(LIFECYCLE_STAGES)} separated by ';'")
        return stages
    raise AssertionError(kind)


def catalogue_rows(campaigns: list[dict]) -> pd.DataFrame:
    """Catalogue rows (one per campaign and channel) from campaign dicts with a ``channels`` mapping."""
    rows = []
    for campaign in campaigns:
        for channel, (capacity, cost) in campaign["channels"].items():
            rows.append(
                {
                    **{c: campaign.get(c) for c in CAMPAIGN_COLUMNS},
                    "channel": channel,
                    "daily_capacity": capacity,
                    "cost_per_contact_eur": cost,
                }
            )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["lifecycle_stages"] = frame["lifecycle_stages"].map(lambda s: ";".join(s or ()))
    for column in ("min_age", "max_age", "response_window_days", "daily_capacity"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _channels(total_capacity: int) -> dict[str, tuple[int, float]]:
    return {
        channel: (max(1, round(total_capacity * share)), CHANNEL_COST_EUR[channel])
        for channel, share in CHANNEL_CAPACITY_SHARE.items()
    }


def _product_campaign(
    product: str,
    campaign_id: str,
    name: str,
    start: date,
    end: date,
    window: int,
    control_share: float,
    daily_capacity: int,
    min_age=None,
    max_age=None,
    stages=(),
) -> dict:
    """One campaign of a product with its standard offer, every channel, ``daily_capacity`` contacts a day."""
    return {
        "campaign_id": campaign_id,
        "campaign_name": name,
        "product_code": product,
        "offer": OFFERS[product][0],
        "incentive_eur": OFFERS[product][1],
        "start_date": start,
        "end_date": end,
        "response_window_days": window,
        "control_share": control_share,
        "min_age": min_age,
        "max_age": max_age,
        "lifecycle_stages": stages,
        "channels": _channels(daily_capacity),
    }


def standing_catalogue(daily_capacity: int, control_share: float) -> pd.DataFrame:
    """One always-on campaign per promoted product, every channel, ``daily_capacity`` contacts a day each."""
    return catalogue_rows(
        [
            _product_campaign(
                product,
                f"STANDING_{product.upper()}",
                f"{product.replace('_', ' ').capitalize()}: always on",
                STANDING_START,
                STANDING_END,
                14,
                control_share,
                daily_capacity,
            )
            for product in PROMOTED_PRODUCTS
        ]
    )


def wave_catalogue(
    first_day: date,
    days: int,
    daily_capacity: int,
    control_share: float = 0.2,
    wave_days: int = 14,
    response_window_days: int = 7,
) -> pd.DataFrame:
    """Campaign waves of ``wave_days`` per promoted product from ``first_day`` for ``days`` days (the demo's).

    Rules differ by product as a marketing team's would: loans stop at 70, wealth
    management goes to the stages that build balances, term deposits skip the dormant.
    """
    rules = {
        "credit_card": (18, 75, ()),
        "personal_loan": (21, 70, ()),
        "term_deposit": (18, None, ("new", "growing", "mature", "declining")),
        "wealth_management": (25, None, ("growing", "mature")),
    }
    campaigns = []
    for start in range(0, days, wave_days):
        wave_start = first_day + timedelta(days=start)
        wave_end = min(wave_start + timedelta(days=wave_days - 1), first_day + timedelta(days=days - 1))
        for product in PROMOTED_PRODUCTS:
            campaigns.append(
                _product_campaign(
                    product,
                    f"{product.split('_')[0][:4].upper()}-{wave_start:%Y%m%d}",
                    f"{product.replace('_', ' ').capitalize()} wave of {wave_start:%d %b %Y}",
                    wave_start,
                    wave_end,
                    response_window_days,
                    control_share,
                    daily_capacity,
                    *rules[product],
                )
            )
    return catalogue_rows(campaigns)


def write_catalogue(frame: pd.DataFrame, path: Path) -> Path:
    """Write catalogue rows as marketing's CSV (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda partial: frame.to_csv(partial, index=False))
    return path


def ensure_catalogue(settings) -> tuple[dict[str, Campaign], str]:
    """The validated catalogue, writing the standing one first when DATA_DIR has none.

    Returns the campaigns and a line for the run record saying where they came from.
    """
    path = settings.campaign_catalogue_file
    note = f"catalogue {path}"
    if not path.exists():
        write_catalogue(standing_catalogue(settings.target_list_size, settings.control_share), path)
        note = f"no catalogue in {path.parent}: wrote the standing catalogue (one always-on campaign per product)"
    return load_catalogue(path), note
