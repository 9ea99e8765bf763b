"""Corrections: an explicit later delivery that changes earlier event records, checked, recorded, applied.

Accepted landing files never change; an event's key never reappears in a later day's file. A wrong
contact or response is corrected by ``<source>_corrections.csv`` in a later day's batch: the full
corrected rows and a reason, each naming a record delivered before.
"""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from bankmkt.contract import ContractViolation, enforce_landing_contract
from bankmkt.contract.ledger import accepted_days, verify_accepted_files
from bankmkt.contract.schema import landing_sources, load_contract, load_corrections

DAY1, DAY2, DAY3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)
SOURCE = "campaign_responses_corrections"


@pytest.fixture(scope="module")
def two_days_template(make_landing, tmp_path_factory):
    landing = make_landing(tmp_path_factory.mktemp("corrections") / "data")
    for day in (DAY1, DAY2):
        landing.write_day(day)
        enforce_landing_contract(day, landing.settings)
    landing.write_day(DAY3)
    return landing.settings.data_dir


@pytest.fixture
def day3(landing, two_days_template):
    """Days 1 and 2 accepted (day 2 has response R002001, converted); day 3 valid in landing."""
    shutil.copytree(two_days_template, landing.settings.data_dir, dirs_exist_ok=True)
    return landing


def corrected_response(**changes) -> dict:
    row = {
        "response_id": "R002001",
        "contact_id": "N001001",
        "customer_id": "C0000001",
        "campaign_id": "K001",
        "responded_at": "2024-01-02T12:00:00Z",
        "response_type": "visited",
        "amount": "",
        "correction_reason": "the branch recorded a visit as a sale",
    }
    return {**row, **changes}


def test_corrections_are_derived_for_the_loops_event_sources_only():
    corrections = load_corrections()
    assert set(corrections) == {"campaign_contacts_corrections", "campaign_responses_corrections"}
    contract = corrections[SOURCE]
    assert contract.corrects == "campaign_responses" and contract.primary_key == ("response_id",)
    assert contract.column_names == [*load_contract()["campaign_responses"].column_names, "correction_reason"]
    assert contract.foreign_keys["response_id"] == ("campaign_responses", "response_id")
    assert not contract.keys_unique_across_days  # a record may be corrected again later
    assert set(landing_sources()) == set(load_contract()) | set(corrections)


def test_a_correction_is_accepted_and_recorded_by_the_ledger(day3):
    settings = day3.settings
    path = day3.write(SOURCE, DAY3, [corrected_response()])
    report = enforce_landing_contract(DAY3, settings)
    assert report.passed and report.files[SOURCE].rows == 1
    entry = accepted_days(settings)[DAY3]
    recorded = entry["files"][SOURCE]
    assert recorded["file"] == f"landing/{SOURCE}/dt={DAY3}/{SOURCE}.csv" and recorded["rows"] == 1
    assert len(recorded["sha256"]) == 64
    # A day without corrections records none, and its rerun is still a rerun.
    assert SOURCE not in accepted_days(settings)[DAY2]["files"]
    assert enforce_landing_contract(DAY2, settings).rerun
    # The accepted correction is as immutable as any accepted file.
    path.write_bytes(path.read_bytes().replace(b"visited", b"clicked"))
    with pytest.raises(RuntimeError, match=f"landing/{SOURCE}/dt={DAY3}/{SOURCE}.csv"):
        verify_accepted_files(settings)


@pytest.mark.parametrize(
    "change, rule, column",
    [
        ({"response_id": "R099001"}, "orphan_key", "response_id"),  # corrects nothing delivered
        ({"correction_reason": ""}, "not_null", "correction_reason"),  # says not why
        ({"response_type": "liked"}, "allowed_values", "response_type"),  # the corrected row breaks the contract
    ],
)
def test_a_bad_correction_stops_the_batch_naming_file_row_and_column(day3, change, rule, column):
    settings = day3.settings
    day3.write(SOURCE, DAY3, [corrected_response(**change)])
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY3, settings)
    violations = raised.value.report.violations
    assert [(v.rule, v.file, v.column, v.rows) for v in violations] == [
        (rule, f"landing/{SOURCE}/dt={DAY3}/{SOURCE}.csv", column, [1])
    ], raised.value.report.message()
    # Nothing of the day is accepted; the correction went to quarantine with the rest of the batch.
    assert DAY3 not in accepted_days(settings)
    attempt = raised.value.report_path.parent
    assert (attempt / SOURCE / f"{SOURCE}.csv").is_file()
    assert not day3.path(SOURCE, DAY3).exists() and not day3.path("campaign_responses", DAY3).exists()
    assert json.loads((attempt / "report.json").read_text())["passed"] is False


def test_an_event_delivered_again_is_refused_with_the_way_to_correct_it(day3):
    rows = day3.rows("campaign_responses", DAY3) + [
        {**day3.rows("campaign_responses", DAY2)[0], "responded_at": "2024-01-03T12:00:00Z"}
    ]
    day3.write("campaign_responses", DAY3, rows)
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY3, day3.settings)
    (violation,) = raised.value.report.violations
    assert violation.rule == "key_already_delivered" and violation.rows == [2]
    assert f"landing/{SOURCE}/dt=YYYY-MM-DD/{SOURCE}.csv" in violation.detail
