"""Accepted landing files cannot change behind the platform's back (bankmkt.contract.ledger.verify_accepted_files)."""

from __future__ import annotations

import os
from datetime import date

import pytest

from bankmkt.contract import enforce_landing_contract
from bankmkt.contract.ledger import LandingChanged, accepted_days, read_ledger, verify_accepted_files

DAY1, DAY2 = date(2024, 1, 1), date(2024, 1, 2)


@pytest.fixture
def accepted(landing):
    for day in (DAY1, DAY2):
        landing.write_day(day)
        enforce_landing_contract(day, landing.settings)
    return landing


def _edit_in_place_keeping_size_and_times(path, old: bytes, new: bytes):
    """What a careless operator's fix looks like: same length, modification time put back."""
    stat = path.stat()
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_unchanged_files_pass_and_are_rehashed_only_when_touched(accepted):
    first = verify_accepted_files(accepted.settings)
    assert first["files_hashed"] > 0
    assert verify_accepted_files(accepted.settings)["files_hashed"] == 0  # stat unchanged: no hashing


def test_an_accepted_file_edited_in_place_stops_the_run_naming_it_and_both_checksums(accepted):
    verify_accepted_files(accepted.settings)
    path = accepted.path("transactions", DAY1)
    accepted_sha = accepted_days(accepted.settings)[DAY1]["files"]["transactions"]["sha256"]
    _edit_in_place_keeping_size_and_times(path, b"-11.25", b"-99.25")
    with pytest.raises(LandingChanged) as raised:
        verify_accepted_files(accepted.settings)
    message = str(raised.value)
    assert accepted.rel("transactions", DAY1) in message and accepted_sha in message
    assert "now " in message and "A correction is a new delivery" in message


def test_a_removed_accepted_file_stops_the_run(accepted):
    accepted.path("complaints", DAY1).unlink()
    with pytest.raises(LandingChanged, match=r"complaints/dt=2024-01-01/complaints.csv.*now missing"):
        verify_accepted_files(accepted.settings)


def test_the_latest_day_redelivered_with_a_change_stops_before_the_ledger_moves(accepted, monkeypatch):
    """The rerun of the last accepted day with one amount changed used to pass and replace the checksum."""
    from bankmkt import pipeline

    for name, value in accepted.settings.environment().items():  # restored after the test
        monkeypatch.setenv(name, value)
    before = read_ledger(accepted.settings)["accepted"][DAY2.isoformat()]["files"]["transactions"]["sha256"]
    rows = accepted.rows("transactions", DAY2)
    rows[0]["amount"] = "-999999.99"
    accepted.write("transactions", DAY2, rows)
    with pytest.raises(LandingChanged, match="transactions/dt=2024-01-02"):
        pipeline.check_landing(DAY2)
    assert read_ledger(accepted.settings)["accepted"][DAY2.isoformat()]["files"]["transactions"]["sha256"] == before
