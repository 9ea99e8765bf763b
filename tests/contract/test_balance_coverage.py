"""Rule balance_missing: every account open at the end of D has D's end-of-day balance.

A bank that delivers accounts but no balances (an extract of yearly summaries, say) would
otherwise pass the contract and every balance feature would read zero.
"""

from __future__ import annotations

from datetime import date

import duckdb

from bankmkt.contract.check import check_landing_batch
from bankmkt.contract.schema import load_contract

DAY1 = date(2024, 1, 1)
DAY2 = date(2024, 1, 2)


def _violations(report, rule="balance_missing"):
    return [v for v in report.violations if v.rule == rule]


def test_accounts_without_any_balance_are_named(landing):
    for source in load_contract():
        landing.write(source, DAY1, [] if source == "daily_balances" else None)
    report = check_landing_batch(DAY1, landing.settings)
    (violation,) = _violations(report)
    assert violation.file == "landing/daily_balances/dt=2024-01-01/daily_balances.csv"
    assert violation.column == "account_id" and violation.sample == ["A00000001", "A00000002"]
    assert "2 account(s) open at the end of 2024-01-01 have no balance" in violation.describe()
    assert not report.passed


def test_an_account_closed_on_the_day_needs_no_balance(landing):
    landing.write_day(DAY1)
    accounts = landing.rows("accounts", DAY1)
    accounts[1]["closed_on"] = DAY1.isoformat()
    landing.write("accounts", DAY1, accounts)
    balances = [row for row in landing.rows("daily_balances", DAY1) if row["account_id"] != "A00000002"]
    landing.write("daily_balances", DAY1, balances)
    report = check_landing_batch(DAY1, landing.settings)
    assert report.passed, report.message()
    balances = [row for row in balances if row["account_id"] != "A00000001"]
    landing.write("daily_balances", DAY1, balances)
    assert [v.sample for v in _violations(check_landing_batch(DAY1, landing.settings))] == [["A00000001"]]


def test_accounts_known_to_the_warehouse_are_judged_too(landing):
    """Accounts delivered before D come from the warehouse's snapshot: open ones need D's balance,
    closed ones and ones the day's file closes do not."""
    landing.write_day(DAY1)
    landing.write_day(DAY2)
    settings = landing.settings
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table dim_customers (customer_id varchar, monthly_income decimal(12, 2))")
        con.execute("insert into dim_customers values ('C0000001', 2450), ('C0000002', 2450)")
        con.execute(
            "create table int_accounts_current "
            "(account_id varchar, customer_id varchar, opened_on date, closed_on date)"
        )
        con.execute(
            """insert into int_accounts_current values
            ('A00000001', 'C0000001', '2024-01-01', null),
            ('A00000002', 'C0000002', '2024-01-01', null),
            ('A00000099', 'C0000001', '2023-06-01', null),
            ('A00000098', 'C0000001', '2023-06-01', '2024-01-01'),
            ('A00000097', 'C0000002', '2023-06-01', null)"""
        )
    accounts = landing.rows("accounts", DAY2) + [
        {
            "account_id": "A00000097",
            "customer_id": "C0000002",
            "account_type": "current",
            "opened_on": "2023-06-01",
            "closed_on": DAY2.isoformat(),
            "updated_at": "2024-01-02T06:00:00Z",
        }
    ]
    landing.write("accounts", DAY2, accounts)
    (violation,) = _violations(check_landing_batch(DAY2, settings))
    assert violation.sample == ["A00000099"]
    assert violation.describe().startswith(
        "landing/daily_balances/dt=2024-01-02/daily_balances.csv: rule 'balance_missing' failed on column account_id"
    )


def test_a_day_without_account_rows_is_judged_by_the_warehouse_alone(landing):
    landing.write_day(DAY1)
    landing.write_day(DAY2)
    landing.write("accounts", DAY2, [])
    settings = landing.settings
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table dim_customers (customer_id varchar, monthly_income decimal(12, 2))")
        con.execute(
            "create table int_accounts_current "
            "(account_id varchar, customer_id varchar, opened_on date, closed_on date)"
        )
        con.execute(
            "insert into int_accounts_current values ('A00000001', 'C0000001', '2024-01-01', null), "
            "('A00000042', 'C0000002', '2024-01-01', null)"
        )
    balances = [row for row in landing.rows("daily_balances", DAY2) if row["account_id"] != "A00000003"]
    landing.write("daily_balances", DAY2, balances)
    (violation,) = _violations(check_landing_batch(DAY2, settings))
    assert violation.sample == ["A00000042"]
