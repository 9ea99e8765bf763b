"""The key index: a day's work does not grow with history; the index follows the ledger."""

from __future__ import annotations

import io
import os
import shutil
from datetime import date

import duckdb
import pytest

from bankmkt.contract import (
    ContractViolation,
    check_landing_batch,
    enforce_landing_contract,
    landing_sources,
    load_contract,
)
from bankmkt.contract import index as key_index
from bankmkt.contract.index import indexed_sources, key_index_path, legacy_key_dir, release
from bankmkt.contract.ledger import accepted_days, forget_day

DAY1, DAY2, DAY3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def _jan(n: int) -> date:
    return date(2024, 1, n)


def _index_rows(settings, source: str) -> list[tuple]:
    """(key columns..., dt) rows of a source's index table, read after the index is released."""
    release()
    with duckdb.connect(str(key_index_path(settings)), read_only=True) as con:
        return con.execute(f'SELECT * FROM "{source}" ORDER BY ALL').fetchall()


def _index_days(settings) -> list[date]:
    release()
    with duckdb.connect(str(key_index_path(settings)), read_only=True) as con:
        return [d for (d,) in con.execute("SELECT dt FROM days ORDER BY dt").fetchall()]


class _Recorder:
    """A DuckDB cursor that writes down every statement it runs."""

    def __init__(self, con, statements: list[str]):
        self._con = con
        self._statements = statements

    def execute(self, query, *args):
        self._statements.append(query)
        return self._con.execute(query, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


@pytest.fixture
def io_log(monkeypatch):
    """Record the files Python opens and stats, the folders it lists and the SQL DuckDB runs."""
    log = {"opened": [], "stat": [], "listdir": [], "sql": []}
    real_open, real_stat, real_listdir = io.open, os.stat, os.listdir
    real_connection = key_index.connection

    def opened(file, *args, **kwargs):
        log["opened"].append(os.fspath(file) if not isinstance(file, int) else file)
        return real_open(file, *args, **kwargs)

    def stat(path, *args, **kwargs):
        log["stat"].append(os.fspath(path) if not isinstance(path, int) else path)
        return real_stat(path, *args, **kwargs)

    def listdir(path=".", *args, **kwargs):
        log["listdir"].append(os.fspath(path))
        return real_listdir(path, *args, **kwargs)

    class recording_connection:
        def __init__(self, settings=None):
            self._settings = settings

        def __enter__(self):
            self._inner = real_connection(self._settings)
            return _Recorder(self._inner.__enter__(), log["sql"])

        def __exit__(self, *exc):
            return self._inner.__exit__(*exc)

    def start():
        for entries in log.values():
            entries.clear()
        monkeypatch.setattr(io, "open", opened)
        monkeypatch.setattr(os, "stat", stat)
        monkeypatch.setattr(os, "listdir", listdir)
        monkeypatch.setattr(key_index, "connection", recording_connection)

    def stop() -> dict:
        monkeypatch.undo()
        return {name: list(entries) for name, entries in log.items()}

    return start, stop


def test_a_days_work_does_not_grow_with_history(landing, io_log):
    """Checking day 24 after 23 accepted days reads what checking day 3 after 2 does.

    Counted: files Python opens, paths it stats, folders it lists, SQL statements
    and the files they name. Only the day's own landing files are opened; no
    earlier day's CSV or per-day key file is read.
    """
    settings = landing.settings
    start, stop = io_log
    work = {}
    for n in range(1, 25):
        landing.write_day(_jan(n))
        if n in (3, 24):
            release()  # both measured checks attach the index (it stays attached while checks follow)
            start()
        enforce_landing_contract(_jan(n), settings)
        if n in (3, 24):
            work[n] = stop()

    def landing_files(paths) -> set[str]:
        return {str(p) for p in paths if str(p).startswith(str(settings.landing_dir))}

    for n, done in work.items():
        assert landing_files(done["opened"]) == {str(landing.path(s, _jan(n))) for s in load_contract()}
        assert not [q for q in done["sql"] if "read_csv" in q or "read_parquet" in q]
    short, long = work[3], work[24]
    assert len(long["opened"]) == len(short["opened"])
    assert len(long["stat"]) == len(short["stat"])
    assert len(long["listdir"]) == len(short["listdir"]) == len(landing_sources())  # one per source folder
    assert len(long["sql"]) == len(short["sql"])
    assert not legacy_key_dir(settings).exists()
    assert _index_days(settings) == [_jan(n) for n in range(1, 25)]


def test_accepted_days_keys_are_indexed_and_a_quarantined_day_leaves(landing):
    settings = landing.settings
    for day in (DAY1, DAY2, DAY3):
        landing.write_day(day)
        enforce_landing_contract(day, settings)
    assert set(indexed_sources()) >= {"customers", "accounts", "campaigns", "campaign_contacts", "transactions"}
    transactions = _index_rows(settings, "transactions")
    assert len(transactions) == sum(len(landing.rows("transactions", d)) for d in (DAY1, DAY2, DAY3))
    assert ("T0020001", DAY2) in transactions

    # Day 2 redelivered with other files after day 3 was accepted: out of order, quarantined, forgotten.
    landing.edit("transactions", DAY2, 1, amount="-1.00")
    with pytest.raises(ContractViolation):
        enforce_landing_contract(DAY2, settings)
    assert DAY2 not in accepted_days(settings)
    assert _index_days(settings) == [DAY1, DAY3]
    assert not [row for row in _index_rows(settings, "transactions") if row[-1] == DAY2]


def test_a_rerun_of_an_accepted_day_keeps_one_copy_of_its_keys(landing):
    settings = landing.settings
    landing.write_day(DAY1)
    enforce_landing_contract(DAY1, settings)
    before = _index_rows(settings, "customers")
    assert enforce_landing_contract(DAY1, settings).rerun
    assert _index_rows(settings, "customers") == before


def test_index_is_rebuilt_from_landing_when_missing_or_from_the_parquet_cache(landing):
    """A DATA_DIR of the former per-day Parquet cache (or with the index lost) migrates once."""
    settings = landing.settings
    for day in (DAY1, DAY2):
        landing.write_day(day)
        enforce_landing_contract(day, settings)
    release()
    for path in key_index_path(settings).parent.glob(key_index_path(settings).name + "*"):
        path.unlink()  # the index and its write-ahead log
    for source in indexed_sources():
        (legacy_key_dir(settings) / source).mkdir(parents=True, exist_ok=True)
        (legacy_key_dir(settings) / source / f"dt={DAY1}.parquet").write_bytes(b"old cache")

    # A dry run reads the accepted days from landing and writes nothing.
    landing.write_day(DAY3)
    landing.edit("digital_events", DAY3, 2, event_id="E001001")
    report = check_landing_batch(DAY3, settings)
    assert [(v.rule, v.sample) for v in report.violations] == [
        ("key_already_delivered", ["event_id=E001001 (dt=2024-01-01)"])
    ]
    assert not key_index_path(settings).exists()

    # Enforcing rebuilds the index from landing for the accepted days, then finds the same.
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY3, settings)
    assert [(v.rule, v.sample) for v in raised.value.report.violations] == [
        ("key_already_delivered", ["event_id=E001001 (dt=2024-01-01)"])
    ]
    assert _index_days(settings) == [DAY1, DAY2]
    assert not legacy_key_dir(settings).exists()
    assert ("E001001", DAY1) in _index_rows(settings, "digital_events")


def test_index_follows_the_ledger(landing):
    """A day forgotten by the ledger alone (say a crash in between) leaves the index at the next check."""
    settings = landing.settings
    for day in (DAY1, DAY2):
        landing.write_day(day)
        enforce_landing_contract(day, settings)
    ledger = settings.runs_dir / "landing_ledger.json"
    text = ledger.read_text()
    forget_day(settings, DAY2)
    assert _index_days(settings) == [DAY1]
    ledger.write_text(text)  # the ledger says day 2 is accepted again; the index lacks it
    landing.write_day(DAY3)
    landing.edit("transactions", DAY3, 1, transaction_id="T0020001")
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY3, settings)
    assert [v.sample for v in raised.value.report.violations] == [["transaction_id=T0020001 (dt=2024-01-02)"]]
    assert _index_days(settings) == [DAY1, DAY2]


def test_orphans_are_found_against_the_index(landing):
    settings = landing.settings
    for day in (DAY1, DAY2):
        landing.write_day(day)
        enforce_landing_contract(day, settings)
    landing.write_day(DAY3)
    # Known from day 1 (index), from day 3 itself, and unknown.
    landing.write(
        "transactions",
        DAY3,
        [
            {**row, "account_id": account}
            for row, account in zip(landing.rows("transactions", DAY3), ["A00000001", "A00000004", "A00000009"])
        ],
    )
    report = check_landing_batch(DAY3, settings)
    assert [(v.rule, v.column, v.rows, v.sample) for v in report.violations] == [
        ("orphan_key", "account_id", [3], ["'A00000009'"])
    ]


def test_an_index_replaced_on_disk_is_attached_anew(landing, tmp_path):
    """A DATA_DIR restored from a copy (same path, other files) is not checked against the old index."""
    settings = landing.settings
    landing.write_day(DAY1)
    enforce_landing_contract(DAY1, settings)
    release()
    snapshot = tmp_path / "snapshot"
    shutil.copytree(settings.data_dir, snapshot)
    landing.write_day(DAY2)
    enforce_landing_contract(DAY2, settings)  # the index stays attached after this check
    shutil.rmtree(settings.data_dir)
    shutil.copytree(snapshot, settings.data_dir)  # back to day 1 only, while the index is attached
    landing.write_day(DAY2)
    report = enforce_landing_contract(DAY2, settings)
    assert report.passed and not report.rerun, report.message()
    assert _index_days(settings) == [DAY1, DAY2]
