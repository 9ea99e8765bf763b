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
    assert set(bands) == {"transactions", "customers"}
    low, high, values = bands["transactions"]["amount"]
    assert low <= high < 0 and values == 5


def test_an_ordinary_day_passes(history):
    assert enforce_landing_contract(DAY, history.settings).passed


@pytest.mark.parametrize("source, column, value", [
    ("transactions", "amount", "-999999.99"),  # within the contract's static range, far outside history
    ("customers", "monthly_income", "1000000.00"),
])
def test_a_value_far_outside_history_stops_the_batch_naming_file_row_and_value(history, source, column, value):
    history.edit(source, DAY, 2, **{column: value})
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY, history.settings)
    violations = [v for v in raised.value.report.violations if v.rule == "implausible"]
    assert len(violations) == 1 and violations[0].column == column
    message = str(raised.value)
    assert f"landing/{source}/dt={DAY}/{source}.csv" in message and value in message and "row 2" in message
    assert "accepted days before" in message


def test_the_first_days_have_no_history_to_judge_by(landing):
    for day in HISTORY[:3]:
        landing.write_day(day)
        if day == HISTORY[2]:
            landing.edit("transactions", day, 1, amount="-999999.99")
        assert enforce_landing_contract(day, landing.settings).passed
