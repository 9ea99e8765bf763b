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


@pytest.mark.parametrize("source, column, value, rules", [
    # Within the contract's static range; placeholders, or far outside what the bank's customers earn.
    ("transactions", "amount", "-999999.99", {"placeholder_value"}),
    ("customers", "monthly_income", "1000000.00", {"placeholder_value", "implausible"}),
    ("customers", "monthly_income", "250000.00", {"implausible"}),
    ("daily_balances", "balance", "9999999", {"placeholder_value"}),
])
def test_a_plausible_looking_wrong_value_stops_the_batch_naming_file_row_and_value(history, source, column, value,
                                                                                   rules):
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
