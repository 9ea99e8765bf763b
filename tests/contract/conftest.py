"""A tiny landing-batch factory: valid CSVs for any day, for every source, in tmp_path.

Day n of January 2024 has a handful of rows per source that reference each other
(and day 1's rows) the way the real extracts do, so a test breaks exactly one
thing and expects exactly one rule to fire.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from bankmkt.contract.schema import landing_file, landing_sources, load_contract
from bankmkt.settings import Settings


def _ts(day: date, clock: str) -> str:
    return f"{day.isoformat()}T{clock}Z"


def valid_rows(source: str, day: date) -> list[dict[str, str]]:
    """Valid rows of ``source`` for ``day`` (day n of January 2024)."""
    n = day.day
    first = n == 1
    new_customer = f"C{n + 1:07d}"
    if source == "customers":

        def customer(cid: str, first_name: str, email: str) -> dict[str, str]:
            return {
                "customer_id": cid,
                "first_name": first_name,
                "last_name": "Novak",
                "national_id": f"NID{cid[1:]}",
                "email": email,
                "phone": "",
                "birth_date": "1985-04-12",
                "gender": "F",
                "region": "Prague",
                "occupation": "employee",
                "monthly_income": "2450.00",
                "customer_since": "2015-06-01",
                "has_marketing_consent": "true",
                "updated_at": _ts(day, "05:00:00"),
            }

        if first:
            return [customer("C0000001", "Anna", "anna@example.com"), customer("C0000002", "Jan", "")]
        return [customer("C0000001", "Anna", f"anna{n}@example.com"), customer(new_customer, "Eva", "")]
    if source == "accounts":
        owners = [("A00000001", "C0000001"), ("A00000002", "C0000002")] if first else [(f"A{n + 1:08d}", new_customer)]
        return [
            {
                "account_id": a,
                "customer_id": c,
                "account_type": "current",
                "opened_on": day.isoformat(),
                "closed_on": "",
                "updated_at": _ts(day, "06:00:00"),
            }
            for a, c in owners
        ]
    if source == "daily_balances":
        return [
            {"account_id": f"A{k:08d}", "balance_date": day.isoformat(), "balance": f"{100 * k + n}.50"}
            for k in range(1, n + 2)
        ]
    if source == "transactions":
        accounts = (
            ["A00000001", "A00000002"]
            if first
            else ["A00000001", "A00000002", f"A{n + 1:08d}", "A00000001", "A00000002"]
        )
        return [
            {
                "transaction_id": f"T{n:03d}{k:04d}",
                "account_id": a,
                "booked_at": _ts(day, f"{9 + k:02d}:15:00"),
                "amount": f"-{10 * k + n}.25",
                "direction": "debit",
                "merchant_category": "groceries",
                "channel": "card_pos",
            }
            for k, a in enumerate(accounts, start=1)
        ]
    if source == "product_holdings":
        holder = "C0000001" if first else new_customer
        return [
            {
                "holding_id": f"H{n:03d}001",
                "customer_id": holder,
                "product_code": "credit_card",
                "opened_on": day.isoformat(),
                "closed_on": "",
                "updated_at": _ts(day, "06:00:00"),
            }
        ]
    if source == "digital_events":
        return [
            {
                "event_id": f"E{n:03d}001",
                "customer_id": "C0000001",
                "event_at": _ts(day, "08:00:00"),
                "channel": "mobile_app",
                "event_type": "login",
                "product_code": "",
            },
            {
                "event_id": f"E{n:03d}002",
                "customer_id": "C0000002",
                "event_at": _ts(day, "21:30:00"),
                "channel": "web",
                "event_type": "view_product",
                "product_code": "term_deposit",
            },
        ]
    if source == "campaigns":
        if not first:
            return []
        return [
            {
                "campaign_id": "K001",
                "campaign_name": "Cards, spring",
                "product_code": "credit_card",
                "channel": "email",
                "start_date": day.isoformat(),
                "end_date": "2024-01-31",
                "response_window_days": "14",
            }
        ]
    if source == "campaign_contacts":
        contacts = (
            [("N001001", "C0000001", "false"), ("N001002", "C0000002", "true")]
            if first
            else [(f"N{n:03d}001", new_customer, "false")]
        )
        return [
            {
                "contact_id": c,
                "campaign_id": "K001",
                "customer_id": cust,
                "contacted_at": _ts(day, "10:00:00"),
                "channel": "email",
                "is_control": control,
            }
            for c, cust, control in contacts
        ]
    if source == "campaign_responses":
        if first:
            return []
        return [
            {
                "response_id": f"R{n:03d}001",
                "contact_id": "N001001",
                "customer_id": "C0000001",
                "campaign_id": "K001",
                "responded_at": _ts(day, "12:00:00"),
                "response_type": "converted",
            }
        ]
    if source == "complaints":
        if not first:
            return []
        return [
            {
                "complaint_id": "Q001001",
                "customer_id": "C0000002",
                "opened_at": _ts(day, "11:00:00"),
                "category": "fees",
                "channel": "phone",
                "severity": "2",
            }
        ]
    if source == "satisfaction_surveys":
        return [
            {
                "survey_id": f"S{n:03d}001",
                "customer_id": "C0000001",
                "answered_at": _ts(day, "15:00:00"),
                "nps_score": "9",
                "csat_score": "5",
            }
        ]
    if source == "customer_attributes":  # the bank declares none by default (tests/contract/test_attributes.py)
        return []
    raise KeyError(source)


class LandingFactory:
    """Writes landing files into a temporary DATA_DIR."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def path(self, source: str, day: date) -> Path:
        return landing_file(self.settings, source, day)

    def rel(self, source: str, day: date) -> str:
        return f"landing/{source}/dt={day.isoformat()}/{source}.csv"

    def rows(self, source: str, day: date) -> list[dict[str, str]]:
        """Fresh valid rows of ``source`` for ``day`` (change them freely)."""
        return valid_rows(source, day)

    def columns(self, source: str) -> list[str]:
        return landing_sources()[source].column_names

    def render(
        self, source: str, rows: list[dict], columns: list[str] | None = None, delimiter: str = ",", newline: str = "\n"
    ) -> bytes:
        columns = columns or self.columns(source)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
        return buffer.getvalue().encode("utf-8")

    def write(
        self, source: str, day: date, rows: list[dict] | None = None, *, data: bytes | None = None, **render_options
    ) -> Path:
        path = self.path(source, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            data = self.render(source, valid_rows(source, day) if rows is None else rows, **render_options)
        path.write_bytes(data)
        return path

    def write_day(self, day: date) -> None:
        for source in load_contract():
            self.write(source, day)

    def edit(self, source: str, day: date, row: int, **values: str) -> Path:
        """Rewrite ``source``'s file of ``day`` with data row ``row`` (1-based) changed."""
        rows = valid_rows(source, day)
        rows[row - 1].update(values)
        return self.write(source, day, rows)


@pytest.fixture(scope="session")
def make_landing():
    """Build a factory on any DATA_DIR (also for module-scoped templates)."""

    def make(data_dir: Path) -> LandingFactory:
        settings = Settings(platform_env="local", data_dir=data_dir)
        settings.ensure_dirs()
        return LandingFactory(settings)

    return make


@pytest.fixture
def landing(make_landing, tmp_path) -> LandingFactory:
    return make_landing(tmp_path / "data")


@pytest.fixture
def settings(landing) -> Settings:
    return landing.settings
