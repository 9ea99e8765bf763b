"""A catalogue of bad inputs, each taken through the real stages of the daily run.

One good state per module (``published_bank`` in conftest.py: a tiny bank
checked, built, gated and published for day 19). Each case starts from it,
lands day 20's good batch, breaks it in ONE way, runs ``check_landing`` and the
next stages until one fails, and asserts

* the exact message the user reads (file, rule, column, rows, sample);
* that nothing downstream changed byte for byte: the warehouse file and every
  table (for a contract failure; a gate failure comes after dbt by design, so
  there only what is published is compared), the Parquet exports, the Feast
  registry and online store, the MLflow store and the outputs.

The last test delivers two bad batches and then the good one: the rerun
publishes day 20 and the quarantine keeps every attempt.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from bankmkt import pipeline
from bankmkt.contract import ContractViolation, load_contract, restore_quarantined
from bankmkt.contract.quarantine import latest_attempt, quarantine_dir_for
from bankmkt.quality import QualityGateFailed
from bankmkt.settings import Settings

BAD_DAY = date(2024, 1, 20)
NEXT_DAY = date(2024, 1, 21)
FIRST_DAY = date(2024, 1, 1)
PREVIOUS_DAY = date(2024, 1, 19)

# Runs dbt, GX and Feast for real on a tiny bank (about 2 minutes of set-up on a quiet machine).
pytestmark = pytest.mark.e2e


# ---- checksums ------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def tree_digest(folder: Path) -> str:
    """One hash over every file's relative path and bytes ("absent" when the folder is missing)."""
    if not folder.is_dir():
        return "absent"
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def table_digests(settings: Settings) -> dict[str, str]:
    """Row count and md5 of the sorted rows of every warehouse table (read-only connection)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {
            f"table {table}": con.execute(
                f"select count(*) || ':' || coalesce(md5(string_agg(cast(t as varchar), chr(10) "
                f"order by cast(t as varchar))), '') from {table} as t"
            ).fetchone()[0]
            for table in tables
        }


def published_state(settings: Settings) -> dict[str, str]:
    """Everything a failed run must leave unchanged downstream of the warehouse."""
    return {
        "exports": tree_digest(settings.exports_dir),
        "feast registry": file_digest(settings.feast_registry_path),
        "feast online store": file_digest(settings.feast_online_path),
        "mlflow": tree_digest(settings.mlflow_dir),
        "outputs": tree_digest(settings.outputs_dir),
    }


def full_state(settings: Settings) -> dict[str, str]:
    """The published state plus the warehouse (file and tables), the ledger and the gate's reports."""
    return {
        **published_state(settings),
        "warehouse file": file_digest(settings.warehouse_path),
        **table_digests(settings),
        "landing ledger": file_digest(settings.runs_dir / "landing_ledger.json"),
        "quality reports": tree_digest(settings.reports_dir / "quality"),
    }


# ---- day 20's batch, to be broken -----------------------------------------------------------


class Batch:
    """The landing files of one day, read and rewritten as CSV text."""

    def __init__(self, settings: Settings, day: date = BAD_DAY):
        self.settings = settings
        self.day = day

    def path(self, source: str, day: date | None = None) -> Path:
        day = day or self.day
        return self.settings.landing_dir / source / f"dt={day.isoformat()}" / f"{source}.csv"

    def rel(self, source: str, day: date | None = None) -> str:
        return f"landing/{source}/dt={(day or self.day).isoformat()}/{source}.csv"

    def columns(self, source: str) -> list[str]:
        return self.path(source).read_text().splitlines()[0].split(",")

    def rows(self, source: str, day: date | None = None) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.path(source, day).read_text())))

    def write(self, source: str, rows: list[dict], columns: list[str] | None = None, delimiter: str = ",") -> None:
        columns = columns or self.columns(source)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
        self.path(source).write_text(buffer.getvalue())

    def edit(self, source: str, row: int, **values: str) -> dict[str, str]:
        """Change data row ``row`` (1-based) of the file; return it as it was before."""
        rows = self.rows(source)
        before = dict(rows[row - 1])
        rows[row - 1].update(values)
        self.write(source, rows)
        return before

    def redeliver_customer(self, row: int = 1, **changes: str) -> dict[str, str]:
        """Add to day 20's customers file a new profile version of the ``row``-th customer of day 1."""
        customer = {
            **self.rows("customers", FIRST_DAY)[row - 1],
            "updated_at": f"{self.day.isoformat()}T06:00:00Z",
            **changes,
        }
        self.write("customers", self.rows("customers") + [customer])
        return customer


def violation(
    file: str,
    rule: str,
    detail: str,
    column: str | None = None,
    rows: list[int] | None = None,
    sample: list[str] | None = None,
) -> str:
    """One line of a contract failure, as docs/landing_contract.md shows it."""
    text = f"{file}: rule '{rule}' failed"
    if column:
        text += f" on column {column}"
    if rows:
        noun = "row" if len(rows) == 1 else "rows"
        text += f" in {len(rows)} {noun} ({noun} {', '.join(str(r) for r in rows)})"
    text += f": {detail}"
    if sample:
        text += f"; sample: {', '.join(sample)}"
    return text


def contract_message(day: date, lines: list[str], report: Path) -> str:
    files = {line.split(": rule ")[0] for line in lines}
    return "\n".join(
        [
            f"landing contract failed for {day}: {len(lines)} violation(s) in {len(files)} file(s)",
            *lines,
            f"quarantined; report: {report}",
        ]
    )


# ---- the cases: each breaks one thing and returns the lines the user must read ------------------


def missing_column(b: Batch) -> list[str]:
    b.write("transactions", b.rows("transactions"), columns=[c for c in b.columns("transactions") if c != "channel"])
    return [violation(b.rel("transactions"), "missing_columns", "missing: channel")]


def extra_column(b: Batch) -> list[str]:
    b.write("transactions", b.rows("transactions"), columns=b.columns("transactions") + ["note"])
    return [violation(b.rel("transactions"), "extra_columns", "not in the contract or repeated: 'note'")]


def wrong_type(b: Batch) -> list[str]:
    b.edit("transactions", 2, amount="12,5O EUR")
    return [violation(b.rel("transactions"), "type", "expected a decimal like -123.45", "amount", [2], ["'12,5O EUR'"])]


def unparseable_date(b: Batch) -> list[str]:
    b.edit("daily_balances", 4, balance_date="2024-02-30")
    return [
        violation(b.rel("daily_balances"), "type", "expected a date YYYY-MM-DD", "balance_date", [4], ["'2024-02-30'"])
    ]


def null_key(b: Batch) -> list[str]:
    b.edit("transactions", 3, transaction_id="")
    return [
        violation(
            b.rel("transactions"),
            "not_null",
            "empty value in a column that is not nullable",
            "transaction_id",
            [3],
            ["transaction_id="],
        )
    ]


def duplicate_key(b: Batch) -> list[str]:
    first = b.rows("transactions")[0]["transaction_id"]
    b.edit("transactions", 2, transaction_id=first)
    return [
        violation(
            b.rel("transactions"),
            "duplicate_key",
            "the primary key appears more than once in the file",
            "transaction_id",
            [1, 2],
            [f"transaction_id={first}"],
        )
    ]


def orphan_transaction(b: Batch) -> list[str]:
    b.edit("transactions", 5, account_id="A99999999")
    return [
        violation(
            b.rel("transactions"),
            "orphan_key",
            f"not in accounts.account_id of {BAD_DAY} or any earlier day",
            "account_id",
            [5],
            ["'A99999999'"],
        )
    ]


def negative_age(b: Batch) -> list[str]:
    b.redeliver_customer(birth_date="2031-05-01")
    return [
        violation(
            b.rel("customers"), "in_future", f"a negative age: after {BAD_DAY}", "birth_date", [1], ["'****-**-**'"]
        )
    ]  # a personal column's sample shows its shape only


def future_date(b: Batch) -> list[str]:
    b.edit("product_holdings", 1, opened_on="2024-02-14")
    return [
        violation(
            b.rel("product_holdings"),
            "in_future",
            f"in the future: after {BAD_DAY}",
            "opened_on",
            [1],
            ["'2024-02-14'"],
        )
    ]


def event_on_another_day(b: Batch) -> list[str]:
    b.edit("digital_events", 2, event_at="2024-01-19T23:59:59Z")
    return [
        violation(
            b.rel("digital_events"),
            "not_on_file_day",
            f"must fall on the file's day {BAD_DAY}",
            "event_at",
            [2],
            ["'2024-01-19T23:59:59Z'"],
        )
    ]


def implausible_amount(b: Batch) -> list[str]:
    b.edit("transactions", 1, amount="-2500000.00")
    return [violation(b.rel("transactions"), "range", "below the minimum -1000000", "amount", [1], ["'-2500000.00'"])]


def value_not_allowed(b: Batch) -> list[str]:
    b.edit("transactions", 6, channel="telepathy")
    allowed = "card_pos, card_online, atm, mobile, web, branch, standing_order"
    return [violation(b.rel("transactions"), "allowed_values", f"allowed: {allowed}", "channel", [6], ["'telepathy'"])]


def key_pattern(b: Batch) -> list[str]:
    b.redeliver_customer(customer_id="C12345")
    return [violation(b.rel("customers"), "pattern", "must match ^C[0-9]{7}$", "customer_id", [1], ["'C12345'"])]


def empty_file(b: Batch) -> list[str]:
    b.path("campaign_contacts").write_bytes(b"")
    return [
        violation(b.rel("campaign_contacts"), "empty_file", "the file is zero bytes (expected at least the header)")
    ]


def file_missing(b: Batch) -> list[str]:
    b.path("digital_events").unlink()
    return [violation(b.rel("digital_events"), "file_missing", f"no digital_events file for {BAD_DAY}")]


def truncated_file(b: Batch) -> list[str]:
    data = b.path("transactions").read_bytes()
    cut = data.rstrip(b"\n").rsplit(b",", 1)[0]  # the last line loses its last field and the newline
    b.path("transactions").write_bytes(cut)
    rows = len(b.rows("transactions"))
    return [
        violation(
            b.rel("transactions"),
            "truncated_file",
            "the last line is incomplete (6 of 7 fields; no newline at the end)",
            rows=[rows],
        )
    ]


def wrong_encoding(b: Batch) -> list[str]:
    b.redeliver_customer(first_name="Zoë")
    path = b.path("customers")
    utf8 = path.read_bytes()
    path.write_bytes(utf8.replace("Zoë".encode(), "Zoë".encode("latin-1")))
    offset = utf8.index("Zoë".encode()) + 2
    line = path.read_bytes().decode("utf-8", errors="replace").split("\n")[1]
    return [
        violation(
            b.rel("customers"),
            "encoding",
            f"not valid UTF-8 (first bad byte b'\\xeb' at offset {offset})",
            rows=[1],
            sample=[repr(line[:60])],
        )
    ]


def wrong_delimiter(b: Batch) -> list[str]:
    b.write("transactions", b.rows("transactions"), delimiter=";")
    header = b.path("transactions").read_text().split("\n", 1)[0]
    return [
        violation(
            b.rel("transactions"),
            "delimiter",
            "the header reads as one column; the file looks ';'-separated, the contract says ','",
            sample=[repr(header[:80])],
        )
    ]


def header_missing(b: Batch) -> list[str]:
    path = b.path("transactions")
    header, body = path.read_text().split("\n", 1)
    path.write_text(body)
    return [
        violation(
            b.rel("transactions"),
            "header_missing",
            f"the first line has none of the contract's column names; expected {header}",
            sample=[repr(body.split("\n", 1)[0][:80])],
        )
    ]


def same_file_twice(b: Batch) -> list[str]:
    yesterday = b.path("product_holdings", PREVIOUS_DAY)
    b.path("product_holdings").write_bytes(yesterday.read_bytes())
    return [
        violation(
            b.rel("product_holdings"),
            "duplicate_file",
            f"byte-identical to {b.rel('product_holdings', PREVIOUS_DAY)} (the same file delivered twice)",
        )
    ]


def event_delivered_again(b: Batch) -> list[str]:
    again = b.rows("transactions", PREVIOUS_DAY)[0]["transaction_id"]
    b.edit("transactions", 7, transaction_id=again)
    return [
        violation(
            b.rel("transactions"),
            "key_already_delivered",
            "an event's key was already delivered on an earlier day",
            "transaction_id",
            [7],
            [f"transaction_id={again} (dt={PREVIOUS_DAY})"],
        )
    ]


@dataclass(frozen=True)
class Case:
    """One bad input: how to break the good batch of ``day``; returns the lines the user must read."""

    id: str
    corrupt: Callable[[Batch], list[str]]
    day: date = BAD_DAY


def day_out_of_order(b: Batch) -> list[str]:
    """Day 21 arrives while day 20 never came: every source of day 20 is a gap."""
    from bankmkt.contract import load_contract

    gaps = [
        violation(
            b.rel(source, BAD_DAY),
            "out_of_order",
            f"an earlier day has no file for this source; {NEXT_DAY} must wait for it",
        )
        for source in load_contract()
    ]
    return gaps[:10] + [
        violation(f"landing/*/dt={NEXT_DAY}/", "out_of_order", f"{len(gaps) - 10} more earlier files missing")
    ]


CONTRACT_CASES = [
    Case("missing_column", missing_column),
    Case("extra_column", extra_column),
    Case("wrong_type", wrong_type),
    Case("unparseable_date", unparseable_date),
    Case("null_key", null_key),
    Case("duplicate_key", duplicate_key),
    Case("orphan_transaction", orphan_transaction),
    Case("negative_age", negative_age),
    Case("future_date", future_date),
    Case("event_on_another_day", event_on_another_day),
    Case("implausible_amount", implausible_amount),
    Case("value_not_allowed", value_not_allowed),
    Case("key_pattern", key_pattern),
    Case("empty_file", empty_file),
    Case("file_missing", file_missing),
    Case("truncated_file", truncated_file),
    Case("wrong_encoding", wrong_encoding),
    Case("wrong_delimiter", wrong_delimiter),
    Case("same_file_twice", same_file_twice),
    Case("header_missing", header_missing),
    Case("event_delivered_again", event_delivered_again),
    Case("day_out_of_order", day_out_of_order, day=NEXT_DAY),
]


@pytest.fixture(scope="module")
def good_state(published_bank) -> dict[str, str]:
    """Checksums of the good state every case starts from."""
    published_bank.reset()
    return full_state(published_bank.settings)


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=[c.id for c in CONTRACT_CASES])
def test_contract_stops_the_bad_batch_and_nothing_changes(case, published_bank, good_state):
    settings = published_bank.settings
    published_bank.start_case()
    published_bank.deliver(case.day)
    lines = case.corrupt(Batch(settings, case.day))

    with pytest.raises(ContractViolation) as failure:
        pipeline.check_landing(case.day)

    attempt = latest_attempt(case.day, settings)
    assert str(failure.value) == contract_message(case.day, lines, attempt / "report.md")
    assert full_state(settings) == good_state
    # The whole day went to quarantine, with a report naming every violation.
    assert not list(settings.landing_dir.glob(f"*/dt={case.day.isoformat()}"))
    report = json.loads((attempt / "report.json").read_text())
    assert [v["rule"] for v in report["violations"]] == [line.split("rule '")[1].split("'")[0] for line in lines]
    published_bank.dirty = False


def _gate_entry(settings: Settings, day: date) -> dict:
    """The customer_features entry of the run's quality summary."""
    from bankmkt.quality import quality_dir

    return json.loads((quality_dir(settings, day) / "summary.json").read_text())["suites"]["customer_features"]


def test_gate_stops_a_value_the_contract_allows_and_nothing_is_published(published_bank):
    """A birth year of 1900 is a valid date for the contract; an age of 124 fails the feature gate."""
    settings = published_bank.settings
    published_bank.reset()
    published_bank.dirty = True
    before = published_state(settings)
    published_bank.deliver(BAD_DAY)
    customer = Batch(settings).redeliver_customer(birth_date="1900-01-02")

    pipeline.check_landing(BAD_DAY)
    pipeline.build_warehouse(BAD_DAY)
    with pytest.raises(QualityGateFailed) as failure:
        pipeline.validate_features(BAD_DAY)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows, age = con.execute(
            "select count(*), max(age) filter (where customer_id = ?) from customer_features where feature_date = ?",
            [customer["customer_id"], BAD_DAY],
        ).fetchone()
    assert age == 124
    entry = _gate_entry(settings, BAD_DAY)
    page, summary = entry["data_docs_page"], entry["summary"]
    assert str(failure.value) == "\n".join(
        [
            f"quality gate failed for {BAD_DAY}:",
            "customer_features: 1 failure-level expectation(s) failed",
            f"  - age: expect_column_values_to_be_between [16, 120]: 1 of {rows} rows unexpected "
            f"({100 / rows:.2f}%), e.g. [124]",
            f"  Data Docs: {page}",
            f"report: {summary}",
        ]
    )
    assert Path(page).is_file() and Path(summary).is_file()
    assert published_state(settings) == before
    # A failed run is no baseline for the next run's comparisons.
    profile = json.loads((Path(summary).parent / "customer_features.profile.json").read_text())
    assert profile["passed"] is False and profile["previous_run"] == PREVIOUS_DAY.isoformat()


def test_recovery_publishes_the_redelivered_day_and_keeps_the_quarantine_history(published_bank):
    settings = published_bank.settings
    published_bank.reset()
    published_bank.dirty = True
    before = published_state(settings)

    # Two bad deliveries of day 20, each quarantined with its own report.
    for corrupt in (truncated_file, wrong_delimiter):
        published_bank.deliver(BAD_DAY)
        corrupt(Batch(settings))
        with pytest.raises(ContractViolation):
            pipeline.check_landing(BAD_DAY)
    attempts = sorted(p for p in quarantine_dir_for(settings, BAD_DAY).iterdir() if p.is_dir())
    assert len(attempts) == 2

    # The sender re-delivers the good transactions file; the other files come back from quarantine.
    good = published_bank.batch_file("transactions")
    target = Batch(settings).path("transactions")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(good.read_bytes())
    restored = restore_quarantined(BAD_DAY, settings)
    assert len(restored) == len(load_contract()) - 1  # every source but the re-delivered transactions

    pipeline.check_landing(BAD_DAY)
    pipeline.build_warehouse(BAD_DAY)
    assert pipeline.validate_features(BAD_DAY)["success"]
    published = pipeline.publish_features(BAD_DAY)

    features = _gate_entry(settings, BAD_DAY)  # compared with day 19's profile
    assert features["status"] == "passed" and features["previous_run"] == PREVIOUS_DAY.isoformat()
    assert published["export"]["rows_written"] == features["rows"]
    assert settings.feature_export_file(BAD_DAY).is_file()
    after = published_state(settings)
    assert after["feast online store"] != before["feast online store"]
    assert after["exports"] != before["exports"]
    # The quarantine still holds both attempts, their files and reports.
    assert sorted(p for p in quarantine_dir_for(settings, BAD_DAY).iterdir() if p.is_dir()) == attempts
    for attempt in attempts:
        assert (attempt / "report.md").is_file() and (attempt / "transactions" / "transactions.csv").is_file()
