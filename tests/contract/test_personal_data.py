"""Personal data in the contract's reports and in free-text fields."""

from __future__ import annotations

import json
from datetime import date

import pytest

from bankmkt.contract import ContractViolation, enforce_landing_contract

DAY1 = date(2024, 1, 1)


@pytest.mark.parametrize("value", ["anna.novak@example.com", "+420 601 234 567", "123-45-6789", "850412/1234"])
def test_personal_data_typed_into_a_free_text_field_stops_the_batch_without_showing_it(landing, value):
    landing.write_day(DAY1)
    landing.edit("customers", DAY1, 1, region=f"Prague {value}")
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY1, landing.settings)
    (violation,) = raised.value.report.violations
    assert (violation.rule, violation.column, violation.rows) == ("personal_data_in_free_text", "region", [1])
    report = raised.value.report_path.read_text() + (raised.value.report_path.parent / "report.json").read_text()
    assert value not in str(raised.value) and value not in report  # neither the log nor the quarantine report


def test_error_samples_of_personal_columns_show_their_shape_only(landing):
    landing.write_day(DAY1)
    landing.edit("customers", DAY1, 2, birth_date="1985-13-45")
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY1, landing.settings)
    (violation,) = raised.value.report.violations
    assert violation.rule == "type" and violation.sample == ["'****-**-**'"]
    document = json.loads((raised.value.report_path.parent / "report.json").read_text())
    assert "1985-13-45" not in str(raised.value) and "1985-13-45" not in json.dumps(document)
