"""The landing contract as Python objects, read from ``schemas/<source>.json``.

The JSON files are the contract; this module only loads them and adds the few
facts the checks need that the JSON does not spell out (which column carries
the file's day, which dates may lie in the future).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

from bankmkt.runtime import parse_run_date
from bankmkt.settings import Settings

COLUMN_TYPES = ("string", "date", "timestamp", "decimal", "integer", "boolean")

# The column that must fall on the file's logical day D (a date equal to D, or
# a UTC timestamp within D). Sources listed here are event sources: each row is
# delivered once, so their primary keys must not reappear on a later day.
DAY_COLUMNS: dict[str, str] = {
    "transactions": "booked_at",
    "daily_balances": "balance_date",
    "digital_events": "event_at",
    "campaign_contacts": "contacted_at",
    "campaign_responses": "responded_at",
    "complaints": "opened_at",
    "satisfaction_surveys": "answered_at",
}

# Event sources whose records a later delivery may correct: ``<source>_corrections`` (see
# :func:`load_corrections`). The closed loop's feedback: a contact's delivery status or a
# response recorded wrongly is corrected, never edited in place.
CORRECTABLE_SOURCES: tuple[str, ...] = ("campaign_contacts", "campaign_responses")
CORRECTION_SUFFIX = "_corrections"

# Dates that legitimately lie after D (a campaign is delivered on its start day
# with its planned last day). Every other date and timestamp must be <= end of D.
FUTURE_DATED_COLUMNS: frozenset[tuple[str, str]] = frozenset({("campaigns", "end_date")})


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    nullable: bool
    description: str = ""
    allowed: tuple[str, ...] | None = None
    min: float | str | None = None
    max: float | str | None = None
    pattern: str | None = None
    # Plausibility against history (rule implausible): values beyond this many times the extreme
    # 99.9th percentiles of the accepted days before stop the batch.
    plausible_factor: float | None = None
    # Rule placeholder_value: 999999-like values and exact powers of ten from a million up.
    reject_placeholders: bool = False
    # Personal data: samples in reports are masked (shape only). Free text: rule personal_data_in_free_text.
    personal: bool = False
    free_text: bool = False


@dataclass(frozen=True)
class SourceContract:
    source: str
    description: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    foreign_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    format: dict = field(default_factory=dict)
    # A corrections source: the source whose earlier records it corrects. Its file is optional.
    corrects: str | None = None

    @property
    def optional(self) -> bool:
        """A day's batch may lack this source's file (corrections come only when something was wrong)."""
        return self.corrects is not None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def day_column(self) -> str | None:
        return DAY_COLUMNS.get(self.source)

    @property
    def is_event_source(self) -> bool:
        return self.source in DAY_COLUMNS

    @property
    def keys_unique_across_days(self) -> bool:
        """Primary key must not reappear on a later day.

        True for event sources, except when the key contains the day column:
        then the ``not_on_file_day`` rule already makes a repeat impossible.
        """
        return self.is_event_source and self.day_column not in self.primary_key

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    def may_be_future(self, column: str) -> bool:
        return (self.source, column) in FUTURE_DATED_COLUMNS


def _parse(raw: dict) -> SourceContract:
    columns = []
    for col in raw["columns"]:
        if col["type"] not in COLUMN_TYPES:
            raise ValueError(f"{raw['source']}.{col['name']}: unknown type {col['type']!r}")
        columns.append(
            ColumnSpec(
                name=col["name"],
                type=col["type"],
                nullable=bool(col["nullable"]),
                description=col.get("description", ""),
                allowed=tuple(col["allowed"]) if "allowed" in col else None,
                min=col.get("min"),
                max=col.get("max"),
                pattern=col.get("pattern"),
                plausible_factor=col.get("plausible_factor"),
                reject_placeholders=bool(col.get("reject_placeholders", False)),
                personal=bool(col.get("personal", False)),
                free_text=bool(col.get("free_text", False)),
            )
        )
    foreign_keys = {column: tuple(target.split(".", 1)) for column, target in raw.get("foreign_keys", {}).items()}
    return SourceContract(
        source=raw["source"],
        description=raw.get("description", ""),
        columns=tuple(columns),
        primary_key=tuple(raw["primary_key"]),
        foreign_keys=foreign_keys,
        format=raw.get("format", {}),
    )


@lru_cache(maxsize=1)
def load_contract() -> dict[str, SourceContract]:
    """Every source's contract, referenced sources before the sources that reference them."""
    folder = resources.files("bankmkt.contract") / "schemas"
    contracts = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            contract = _parse(json.loads(entry.read_text(encoding="utf-8")))
            contracts[contract.source] = contract
    ordered: dict[str, SourceContract] = {}

    def visit(source: str, trail: tuple[str, ...] = ()) -> None:
        if source in ordered:
            return
        if source in trail:
            raise ValueError(f"foreign keys form a cycle: {' -> '.join(trail + (source,))}")
        for ref_source, _ in contracts[source].foreign_keys.values():
            if ref_source != source:
                visit(ref_source, trail + (source,))
        ordered[source] = contracts[source]

    for source in contracts:
        visit(source)
    return ordered


@lru_cache(maxsize=1)
def load_corrections() -> dict[str, SourceContract]:
    """The corrections sources: for each of :data:`CORRECTABLE_SOURCES`, ``<source>_corrections``.

    Its file (``landing/<source>_corrections/dt=D/<source>_corrections.csv``, optional in any day's
    batch) holds full corrected rows of records delivered on an earlier day (or earlier the same
    day), every column of the source plus ``correction_reason``; the primary key must name such a
    record (rule ``orphan_key``), once per file. The corrected row is checked like any row of the
    source; the warehouse takes the latest correction of a record over its original delivery.
    """
    sources = load_contract()
    corrections = {}
    for name in CORRECTABLE_SOURCES:
        source = sources[name]
        if len(source.primary_key) != 1:
            raise ValueError(f"{name}: only a source with a one-column primary key can take corrections")
        (key,) = source.primary_key
        reason = ColumnSpec(
            name="correction_reason",
            type="string",
            nullable=False,
            free_text=True,
            description="Why the record is corrected (checked like any free text: no personal data)",
        )
        corrections[name + CORRECTION_SUFFIX] = SourceContract(
            source=name + CORRECTION_SUFFIX,
            description=f"Corrections of {name} rows delivered earlier: the full corrected row and the reason.",
            columns=(*source.columns, reason),
            primary_key=source.primary_key,
            foreign_keys={**source.foreign_keys, key: (name, key)},
            format=source.format,
            corrects=name,
        )
    return corrections


def landing_sources() -> dict[str, SourceContract]:
    """Every source a day's batch may hold: the daily sources, then the optional corrections."""
    return {**load_contract(), **load_corrections()}


def landing_file(settings: Settings, source: str, day: date) -> Path:
    """``landing/<source>/dt=YYYY-MM-DD/<source>.csv`` for a logical day."""
    return settings.landing_dir / source / f"dt={day.isoformat()}" / f"{source}.csv"


def landed_days(settings: Settings, source: str) -> dict[date, Path]:
    """Every day that has a file for ``source`` in landing, with the file's path."""
    days: dict[date, Path] = {}
    folder = settings.landing_dir / source
    if not folder.is_dir():
        return days
    for day_dir in folder.glob("dt=*"):
        try:
            day = parse_run_date(day_dir.name[3:])
        except ValueError:
            continue
        path = day_dir / f"{source}.csv"
        if path.is_file():
            days[day] = path
    return days
