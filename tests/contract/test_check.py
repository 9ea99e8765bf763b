"""The landing contract check: each rule on a tiny batch, quarantine, ledger, recovery."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from bankmkt.contract import (
    RULES,
    ContractViolation,
    check_landing_batch,
    enforce_landing_contract,
    load_contract,
    restore_quarantined,
)
from bankmkt.contract.__main__ import main
from bankmkt.contract.docs import docs_path, render_contract_markdown
from bankmkt.contract.ledger import accepted_days

DAY1, DAY2, DAY3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


@pytest.fixture(scope="module")
def accepted_day1_template(make_landing, tmp_path_factory):
    """A DATA_DIR with day 1 accepted and a valid day 2 in landing, built once per module."""
    landing = make_landing(tmp_path_factory.mktemp("template") / "data")
    landing.write_day(DAY1)
    enforce_landing_contract(DAY1, landing.settings)
    landing.write_day(DAY2)
    return landing.settings.data_dir


@pytest.fixture
def day2(landing, accepted_day1_template):
    """Day 1 accepted; day 2 valid in landing, ready to be broken by a test."""
    shutil.copytree(accepted_day1_template, landing.settings.data_dir, dirs_exist_ok=True)
    return landing


def _replace_bytes(landing, source: str, old: bytes, new: bytes) -> None:
    path = landing.path(source, DAY2)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


def _drop_column(landing, source: str, column: str) -> None:
    columns = [c for c in landing.columns(source) if c != column]
    landing.write(source, DAY2, columns=columns)


# Each case breaks day 2 in one way: (id, how, rule, source, column, rows).
CASES = [
    ("file_missing", lambda f: f.path("transactions", DAY2).unlink(), "file_missing", "transactions", None, []),
    ("empty_file", lambda f: f.write("complaints", DAY2, data=b""), "empty_file", "complaints", None, []),
    (
        "latin1_encoding",
        lambda f: _replace_bytes(f, "customers", b"Eva", "Zoë".encode("latin-1")),
        "encoding",
        "customers",
        None,
        [2],
    ),
    (
        "byte_order_mark",
        lambda f: f.write("complaints", DAY2, data=b"\xef\xbb\xbf" + f.render("complaints", [])),
        "encoding",
        "complaints",
        None,
        [],
    ),
    (
        "semicolon_delimiter",
        lambda f: f.write("transactions", DAY2, delimiter=";"),
        "delimiter",
        "transactions",
        None,
        [],
    ),
    ("tab_delimiter", lambda f: f.write("accounts", DAY2, delimiter="\t"), "delimiter", "accounts", None, []),
    (
        "header_missing",
        lambda f: f.write(
            "transactions", DAY2, data=f.render("transactions", f.rows("transactions", DAY2)).split(b"\n", 1)[1]
        ),
        "header_missing",
        "transactions",
        None,
        [],
    ),
    (
        "missing_column",
        lambda f: _drop_column(f, "transactions", "channel"),
        "missing_columns",
        "transactions",
        None,
        [],
    ),
    (
        "extra_column",
        lambda f: f.write("transactions", DAY2, columns=f.columns("transactions") + ["note"]),
        "extra_columns",
        "transactions",
        None,
        [],
    ),
    (
        "columns_out_of_order",
        lambda f: f.write(
            "satisfaction_surveys", DAY2, columns=["survey_id", "customer_id", "answered_at", "csat_score", "nps_score"]
        ),
        "column_order",
        "satisfaction_surveys",
        None,
        [],
    ),
    (
        "truncated_last_line",
        lambda f: f.write("transactions", DAY2, data=f.path("transactions", DAY2).read_bytes()[:-40]),
        "truncated_file",
        "transactions",
        None,
        [5],
    ),
    (
        "no_trailing_newline",
        lambda f: f.write("transactions", DAY2, data=f.path("transactions", DAY2).read_bytes().rstrip(b"\n")),
        "truncated_file",
        "transactions",
        None,
        [5],
    ),
    (
        "extra_field_in_a_row",
        lambda f: _replace_bytes(f, "transactions", b"T0020002,", b"T0020002,X,"),
        "field_count",
        "transactions",
        None,
        [2],
    ),
    (
        "blank_line",
        lambda f: _replace_bytes(f, "transactions", b"\nT0020003,", b"\n\nT0020003,"),
        "field_count",
        "transactions",
        None,
        [3],
    ),
    (
        "repeated_column",
        lambda f: f.write("complaints", DAY2, columns=f.columns("complaints") + ["severity"]),
        "extra_columns",
        "complaints",
        None,
        [],
    ),
    (
        "bad_date",
        lambda f: f.edit("customers", DAY2, 2, birth_date="1985-13-01"),
        "type",
        "customers",
        "birth_date",
        [2],
    ),
    (
        "bad_timestamp",
        lambda f: f.edit("transactions", DAY2, 3, booked_at="2024-01-02 12:15:00"),
        "type",
        "transactions",
        "booked_at",
        [3],
    ),
    ("bad_decimal", lambda f: f.edit("transactions", DAY2, 4, amount="-12,50"), "type", "transactions", "amount", [4]),
    (
        "bad_integer",
        lambda f: f.edit("satisfaction_surveys", DAY2, 1, nps_score="9.5"),
        "type",
        "satisfaction_surveys",
        "nps_score",
        [1],
    ),
    (
        "bad_boolean",
        lambda f: f.edit("campaign_contacts", DAY2, 1, is_control="yes"),
        "type",
        "campaign_contacts",
        "is_control",
        [1],
    ),
    (
        "null_amount",
        lambda f: f.write(
            "transactions",
            DAY2,
            [{**r, "amount": ""} if k in (2, 4) else r for k, r in enumerate(f.rows("transactions", DAY2), 1)],
        ),
        "not_null",
        "transactions",
        "amount",
        [2, 4],
    ),
    (
        "value_not_allowed",
        lambda f: f.edit("transactions", DAY2, 5, direction="DEBIT"),
        "allowed_values",
        "transactions",
        "direction",
        [5],
    ),
    (
        "pattern",
        lambda f: f.edit("customers", DAY2, 1, customer_id="c0000001"),
        "pattern",
        "customers",
        "customer_id",
        [1],
    ),
    (
        "implausible_amount",
        lambda f: f.edit("transactions", DAY2, 1, amount="-5000000.00"),
        "range",
        "transactions",
        "amount",
        [1],
    ),
    (
        "negative_income",
        lambda f: f.edit("customers", DAY2, 2, monthly_income="-10.00"),
        "range",
        "customers",
        "monthly_income",
        [2],
    ),
    (
        "negative_age",
        lambda f: f.edit("customers", DAY2, 2, birth_date="2024-01-03"),
        "in_future",
        "customers",
        "birth_date",
        [2],
    ),
    (
        "timestamp_after_day",
        lambda f: f.edit("accounts", DAY2, 1, updated_at="2024-01-03T00:00:00Z"),
        "in_future",
        "accounts",
        "updated_at",
        [1],
    ),
    (
        "event_on_other_day",
        lambda f: f.edit("transactions", DAY2, 2, booked_at="2024-01-01T23:59:59Z"),
        "not_on_file_day",
        "transactions",
        "booked_at",
        [2],
    ),
    (
        "balance_of_other_day",
        lambda f: f.edit("daily_balances", DAY2, 3, balance_date="2024-01-03"),
        "not_on_file_day",
        "daily_balances",
        "balance_date",
        [3],
    ),
    (
        "duplicate_key",
        lambda f: f.edit("transactions", DAY2, 4, transaction_id="T0020002"),
        "duplicate_key",
        "transactions",
        "transaction_id",
        [2, 4],
    ),
    (
        "key_delivered_yesterday",
        lambda f: f.edit("digital_events", DAY2, 2, event_id="E001001"),
        "key_already_delivered",
        "digital_events",
        "event_id",
        [2],
    ),
    (
        "orphan_account",
        lambda f: f.edit("transactions", DAY2, 3, account_id="A99999999"),
        "orphan_key",
        "transactions",
        "account_id",
        [3],
    ),
    (
        "orphan_contact",
        lambda f: f.edit("campaign_responses", DAY2, 1, contact_id="N009999"),
        "orphan_key",
        "campaign_responses",
        "contact_id",
        [1],
    ),
    (
        "same_file_twice",
        lambda f: shutil.copyfile(f.path("product_holdings", DAY1), f.path("product_holdings", DAY2)),
        "duplicate_file",
        "product_holdings",
        None,
        [],
    ),
]


@pytest.mark.parametrize("break_day, rule, source, column, rows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_batch_is_quarantined_with_the_rule_file_and_rows(day2, break_day, rule, source, column, rows):
    settings = day2.settings
    break_day(day2)

    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY2, settings)

    report = raised.value.report
    assert {v.rule for v in report.violations} == {rule}, report.message()
    violation = report.violations[0]
    file = day2.rel(source, DAY2)
    assert (violation.file, violation.source, violation.column, violation.rows) == (file, source, column, rows)
    assert violation.row_count == len(rows)
    message = str(raised.value)
    assert f"{file}: rule '{rule}' failed" in message
    if rows:
        noun = "row" if len(rows) == 1 else "rows"
        assert f"({noun} {', '.join(map(str, rows))})" in message

    # The whole day left landing; the attempt holds every file and both reports.
    attempt = raised.value.report_path.parent
    assert attempt.parent == settings.quarantine_dir / f"dt={DAY2}"
    assert not any(day2.path(s, DAY2).exists() for s in load_contract())
    document = json.loads((attempt / "report.json").read_text())
    assert document["passed"] is False
    assert [(v["rule"], v["file"], v["rows"]) for v in document["violations"]] == [(rule, file, rows)]
    assert f"`{rule}`" in (attempt / "report.md").read_text()
    moved = {s for s in load_contract() if (attempt / s / f"{s}.csv").is_file()}
    assert moved == set(load_contract()) - ({"transactions"} if rule == "file_missing" else set())
    assert DAY2 not in accepted_days(settings)


def test_every_rule_is_exercised():
    tested = {c[2] for c in CASES} | {
        "out_of_order",
        "implausible",
        "placeholder_value",
        "spend_beyond_income",
        "personal_data_in_free_text",
        "attribute_value",
        "balance_missing",
    }  # test_plausibility.py, test_personal_data.py, test_attributes.py, test_balance_coverage.py
    assert tested == set(RULES)


def test_the_unbroken_day_passes(day2):
    report = check_landing_batch(DAY2, day2.settings)
    assert report.passed, report.message()


def test_valid_days_pass_and_are_recorded(landing):
    for day in (DAY1, DAY2, DAY3):
        landing.write_day(day)
        report = enforce_landing_contract(day, landing.settings)
        assert report.passed and not report.rerun
        assert report.rows_per_source["transactions"] == len(landing.rows("transactions", day))
        assert report.rows_per_source["campaign_responses"] == len(landing.rows("campaign_responses", day))
    ledger = accepted_days(landing.settings)
    assert sorted(ledger) == [DAY1, DAY2, DAY3]
    assert ledger[DAY3]["files"]["transactions"]["sha256"] == report.files["transactions"].sha256


def test_earlier_days_are_read_from_landing_when_not_accepted(landing):
    """Cross-day checks work from the landing CSVs alone (no ledger, no key cache)."""
    landing.write_day(DAY1)
    landing.write_day(DAY2)
    assert check_landing_batch(DAY2, landing.settings).passed
    landing.edit("transactions", DAY2, 1, transaction_id="T0010002")
    report = check_landing_batch(DAY2, landing.settings)
    assert [(v.rule, v.rows, v.sample) for v in report.violations] == [
        ("key_already_delivered", [1], ["transaction_id=T0010002 (dt=2024-01-01)"])
    ]


def test_a_day_not_delivered_yet_reports_only_missing_files(day2):
    report = check_landing_batch(DAY3, day2.settings)
    assert {v.rule for v in report.violations} == {"file_missing"}
    assert len(report.violations) == len(load_contract())


def test_check_changes_nothing_on_disk(day2):
    day2.edit("transactions", DAY2, 1, amount="")
    report = check_landing_batch(DAY2, day2.settings)
    assert not report.passed
    assert day2.path("transactions", DAY2).is_file()
    assert not any(day2.settings.quarantine_dir.iterdir())


def test_rerun_of_an_accepted_day_passes_even_after_later_days(landing):
    for day in (DAY1, DAY2, DAY3):
        landing.write_day(day)
        enforce_landing_contract(day, landing.settings)
    report = enforce_landing_contract(DAY2, landing.settings)
    assert report.passed and report.rerun


def test_day_before_the_last_accepted_day_is_out_of_order(landing):
    for day in (DAY1, DAY2, DAY3):
        landing.write_day(day)
    enforce_landing_contract(DAY1, landing.settings)
    enforce_landing_contract(DAY3, landing.settings)
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY2, landing.settings)
    violations = raised.value.report.violations
    assert [(v.rule, v.file) for v in violations] == [("out_of_order", f"landing/*/dt={DAY2}/")]
    assert "2024-01-02 arrives after 2024-01-03 was accepted" in str(raised.value)
    assert (raised.value.report_path.parent / "transactions" / "transactions.csv").is_file()


def test_gap_before_the_day_is_out_of_order(landing):
    landing.write_day(DAY1)
    enforce_landing_contract(DAY1, landing.settings)
    landing.write_day(DAY2)
    landing.path("digital_events", DAY2).unlink()
    landing.write_day(DAY3)
    report = check_landing_batch(DAY3, landing.settings)
    assert [(v.rule, v.file) for v in report.violations] == [("out_of_order", landing.rel("digital_events", DAY2))]


def test_recovery_after_quarantine_keeps_every_attempt(day2):
    settings = day2.settings
    day2.edit("transactions", DAY2, 3, amount="abc")
    with pytest.raises(ContractViolation):
        enforce_landing_contract(DAY2, settings)

    # The sender re-delivers a still-broken file: a second attempt, the first one kept.
    day2.edit("transactions", DAY2, 3, amount="")
    assert restore_quarantined(DAY2, settings)  # the other ten files come back
    with pytest.raises(ContractViolation) as raised:
        enforce_landing_contract(DAY2, settings)
    assert [v.rule for v in raised.value.report.violations] == ["not_null"]

    # Corrected file re-delivered, the others restored: the rerun passes.
    day2.write("transactions", DAY2)
    restored = restore_quarantined(DAY2, settings)
    assert len(restored) == len(load_contract()) - 1
    assert enforce_landing_contract(DAY2, settings).passed
    attempts = sorted((settings.quarantine_dir / f"dt={DAY2}").iterdir())
    assert len(attempts) == 2
    assert all((a / "report.json").is_file() and (a / "transactions" / "transactions.csv").is_file() for a in attempts)


def test_several_problems_are_reported_together(day2):
    day2.edit("transactions", DAY2, 1, amount="", direction="sideways")
    day2.path("complaints", DAY2).unlink()
    report = check_landing_batch(DAY2, day2.settings)
    assert {(v.rule, v.source) for v in report.violations} == {
        ("not_null", "transactions"),
        ("allowed_values", "transactions"),
        ("file_missing", "complaints"),
    }


def test_header_only_files_quoted_commas_and_crlf_are_valid(landing):
    landing.write_day(DAY1)
    landing.write("transactions", DAY1, [], newline="\r\n")
    landing.write("customers", DAY1, newline="\r\n")
    report = check_landing_batch(DAY1, landing.settings)
    assert report.passed, report.message()
    assert report.rows_per_source["transactions"] == 0
    assert report.rows_per_source["campaigns"] == 1  # "Cards, spring" is quoted


def test_cli_exit_codes(day2, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(day2.settings.data_dir))
    assert main(["check", "--date", str(DAY2), "--dry-run"]) == 0
    day2.edit("transactions", DAY2, 2, amount="")
    assert main(["check", "--date", str(DAY2)]) == 1
    err = capsys.readouterr().err
    assert f"{day2.rel('transactions', DAY2)}: rule 'not_null' failed on column amount in 1 row (row 2)" in err
    assert "report.md" in err
    day2.write("transactions", DAY2)
    assert main(["restore", "--date", str(DAY2)]) == 0
    assert main(["check", "--date", str(DAY2)]) == 0


def test_docs_match_the_schemas(settings):
    assert docs_path(settings).read_text(encoding="utf-8") == render_contract_markdown(), (
        "docs/landing_contract.md is stale: run python -m bankmkt.contract docs"
    )


def test_a_banks_own_customer_number_format_comes_from_settings(landing):
    """Nine-digit customer numbers break the contract's C + 7 digits, unless the bank's format is set."""
    import dataclasses

    nine_digits = {"C0000001": "100000001", "C0000002": "100000002"}

    def renumbered(source):
        rows = landing.rows(source, DAY1)
        for row in rows:
            if row.get("customer_id") in nine_digits:
                row["customer_id"] = nine_digits[row["customer_id"]]
        return rows

    for source in load_contract():
        landing.write(source, DAY1, renumbered(source))
    report = check_landing_batch(DAY1, landing.settings)
    assert {(v.rule, v.source, v.column) for v in report.violations} == {("pattern", "customers", "customer_id")}
    assert "must match ^C[0-9]{7}$" in report.message()
    bank = dataclasses.replace(landing.settings, customer_number_pattern=r"[1-9][0-9]{8}")
    assert check_landing_batch(DAY1, bank).passed
    wrong = dataclasses.replace(landing.settings, customer_number_pattern=r"[1-9][0-9]{9}")
    assert "must match [1-9][0-9]{9}" in check_landing_batch(DAY1, wrong).message()
