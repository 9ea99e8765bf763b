"""Render docs/landing_contract.md from the JSON schemas, so the two never disagree."""

from __future__ import annotations

from pathlib import Path

from bankmkt.contract.report import RULES
from bankmkt.contract.schema import ColumnSpec, SourceContract, load_contract, load_corrections
from bankmkt.settings import KEY_PATTERN_VARIABLES, Settings

TYPE_FORMATS = {
    "string": "text",
    "date": "`YYYY-MM-DD`",
    "timestamp": "`YYYY-MM-DDTHH:MM:SSZ` (UTC)",
    "integer": "whole number, e.g. `42`, `-3`",
    "decimal": "e.g. `-123.45` (point, no thousands separator, no exponent)",
    "boolean": "`true` / `false`",
}


def docs_path(settings: Settings) -> Path:
    return settings.landing_contract_doc_path


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _column_rules(contract: SourceContract, column: ColumnSpec) -> str:
    rules = []
    if column.name in contract.primary_key:
        rules.append("primary key" if len(contract.primary_key) == 1 else "part of the primary key")
    if column.name in contract.foreign_keys:
        ref_source, ref_column = contract.foreign_keys[column.name]
        rules.append(f"→ `{ref_source}.{ref_column}`")
    if column.allowed is not None:
        rules.append("one of " + ", ".join(f"`{a}`" for a in column.allowed))
    if column.min is not None and column.max is not None:
        rules.append(f"{column.min} ≤ value ≤ {column.max}")
    elif column.min is not None:
        rules.append(f"≥ {column.min}")
    elif column.max is not None:
        rules.append(f"≤ {column.max}")
    if column.pattern:
        setting = KEY_PATTERN_VARIABLES.get(f"{contract.source}.{column.name}", (None,))[0]
        rules.append(f"matches `{column.pattern}`" + (f" (the bank's own format: `{setting}`)" if setting else ""))
    if column.name == contract.day_column:
        rules.append("on the file's day D")
    elif column.type == "date" and not contract.may_be_future(column.name):
        rules.append("≤ D")
    elif column.type == "timestamp":
        rules.append("before the end of D")
    elif contract.may_be_future(column.name):
        rules.append("may be after D")
    return "; ".join(rules)


def render_contract_markdown() -> str:
    contracts = load_contract()
    out = [
        "# Landing contract",
        "",
        "<!-- Generated from src/bankmkt/contract/schemas/*.json by "
        "`python -m bankmkt.contract docs`; edit the schemas, not this file. -->",
        "",
        "Every source extract lands as one CSV file per day. The contract check "
        "(`python -m bankmkt.contract check --date D`, the first task of the daily run) "
        "validates all of day D's files before anything enters the warehouse; a day that "
        "breaks a rule goes to quarantine as a whole and the run stops.",
        "",
        "## File layout",
        "",
        "```",
        "<DATA_DIR>/landing/<source>/dt=YYYY-MM-DD/<source>.csv",
        "```",
        "",
        "`dt` is the logical day D the extract belongs to. Every source gets a file every "
        "day, header-only when the source has no rows that day. Landing files are immutable.",
        "",
        "## Format",
        "",
        '- UTF-8 without byte-order mark; comma-separated; `"` quotes a field that contains a '
        "comma or a quote (a quote inside is doubled).",
        "- First line is the header with exactly the contract's columns, in the contract's order.",
        "- Every line ends with a newline, the last one included (LF; CRLF is read too).",
        "- An empty field is null (`''`). Dates `YYYY-MM-DD`; timestamps `YYYY-MM-DDTHH:MM:SSZ` "
        "in UTC; booleans `true`/`false`; decimals with a point.",
        "- Rows are numbered from 1 in reports: row 1 is the line after the header.",
        "",
        "## Sources",
        "",
        "| source | primary key | foreign keys | day column | keys unique across days | holds |",
        "|---|---|---|---|---|---|",
    ]
    for c in contracts.values():
        fks = ", ".join(f"`{col}` → `{s}.{r}`" for col, (s, r) in c.foreign_keys.items())
        out.append(
            f"| `{c.source}` | {', '.join(f'`{k}`' for k in c.primary_key)} | {fks} | "
            f"{f'`{c.day_column}`' if c.day_column else ''} | "
            f"{'yes' if c.keys_unique_across_days else ''} | {_cell(c.description)} |"
        )
    out += [
        "",
        "A foreign key must exist in the referenced source's file of the same day or of any "
        "earlier day. Sources with a day column are event sources: each row is delivered "
        "once, on its own day, so their primary key must not appear again on a later day "
        "(`daily_balances` needs no such lookup: its key contains the day).",
        "",
    ]
    for c in contracts.values():
        out += [
            f"### {c.source}",
            "",
            _cell(c.description),
            "",
            f"File `landing/{c.source}/dt=YYYY-MM-DD/{c.source}.csv`; primary key ({', '.join(c.primary_key)}).",
            "",
            "| column | type | nullable | rule | description |",
            "|---|---|---|---|---|",
        ]
        for col in c.columns:
            out.append(
                f"| `{col.name}` | {col.type} | {'yes' if col.nullable else 'no'} | "
                f"{_cell(_column_rules(c, col))} | {_cell(col.description)} |"
            )
        out.append("")
    corrections = load_corrections()
    out += [
        "## Corrections",
        "",
        "Accepted files never change, and an event's key never reappears in a later day's file "
        "(`key_already_delivered`). A contact or a response recorded wrongly is corrected by an "
        "explicit delivery in a later day's batch (or the same day's), an optional file beside the "
        "day's others:",
        "",
        "```",
        *(f"<DATA_DIR>/landing/{name}/dt=YYYY-MM-DD/{name}.csv" for name in corrections),
        "```",
        "",
        "Each row is the whole corrected record (every column of the source, in its order) followed "
        "by `correction_reason` (not null; free text, checked for personal data). The contract checks "
        "a corrected row like any row of its source, and its primary key must name a record "
        "delivered before (`orphan_key`), once per file. The ledger records the file with the day "
        "(sha256, rows) and verifies it like any accepted file; the day goes to quarantine as a "
        "whole if the correction breaks a rule. In the warehouse the latest correction replaces the "
        "record: staging keeps the first delivery's day as `delivered_on` and the correction's as "
        "`corrected_on`, and every model built on it (effectiveness, training labels) follows. "
        "Customers, accounts and product holdings are corrected by a new version (a later "
        "`updated_at`), transactions by a reversing entry.",
        "",
        "| corrections source | corrects | primary key → the corrected record |",
        "|---|---|---|",
        *(
            f"| `{name}` | `{c.corrects}` | `{c.primary_key[0]}` → `{c.corrects}.{c.primary_key[0]}` |"
            for name, c in corrections.items()
        ),
        "",
        "Value formats by type: " + "; ".join(f"{t}: {f}" for t, f in TYPE_FORMATS.items()) + ".",
        "",
        "## Checks",
        "",
        "Each check is a named rule; a violation names the file, the rule, the column, "
        "how many rows, the first row numbers and a sample of the offending values, e.g.",
        "",
        "```",
        "landing/transactions/dt=2024-01-05/transactions.csv: rule 'not_null' failed on column "
        "amount in 3 rows (rows 4, 17, 90): empty value in a column that is not nullable; "
        "sample: transaction_id=T4, transaction_id=T17, transaction_id=T90",
        "```",
        "",
        "| rule | what it guards |",
        "|---|---|",
        *(f"| `{rule}` | {_cell(text)} |" for rule, text in RULES.items()),
        "",
        "A file that is missing, empty, not comma-separated or headerless gets no further "
        "checks; every other file gets all of them, so one report lists everything wrong with "
        "the day. A rerun of a day already accepted with the same files passes.",
        "",
        "## Quarantine",
        "",
        "When day D fails, all of D's files (every source, not only the failing ones) move out "
        "of landing into a new attempt folder; attempts are never overwritten:",
        "",
        "```",
        "<DATA_DIR>/quarantine/dt=YYYY-MM-DD/<attempt UTC stamp YYYYMMDDTHHMMSSZ>/",
        "    <source>/<source>.csv   the files as they were in landing",
        "    report.json             run_date, checked_at, passed, rerun, seconds,",
        "                            files {source: file, exists, bytes, rows, sha256},",
        "                            violations [{rule, file, source, column, row_count,",
        "                            rows (first 100), sample, detail}], quarantine {attempt, moved}",
        "    report.md               the same, readable, with the recovery steps",
        "```",
        "",
        "To recover: deliver the corrected file(s) to landing, run "
        "`python -m bankmkt.contract restore --date D` to copy back the quarantined files "
        "that broke no rule, then rerun the check (or the day's DAG run). A day quarantined only "
        "for `out_of_order` (an earlier day is missing) has no failing file: once the earlier "
        "day is accepted, `restore` brings all of its files back.",
        "",
        "## Commands",
        "",
        "```",
        "python -m bankmkt.contract check --date YYYY-MM-DD            # enforce: accept or quarantine, "
        "exit 1 on a violation",
        "python -m bankmkt.contract check --date YYYY-MM-DD --dry-run  # report only, move nothing",
        "python -m bankmkt.contract restore --date YYYY-MM-DD          # copy back the files that passed",
        "python -m bankmkt.contract docs                               # regenerate this page",
        "```",
        "",
        "From Python: `bankmkt.contract.enforce_landing_contract(run_date)` (what the daily DAG "
        "calls) and `check_landing_batch(run_date)` (no side effects).",
        "",
        "## Ledger",
        "",
        "An accepted day is recorded in `<DATA_DIR>/runs/landing_ledger.json` (one line per "
        "day) with each file's sha256, size and row count; it tells a rerun (same files) from "
        "a day that arrives after later days were accepted, and gives `duplicate_file` the "
        "hashes of earlier files without reading them.",
        "",
        "**Accepted files never change.** Every daily run first verifies every accepted file "
        "against its recorded sha256 (a file is hashed again only when its size, modification "
        "time, change time or inode moved since its last verification; "
        "`<DATA_DIR>/runs/landing_file_stats.json`). A file edited in place, re-delivered "
        "with a difference, or removed stops the run before anything is read, with a message "
        "naming the file, the accepted and the current checksum. A correction is a new "
        "delivery in a later day's batch (see Corrections).",
        "",
        "**Plausibility.** Each accepted day also records, per column with a "
        "`plausible_factor` (monthly income), its 0.1st and 99.9th percentiles; from the "
        "seventh accepted day on, `implausible` stops values beyond that factor times the "
        "extreme percentiles of the days before. Amounts are heavy-tailed (transfers and "
        "investments reach hundreds of thousands), so a band does not judge them; "
        "`placeholder_value` stops 999999-like values and exact powers of ten from a million "
        "on amounts, incomes and balances.",
        "",
        "**Personal data.** Samples of personal columns (`personal`) appear in messages and "
        "reports as their shape only (`'****-**-**'`); free-text columns (`free_text`) must "
        "not hold an e-mail address, phone or identity number (`personal_data_in_free_text`). "
        "Staging keeps only keyed hashes of identifiers and the month of birth.",
        "",
        "The keys that later days look up (the primary keys of event sources, whose keys must "
        "not repeat, and the keys foreign keys point to: `customer_id`, `account_id`, "
        "`campaign_id`, `contact_id`) are kept in one DuckDB file, "
        "`<DATA_DIR>/runs/landing_keys.duckdb`: a table per source with those columns and "
        "`dt`, appended when a day is accepted and deleted when a day is quarantined. "
        "`key_already_delivered` and `orphan_key` join the day's file with these tables, so "
        "a day's check reads the day's files and this one index, however long the history. "
        "Earlier landed days that are not accepted yet are read from their landing CSVs.",
        "",
        "The index is a cache of the ledger's days: before an enforcing check it is brought "
        "in line with the ledger (days the ledger no longer has are deleted; accepted days it "
        "lacks, e.g. on a DATA_DIR from before the index or after the file was deleted, are "
        "read once from landing; the former per-day Parquet cache `runs/landing_keys/` is "
        "then removed). A dry run never writes it: accepted days it lacks are read from "
        "landing. Deleting the file between runs is safe. A check holds the file (a DuckDB "
        "lock) while it runs and for half a second after, so that the next day's check in the "
        "same process finds it open; a check of the same DATA_DIR in another process waits "
        "for it.",
        "",
    ]
    return "\n".join(out)
