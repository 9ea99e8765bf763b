"""Plausible-looking but wrong values: judged against the accepted history (rule implausible)."""

from __future__ import annotations

from datetime import date

import pytest

from bankmkt.contract import ContractViolation, enforce_landing_contract
from bankmkt.contract.ledger import read_ledger

HISTORY = [date(2024, 1, n) for n in range(1, 9)]
DAY = date(2024, 1, 9)


@pytest.fixture
def history(landing):
    for day in HISTORY:
        landing.write_day(day)
        enforce_landing_contract(day, landing.settings)
    landing.write_day(DAY)
    return landing


def test_each_accepted_day_keeps_its_band(history):
    bands = read_ledger(history.settings)["accepted"][HISTORY[-1].isoformat()]["bands"]
    assert set(bands) == {"customers"}
    low, high, values = bands["customers"]["monthly_income"]
    assert low == high == 2450.0 and values == 2


def test_an_ordinary_day_passes(history):
    assert enforce_landing_contract(DAY, history.settings).passed


@pytest.mark.parametrize(
    "source, column, value, rules",
    [
        # Within the contract's static range; placeholders, or far outside what the bank's customers earn.
        ("transactions", "amount", "-999999.99", {"placeholder_value"}),
        ("customers", "monthly_income", "1000000.00", {"placeholder_value", "implausible"}),
        ("customers", "monthly_income", "250000.00", {"implausible"}),
        ("daily_balances", "balance", "9999999", {"placeholder_value"}),
    ],
)
def test_a_plausible_looking_wrong_value_stops_the_batch_naming_file_row_and_value(
    history, source, column, value, rules
):
    history.edit(source, DAY, 2, **{column: value})
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY, history.settings)
    violations = raised.value.report.violations
    assert {v.rule for v in violations} == rules and {v.column for v in violations} == {column}
    message = str(raised.value)
    assert f"landing/{source}/dt={DAY}/{source}.csv" in message and value in message and "row 2" in message
    if "implausible" in rules:
        assert "10 x the extreme percentiles of the 8 accepted days before" in message


def test_the_first_days_have_no_history_to_judge_by(landing):
    for day in HISTORY[:3]:
        landing.write_day(day)
        if day == HISTORY[2]:
            landing.edit("customers", day, 1, monthly_income="250000.00")
        assert enforce_landing_contract(day, landing.settings).passed


def test_a_customers_debits_far_beyond_their_income_stop_the_batch(history):
    """Row 3 of the day's transactions debits C0000010's new account (income 2,450 in the day's files)."""
    history.edit("transactions", DAY, 3, amount="-600000.00")
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY, history.settings)
    (violation,) = raised.value.report.violations
    assert (violation.rule, violation.column, violation.rows) == ("spend_beyond_income", "amount", [3])
    assert violation.file == f"landing/transactions/dt={DAY}/transactions.csv"
    assert violation.sample == ["customer C0000010: spent 600000.00 against monthly income 2450.00 (245x)"]


def test_customers_known_before_are_judged_by_the_warehouse_snapshot(history):
    """C0000002 and account A00000002 came on day 1: their income and owner come from the published snapshot."""
    import dataclasses

    import duckdb

    settings = history.settings
    settings.warehouse_snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_snapshot_path)) as con:
        con.execute(
            "create table dim_customers as select * from (values ('C0000002', 2450.00::decimal(14, 2)), "
            "('C0000001', 2450.00::decimal(14, 2))) t(customer_id, monthly_income)"
        )
        con.execute(
            "create table int_accounts_current as select * from (values ('A00000002', 'C0000002'), "
            "('A00000001', 'C0000001')) t(account_id, customer_id)"
        )
    history.edit("transactions", DAY, 2, amount="-700000.00")
    rows = [row for row in history.rows("transactions", DAY) if row["account_id"] != "A00000010"]
    rows[1]["amount"] = "-700000.00"
    history.write("transactions", DAY, rows)  # no new account today: every owner comes from the snapshot
    history.write("accounts", DAY, [])
    history.write("daily_balances", DAY, history.rows("daily_balances", DAY)[:-1])  # nor its balance
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY, settings)
    violations = raised.value.report.violations
    assert [(v.rule, v.rows) for v in violations] == [("spend_beyond_income", [2, 4])]  # C0000002's two debits
    assert violations[0].sample[0].startswith("customer C0000002: spent 700")
    # The factor is the bank's to set; 0 turns the rule off.
    history.write_day(DAY)
    history.edit("transactions", DAY, 2, amount="-700000.00")
    assert enforce_landing_contract(DAY, dataclasses.replace(settings, spend_income_factor=300)).passed


@pytest.mark.parametrize("category", ["investment", "transfer_out", "loan_repayment"])
def test_money_the_customer_moves_is_not_spending(history, category):
    """600,000 to an investment or a transfer out is the customer's own money moving, whatever the income."""
    history.edit("transactions", DAY, 3, amount="-600000.00", merchant_category=category)
    assert enforce_landing_contract(DAY, history.settings).passed
