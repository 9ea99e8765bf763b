"""What a landing-contract check found: violations, per-file facts, readable text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

# Rule name -> what it guards. The names appear in messages, report.json and docs.
RULES: dict[str, str] = {
    "file_missing": "Every source has a file for the day (header-only when it has no rows); "
    "corrections files are optional.",
    "empty_file": "The file is not zero bytes.",
    "encoding": "The file is valid UTF-8 without a byte-order mark.",
    "delimiter": "Fields are separated by ',' (a ';', tab or '|' file reads as one column).",
    "header_missing": "The first line is the header, not data.",
    "missing_columns": "Every contract column is in the header.",
    "extra_columns": "The header has no column outside the contract and none twice.",
    "column_order": "Columns appear in the contract's order.",
    "truncated_file": "The last line is complete: it has every field and ends with a newline.",
    "field_count": "Every row has as many fields as the header.",
    "type": "Values parse as their type: date YYYY-MM-DD, timestamp YYYY-MM-DDTHH:MM:SSZ, "
    "integer, decimal (-123.45), boolean true/false.",
    "not_null": "Columns that are not nullable have no empty value.",
    "allowed_values": "Values are in the column's allowed list.",
    "pattern": "Values match the column's regular expression.",
    "range": "Values are within the column's min and max.",
    "in_future": "Dates are on or before D, timestamps before the end of D (UTC); "
    "a birth date after D is a negative age.",
    "not_on_file_day": "The event's date or timestamp falls on the file's day D.",
    "duplicate_key": "The primary key is unique within the file.",
    "key_already_delivered": "An event source's primary key was not delivered on an earlier day.",
    "orphan_key": "Each foreign key exists in the referenced source's file of the same day "
    "or an earlier day; a correction names a record delivered before.",
    "duplicate_file": "The file is not byte-identical to an earlier day's file with rows.",
    "implausible": "Values of a column with a plausible_factor stay within that many times the extreme "
    "0.1st / 99.9th percentiles of the accepted days before D (from the 7th accepted day on).",
    "placeholder_value": "Amounts, incomes and balances are not placeholder patterns: six or more 9s "
    "(999999, -999999.99) or an exact power of ten from 1,000,000 up.",
    "spend_beyond_income": "A customer's spending on D (debits other than transfers out, investments and loan "
    "repayments, which move the customer's own money) stays within SPEND_INCOME_FACTOR times their monthly "
    "income, judged against at least SPEND_INCOME_FLOOR: income from the day's customers file or, for "
    "customers known before, the warehouse's last published snapshot; accounts' owners likewise.",
    "balance_missing": "Every account open at the end of D (opened on or before D, not closed by D; from the "
    "day's accounts file and the warehouse's last published snapshot) has a row in D's daily_balances.",
    "personal_data_in_free_text": "Free-text columns (region, campaign name) hold no e-mail address, phone "
    "number or identity number: personal data stays in the columns that are hashed in staging.",
    "attribute_value": "customer_attributes rows name an attribute declared in reference/customer_attributes.csv; "
    "a number parses (a point for decimals), a category is one of the declared values or unknown "
    "(an empty value is unknown too).",
    "out_of_order": "Days arrive in order: no earlier day since the first landed day lacks a "
    "source file, and D is not before the last accepted day (a rerun of an accepted day "
    "with the same files is fine).",
}

MESSAGE_ROWS = 10  # row numbers shown in a message line
REPORT_ROWS = 100  # row numbers kept in report.json
SAMPLE_SIZE = 5


@dataclass
class Violation:
    """One rule that failed, on one file (and column when the rule is about a column)."""

    rule: str
    file: str
    source: str | None = None
    column: str | None = None
    row_count: int = 0
    rows: list[int] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    detail: str = ""

    def describe(self) -> str:
        """``<file>: rule '<rule>' failed on column <c> in <n> rows (rows 4, 17): <sample>``."""
        text = f"{self.file}: rule '{self.rule}' failed"
        if self.column:
            text += f" on column {self.column}"
        if self.row_count:
            noun = "row" if self.row_count == 1 else "rows"
            shown = ", ".join(str(r) for r in self.rows[:MESSAGE_ROWS])
            more = ", ..." if self.row_count > MESSAGE_ROWS else ""
            text += f" in {self.row_count} {noun} ({noun} {shown}{more})"
        if self.detail:
            text += f": {self.detail}"
        if self.sample:
            text += f"; sample: {', '.join(self.sample)}"
        return text


@dataclass
class FileSummary:
    source: str
    file: str
    exists: bool
    bytes: int = 0
    rows: int = 0
    sha256: str | None = None


@dataclass
class BatchReport:
    """The outcome of checking one logical day's landing files."""

    run_date: date
    checked_at: str
    seconds: float
    files: dict[str, FileSummary]
    violations: list[Violation]
    rerun: bool = False
    # Per source and plausibility column, the day's [0.1st percentile, 99.9th percentile, values]:
    # the ledger keeps them, later days are checked against them.
    bands: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.violations

    @property
    def rows_per_source(self) -> dict[str, int]:
        return {source: summary.rows for source, summary in self.files.items()}

    def failing_sources(self) -> set[str]:
        return {v.source for v in self.violations if v.source}

    def to_dict(self) -> dict:
        return {
            "run_date": self.run_date.isoformat(),
            "checked_at": self.checked_at,
            "passed": self.passed,
            "rerun": self.rerun,
            "seconds": round(self.seconds, 3),
            "files": {source: asdict(summary) for source, summary in self.files.items()},
            "violations": [asdict(v) for v in self.violations],
            "bands": self.bands,
        }

    def message(self, limit: int = 20) -> str:
        """Readable summary: one line per violation (the first ``limit``)."""
        if self.passed:
            total = sum(self.rows_per_source.values())
            return (
                f"landing contract passed for {self.run_date}: {total} rows in "
                f"{sum(1 for f in self.files.values() if f.exists)} files, {self.seconds:.2f} s"
            )
        lines = [
            f"landing contract failed for {self.run_date}: "
            f"{len(self.violations)} violation(s) in "
            f"{len({v.file for v in self.violations})} file(s)"
        ]
        lines += [v.describe() for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"... and {len(self.violations) - limit} more (see the report)")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        status = "passed" if self.passed else "FAILED"
        out = [
            f"# Landing contract check for {self.run_date}: {status}",
            "",
            f"Checked at {self.checked_at} in {self.seconds:.2f} s. Row numbers count data rows "
            "from 1 (row 1 is the line after the header).",
            "",
        ]
        if self.violations:
            out += [
                "## Violations",
                "",
                "| file | rule | column | rows | row numbers | sample / detail |",
                "|---|---|---|---|---|---|",
            ]
            for v in self.violations:
                rows = ", ".join(str(r) for r in v.rows[:MESSAGE_ROWS])
                if v.row_count > MESSAGE_ROWS:
                    rows += ", ..."
                note = "; ".join(x for x in (v.detail, ", ".join(v.sample)) if x)
                out.append(
                    f"| `{v.file}` | `{v.rule}` | {v.column or ''} | {v.row_count or ''} | {rows} | {_md_cell(note)} |"
                )
            out.append("")
        out += ["## Files", "", "| source | file | rows | bytes | sha256 |", "|---|---|---|---|---|"]
        for summary in self.files.values():
            if summary.exists:
                out.append(
                    f"| {summary.source} | `{summary.file}` | {summary.rows} | {summary.bytes} | "
                    f"`{(summary.sha256 or '')[:12]}` |"
                )
            else:
                out.append(f"| {summary.source} | `{summary.file}` | missing | | |")
        out.append("")
        return "\n".join(out)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class ContractViolation(Exception):
    """A landing batch broke the contract; the message names file, rule, rows and values."""

    def __init__(self, report: BatchReport, report_path: Path | None = None):
        self.report = report
        self.report_path = report_path
        message = report.message()
        if report_path is not None:
            message += f"\nquarantined; report: {report_path}"
        super().__init__(message)
