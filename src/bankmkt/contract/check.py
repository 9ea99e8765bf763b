"""Check one logical day's landing files against the contract before the warehouse sees them.

:func:`check_landing_batch` reads every source's file for day D once (pyarrow,
every value as text), then runs each rule as one vectorised DuckDB query over
the day's tables; earlier days' keys come from the key index of accepted days
(one DuckDB file, :mod:`bankmkt.contract.index`) or, for the few landed days not
accepted yet, from their landing CSVs (``dt < D`` only). :func:`enforce_landing_contract`
is what the daily run calls: check, then either record the day as accepted or
quarantine the whole day and raise :class:`ContractViolation`.

A day's cost does not grow with the number of earlier days: it reads the day's
files, joins them with one table per source of the index, and takes the earlier
files' hashes from the ledger; only landed days that are not accepted yet are
opened. Checks run on a cursor of one DuckDB database per process, so checking a
long history day after day (the first run on a new DATA_DIR) pays no set-up per day.

Row numbers count data rows from 1: row 1 is the line after the header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bankmkt.attributes import AttributeDeclarationError
from bankmkt.attributes import load_declaration as load_attribute_declaration
from bankmkt.contract import index as key_index
from bankmkt.contract.index import KeyIndex, copy_csv_keys, has_rows_and_columns
from bankmkt.contract.ledger import accepted_days, record_accepted
from bankmkt.contract.quarantine import quarantine_batch
from bankmkt.contract.report import (
    REPORT_ROWS,
    RULES,
    SAMPLE_SIZE,
    BatchReport,
    ContractViolation,
    FileSummary,
    Violation,
)
from bankmkt.contract.schema import ColumnSpec, SourceContract, landing_file, landing_sources
from bankmkt.runtime import parse_run_date
from bankmkt.settings import Settings, get_settings

__all__ = [
    "RULES",
    "BatchReport",
    "ContractViolation",
    "Violation",
    "check_landing_batch",
    "enforce_landing_contract",
    "quarantine_batch",
]

ROW = "__row"
DATE_RE = r"\d{4}-\d{2}-\d{2}"
TIMESTAMP_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
INTEGER_RE = r"-?\d{1,18}"
DECIMAL_RE = r"-?\d{1,18}(\.\d+)?"
TYPE_FORMATS = {
    "date": "a date YYYY-MM-DD",
    "timestamp": "a UTC timestamp YYYY-MM-DDTHH:MM:SSZ",
    "integer": "an integer",
    "decimal": "a decimal like -123.45",
    "boolean": "true or false",
}
QUOTE = "''''"  # SQL for a quote character (samples show values in quotes)
PLAUSIBILITY_HISTORY_DAYS = 7
POWERS_OF_TEN = ", ".join(
    f"1e{k}" for k in range(6, 16)
)  # accepted days with a band before the implausible rule judges a day
OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}
# Debits that move the customer's own money rather than spend it (rule spend_beyond_income).
MOVED_MONEY = ("transfer_out", "investment", "loan_repayment")


def check_landing_batch(run_date: date | str, settings: Settings | None = None) -> BatchReport:
    """Validate every source's file for day ``run_date``; change nothing on disk."""
    with _BatchCheck(parse_run_date(run_date), settings or get_settings(), enforce=False) as batch:
        return batch.run()


def enforce_landing_contract(run_date: date | str, settings: Settings | None = None) -> BatchReport:
    """Check day D; on success record it in the ledger and return the report.

    On failure move the day's files to quarantine (with report.json and
    report.md) and raise :class:`ContractViolation`, whose message names each
    file, rule, column, row numbers and a sample of the offending values.
    """
    settings = settings or get_settings()
    day = parse_run_date(run_date)
    with _BatchCheck(day, settings, enforce=True) as batch:
        report = batch.run()
        if report.passed:
            # Keys first, then the ledger: a crash in between leaves a day the next sync deletes.
            batch.index.record(day, {s: table_name(s) for s in batch.columns if report.files[s].rows})
            record_accepted(settings, report)
            return report
    attempt = quarantine_batch(day, report, settings)
    raise ContractViolation(report, attempt / "report.md")


def table_name(source: str) -> str:
    """Name of the DuckDB temporary table of a source's rows of the day (all text, plus ``__row``)."""
    return f"day_{source}"


# E-mail addresses, phone numbers and identity numbers such as 123-45-6789 or 850412/1234.
PERSONAL_DATA_RE = (
    r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"  # e-mail
    r"|\+\d[\d ]{7,}\d|\d{9,}|\d{3}[ -]\d{3}[ -]\d{3,4}"  # phone numbers (not dates: 2024-01-31)
    r"|\d{3}-\d{2}-\d{4}|\d{6}/\d{3,4}"
)  # identity numbers


def mask_personal(sample: str) -> str:
    """A sample of personal data as its shape: letters and digits become '*' (quotes and separators stay)."""
    import re

    return re.sub(r"[A-Za-z0-9]", "*", sample)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _typed(column: ColumnSpec, ref: str) -> str | None:
    """SQL for the column's typed value (NULL when empty or unparseable); None for strings."""
    if column.type == "date":
        return f"CASE WHEN regexp_full_match({ref}, '{DATE_RE}') THEN try_cast({ref} AS DATE) END"
    if column.type == "timestamp":
        return (
            f"CASE WHEN regexp_full_match({ref}, '{TIMESTAMP_RE}') THEN try_strptime({ref}, '%Y-%m-%dT%H:%M:%SZ') END"
        )
    if column.type == "integer":
        return f"CASE WHEN regexp_full_match({ref}, '{INTEGER_RE}') THEN try_cast({ref} AS BIGINT) END"
    if column.type == "decimal":
        return f"CASE WHEN regexp_full_match({ref}, '{DECIMAL_RE}') THEN try_cast({ref} AS DOUBLE) END"
    if column.type == "boolean":
        return f"CASE {ref} WHEN 'true' THEN true WHEN 'false' THEN false END"
    return None


def _bound(column: ColumnSpec, value) -> str:
    if column.type == "date":
        return f"DATE {_lit(value)}"
    if column.type == "timestamp":
        return f"TIMESTAMP {_lit(str(value).replace('T', ' ').rstrip('Z'))}"
    return repr(float(value))


ATTRIBUTES_SOURCE = "customer_attributes"


class _BatchCheck:
    """State of one check: the day's tables on a DuckDB cursor, the key index, what failed.

    ``enforce`` attaches the index writable and first brings it in line with the
    ledger; a dry run attaches it read-only (if there is one) and reads the
    accepted days it lacks from landing, changing nothing.
    """

    def __init__(self, day: date, settings: Settings, enforce: bool):
        self.day = day
        self.settings = settings
        self.enforce = enforce
        self.contracts = landing_sources()  # the daily sources, then the optional corrections
        self.files: dict[str, FileSummary] = {}
        self.violations: list[Violation] = []
        self.bands: dict[str, dict[str, list]] = {}
        self.columns: dict[str, list[str]] = {}  # contract columns present in each parsed file
        self._earlier: dict[tuple[str, tuple[str, ...]], str | None] = {}
        # Key checks wait here, (rule, contract, column, query yielding __row and sample, detail),
        # for one statement that finds those with rows: the keys of every check stacked by
        # kind, each row tagged with its check's number ``p`` (see _run_pending).
        self._pending: list[tuple[str, SourceContract, str | None, str, str]] = []
        self._duplicates: list[str] = []  # p, key of the day's rows
        self._delivered: list[tuple[str, str]] = []  # (p, key of the day's rows; p, key of earlier days)
        self._references: list[str] = []  # p, r (the referenced column), key of the day's rows
        self._known: dict[str, list[str]] = {}  # r -> queries of (r, key) it holds: the day's, earlier
        self._warehouse_attached: bool | None = None  # the snapshot as ``wh``: attached once, by the first rule

    def __enter__(self) -> _BatchCheck:
        self._connection = key_index.connection(self.settings)
        self.con = self._connection.__enter__()
        try:
            self.index = KeyIndex(self.con, self.settings, writable=self.enforce).__enter__()
            self.accepted = accepted_days(self.settings)
            if self.enforce:
                self.index.sync(self.accepted)
            self._accepted_before = sorted(d for d in self.accepted if d < self.day)
            self._indexed, self._indexed_where = self.index.usable_before(self.day, self._accepted_before)
            self._unaccepted = self._list_unaccepted()
        except BaseException as error:
            self.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if getattr(self, "index", None) is not None:
                self.index.__exit__(*exc)
        finally:
            self._connection.__exit__(*exc)

    def _list_unaccepted(self) -> dict[str, dict[date, Path]]:
        """Every source's landed days before D that are not accepted, with their files.

        One directory listing per source. Accepted days need no look on disk:
        their files were all there and landing files are immutable (a day whose
        files leave landing for quarantine leaves the ledger too).
        """
        accepted = {f"dt={day.isoformat()}" for day in self.accepted}
        before = f"dt={self.day.isoformat()}"
        unaccepted: dict[str, dict[date, Path]] = {}
        for source in self.contracts:
            folder = self.settings.landing_dir / source
            try:
                names = sorted(set(os.listdir(folder)).difference(accepted))
            except (FileNotFoundError, NotADirectoryError):
                names = []
            days: dict[date, Path] = {}
            for name in names[: bisect_left(names, before)]:
                if name.startswith("dt="):
                    path = folder / name / f"{source}.csv"
                    try:
                        if path.is_file():
                            days[parse_run_date(name[3:])] = path
                    except ValueError:
                        continue
            unaccepted[source] = days
        return unaccepted

    # ---- orchestration ---------------------------------------------------------
    def run(self) -> BatchReport:
        started = perf_counter()
        checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for contract in self.contracts.values():
            self._read_file(contract)
        for contract in self.contracts.values():
            if self.files[contract.source].rows:  # a file without rows breaks no value or key rule
                self._check_values(contract)
                self._check_keys(contract)
        self._run_pending()
        try:  # the two rules that read the warehouse's snapshot share one attachment of it
            self._check_spend_against_income()
            self._check_balance_coverage()
        finally:
            if self._warehouse_attached:
                self.con.execute("DETACH DATABASE IF EXISTS wh")
            self._warehouse_attached = None
        self._check_duplicate_files()
        rerun = self._is_rerun()
        self._check_order(rerun)
        return BatchReport(
            run_date=self.day,
            checked_at=checked_at,
            seconds=perf_counter() - started,
            files=self.files,
            violations=self.violations,
            rerun=rerun,
            bands=self.bands,
        )

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.settings.data_dir).as_posix()
        except ValueError:
            return str(path)

    def _fail(self, rule: str, contract: SourceContract | None, file: str, **fields) -> None:
        self.violations.append(Violation(rule=rule, file=file, source=contract.source if contract else None, **fields))

    # ---- reading one file: presence, encoding, header, shape -------------------
    def _read_file(self, contract: SourceContract) -> None:
        path = landing_file(self.settings, contract.source, self.day)
        rel = self._rel(path)
        if not path.is_file():
            self.files[contract.source] = FileSummary(contract.source, rel, exists=False)
            if not contract.optional:
                self._fail("file_missing", contract, rel, detail=f"no {contract.source} file for {self.day}")
            return
        data = path.read_bytes()
        summary = FileSummary(
            contract.source, rel, exists=True, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        self.files[contract.source] = summary
        if not data:
            self._fail("empty_file", contract, rel, detail="the file is zero bytes (expected at least the header)")
            return

        if data.startswith(b"\xef\xbb\xbf"):
            self._fail("encoding", contract, rel, detail="the file starts with a UTF-8 byte-order mark")
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            bad_byte = data[err.start : err.start + 1]
            text = data.decode("utf-8", errors="replace")
            data = text.encode("utf-8")
            lines = text.split("\n")
            bad = [i for i, line in enumerate(lines) if "\ufffd" in line]
            bad_rows = [i for i in bad if i > 0]
            self._fail(
                "encoding",
                contract,
                rel,
                row_count=len(bad_rows),
                rows=bad_rows[:REPORT_ROWS],
                detail=f"not valid UTF-8 (first bad byte {bad_byte!r} at offset {err.start}"
                + (", in the header)" if 0 in bad else ")"),
                sample=[repr(lines[i][:60]) for i in bad[:SAMPLE_SIZE]],
            )

        header_line, _, body = data.partition(b"\n")
        header_text = header_line.decode("utf-8").rstrip("\r")
        header = next(csv.reader([header_text]), [])
        expected = contract.column_names

        if len(header) == 1 and len(expected) > 1:
            found = [name for sep, name in OTHER_DELIMITERS.items() if sep in header_text]
            if found:
                self._fail(
                    "delimiter",
                    contract,
                    rel,
                    detail=f"the header reads as one column; the file looks {found[0]}-separated, "
                    "the contract says ','",
                    sample=[repr(header_text[:80])],
                )
                return
        if not set(header) & set(expected):
            self._fail(
                "header_missing",
                contract,
                rel,
                detail=f"the first line has none of the contract's column names; expected {','.join(expected)}",
                sample=[repr(header_text[:80])],
            )
            return
        self._check_header(contract, rel, header)

        table, field_errors = self._parse_rows(body, text, header)
        last_row = table.num_rows + len(field_errors)
        reasons, truncated_rows = [], []
        if field_errors and field_errors[-1][0] == last_row and 0 < field_errors[-1][1] < len(header):
            reasons.append(f"{field_errors[-1][1]} of {len(header)} fields")
            truncated_rows = [last_row]
            field_errors = field_errors[:-1]
        if not data.endswith(b"\n"):
            reasons.append("no newline at the end" + ("" if last_row else " of the header"))
            truncated_rows = [last_row] if last_row else []
        if reasons:
            self._fail(
                "truncated_file",
                contract,
                rel,
                row_count=len(truncated_rows),
                rows=truncated_rows,
                detail=f"the last line is incomplete ({'; '.join(reasons)})",
            )
        if field_errors:
            self._fail(
                "field_count",
                contract,
                rel,
                row_count=len(field_errors),
                rows=[r for r, _ in field_errors[:REPORT_ROWS]],
                detail=f"expected {len(header)} fields as in the header",
                sample=[f"row {r}: {n} fields" for r, n in field_errors[:SAMPLE_SIZE]],
            )

        present = [c for c in expected if c in header]
        positions = [header.index(c) for c in present]
        table = pa.table(
            [table.column(i) for i in positions] + [table.column(table.num_columns - 1)],
            names=present + [ROW],
        )
        summary.rows = table.num_rows
        self.columns[contract.source] = present
        if table.num_rows:  # no rule looks at the rows of a file without rows
            # A DuckDB table, not a view of the Arrow table: several queries scan it.
            arrow_view = f"arrow_{contract.source}"
            self.con.register(arrow_view, table)
            self.con.execute(f"CREATE TEMP TABLE {table_name(contract.source)} AS SELECT * FROM {arrow_view}")
            self.con.unregister(arrow_view)

    def _check_header(self, contract: SourceContract, rel: str, header: list[str]) -> None:
        expected = contract.column_names
        missing = [c for c in expected if c not in header]
        extra = [c for c in header if c not in expected]
        extra += sorted({c for c in header if c in expected and header.count(c) > 1})
        if missing:
            self._fail("missing_columns", contract, rel, detail=f"missing: {', '.join(missing)}")
        if extra:
            self._fail(
                "extra_columns",
                contract,
                rel,
                detail=f"not in the contract or repeated: {', '.join(repr(c) for c in extra)}",
            )
        common_in_header = [c for c in dict.fromkeys(header) if c in expected]
        common_expected = [c for c in expected if c in header]
        if common_in_header != common_expected:
            self._fail(
                "column_order",
                contract,
                rel,
                detail=f"found {','.join(common_in_header)}; expected {','.join(common_expected)}",
            )

    def _parse_rows(self, body: bytes, text: str, header: list[str]) -> tuple[pa.Table, list[tuple[int, int]]]:
        """Data rows as text columns ``c0..cN`` plus ``__row``, and (row, field count) of bad rows.

        The fast path hands the bytes to pyarrow. A row with the wrong number
        of fields or a blank line sends the file to the slow path, Python's csv
        reader, which knows each row's number.
        """
        names = [f"c{i}" for i in range(len(header))]
        if body.strip(b"\r\n") and not (b"\n\n" in body or b"\n\r\n" in body or body[:1] in (b"\n", b"\r")):
            try:
                table = pacsv.read_csv(
                    pa.BufferReader(body),
                    read_options=pacsv.ReadOptions(column_names=names),
                    parse_options=pacsv.ParseOptions(
                        delimiter=",",
                        quote_char='"',
                        double_quote=True,
                        newlines_in_values=False,
                        ignore_empty_lines=False,
                    ),
                    convert_options=pacsv.ConvertOptions(
                        column_types={n: pa.string() for n in names},
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                    ),
                )
                rows = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
                return table.append_column(ROW, rows), []
            except pa.ArrowInvalid:
                pass
        elif not body.strip(b"\r\n"):
            empty = [pa.array([], type=pa.string()) for _ in names]
            return pa.table(empty + [pa.array([], type=pa.int64())], names=names + [ROW]), []

        reader = csv.reader(io.StringIO(text, newline=""))
        next(reader, None)
        good: list[list[str]] = []
        numbers: list[int] = []
        bad: list[tuple[int, int]] = []
        for number, fields in enumerate(reader, start=1):
            if len(fields) == len(names):
                good.append(fields)
                numbers.append(number)
            else:
                bad.append((number, len(fields)))
        columns = [pa.array([row[i] for row in good], type=pa.string()) for i in range(len(names))]
        table = pa.table(columns + [pa.array(numbers, type=pa.int64())], names=names + [ROW])
        return table, bad

    def _run_pending(self) -> None:
        """Find the key checks with rows in one statement; collect their rows and samples.

        Three joins over the stacked keys (composite keys as JSON text, so they
        stack with single ones) instead of one query per check: for a small day,
        DuckDB's cost per query, not the rows, is what a check pays.
        """
        if not self._pending:
            return
        union = " UNION ALL ".join
        probes = []
        if self._duplicates:
            probes.append(f"SELECT p FROM ({union(self._duplicates)}) GROUP BY p, key HAVING count(*) > 1")
        if self._delivered:
            probes.append(
                f"SELECT p FROM ({union(d for d, _ in self._delivered)}) "
                f"SEMI JOIN ({union(e for _, e in self._delivered)}) USING (p, key)"
            )
        if self._references:
            known = ["SELECT NULL::VARCHAR AS r, NULL::VARCHAR AS key WHERE false"]
            known += [query for queries in self._known.values() for query in queries]
            probes.append(f"SELECT p FROM ({union(self._references)}) ANTI JOIN ({union(known)}) USING (r, key)")
        found = {p for (p,) in self.con.execute(" UNION ".join(probes)).fetchall()}
        for number, (rule, contract, column, query, detail) in enumerate(self._pending):
            if number in found:
                self._collect(rule, contract, column, query, detail)
        self._pending.clear()

    # ---- values ----------------------------------------------------------------
    def _collect(self, rule: str, contract: SourceContract, column: str | None, query: str, detail: str = "") -> None:
        """Run ``query`` (yielding ``__row`` and ``sample``); record a violation if it has rows."""
        found = self.con.execute(
            f"SELECT count(*) OVER () AS n, {ROW}, sample FROM ({query}) ORDER BY {ROW} LIMIT {REPORT_ROWS}"
        ).fetchall()
        if not found:
            return
        samples = list(dict.fromkeys(s for _, _, s in found if s))[:SAMPLE_SIZE]
        spec = contract.column(column) if column in self.columns.get(contract.source, []) else None
        if spec is not None and (spec.personal or spec.free_text):
            samples = [mask_personal(sample) for sample in samples]  # logs and reports show the shape only
        self._fail(
            rule,
            contract,
            self.files[contract.source].file,
            column=column,
            row_count=found[0][0],
            rows=[r for _, r, _ in found],
            sample=samples,
            detail=detail,
        )

    def _key_label(self, contract: SourceContract) -> str:
        present = [k for k in contract.primary_key if k in self.columns[contract.source]]
        if not present:
            return "NULL"
        return "concat_ws(', ', " + ", ".join(f"{_lit(k + '=')} || {_q(k)}" for k in present) + ")"

    def _check_values(self, contract: SourceContract) -> None:
        end_of_day = self.day + timedelta(days=1)
        checks: list[tuple[str, str, str, str, str]] = []  # rule, column, condition, detail, sample
        typed_columns: list[str] = []  # each typed value is parsed once, in a projection
        for name in self.columns[contract.source]:
            column = contract.column(name)
            ref = _q(name)
            quoted = f"'''' || {ref} || ''''"

            def where(rule: str, condition: str, detail: str = "", sample: str = quoted, column: str = name) -> None:
                checks.append((rule, column, condition, detail, sample))

            if not column.nullable:
                where(
                    "not_null",
                    f"{ref} = ''",
                    "empty value in a column that is not nullable",
                    sample=self._key_label(contract),
                )
            typed = _typed(column, ref)
            if typed is not None:
                typed_columns.append(f"{typed} AS {_q('__typed_' + name)}")
                typed = _q("__typed_" + name)
                where("type", f"{ref} <> '' AND ({typed}) IS NULL", f"expected {TYPE_FORMATS[column.type]}")
            if column.allowed is not None:
                allowed = ", ".join(_lit(a) for a in column.allowed)
                where(
                    "allowed_values",
                    f"{ref} <> '' AND {ref} NOT IN ({allowed})",
                    f"allowed: {', '.join(column.allowed)}",
                )
            if column.free_text:
                where(
                    "personal_data_in_free_text",
                    f"regexp_matches({ref}, {_lit(PERSONAL_DATA_RE)})",
                    "looks like an e-mail address, a phone number or an identity number",
                )
            pattern = self.settings.key_patterns.get(f"{contract.source}.{name}") or column.pattern
            if pattern:
                where(
                    "pattern",
                    f"{ref} <> '' AND NOT regexp_full_match({ref}, {_lit(pattern)})",
                    f"must match {pattern}",
                )
            if typed is None:
                continue
            if column.min is not None:
                where("range", f"({typed}) < {_bound(column, column.min)}", f"below the minimum {column.min}")
            if column.max is not None:
                where("range", f"({typed}) > {_bound(column, column.max)}", f"above the maximum {column.max}")
            if column.reject_placeholders:
                where(
                    "placeholder_value",
                    f"(regexp_full_match({ref}, '-?9{{6,}}(\\.9+)?') OR abs({typed}) IN ({POWERS_OF_TEN}))",
                    "a placeholder, not an amount: six or more 9s, or an exact power of ten from a million up",
                )
            if name == contract.day_column:
                if column.type == "date":
                    condition = f"({typed}) <> DATE '{self.day}'"
                else:
                    condition = f"NOT (({typed}) >= TIMESTAMP '{self.day}' AND ({typed}) < TIMESTAMP '{end_of_day}')"
                where("not_on_file_day", condition, f"must fall on the file's day {self.day}")
            elif column.type in ("date", "timestamp") and not contract.may_be_future(name):
                if column.type == "date":
                    condition, bound = f"({typed}) > DATE '{self.day}'", f"after {self.day}"
                else:
                    condition, bound = f"({typed}) >= TIMESTAMP '{end_of_day}'", f"after the end of {self.day} (UTC)"
                what = "a negative age" if name == "birth_date" else "in the future"
                where("in_future", condition, f"{what}: {bound}")
        if contract.source == ATTRIBUTES_SOURCE and {"attribute", "value"} <= set(self.columns[contract.source]):
            checks.extend(self._attribute_checks())
        if not checks and not any(contract.column(n).plausible_factor for n in self.columns[contract.source]):
            return
        table = (
            f"(SELECT *, {', '.join(typed_columns)} FROM {table_name(contract.source)})"
            if typed_columns
            else table_name(contract.source)
        )
        for name in self.columns[contract.source]:
            column = contract.column(name)
            if column.plausible_factor and column.type in ("integer", "decimal"):
                checks.extend(self._plausibility(contract, column, table))
        if not checks:
            return
        # One pass tells whether any rule fails (DuckDB plans one condition faster than
        # one count per rule); only then are the rules counted, and the failing ones queried for rows.
        failing = self.con.execute(
            "SELECT bool_or(" + " OR ".join(f"({c[2]})" for c in checks) + f") FROM {table}"
        ).fetchone()
        if not (failing and failing[0]):
            return
        counts = (
            self.con.execute(
                "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c[2]})" for c in checks) + f" FROM {table}"
            ).fetchone()
            or ()
        )
        for (rule, name, condition, detail, sample), count in zip(checks, counts):
            if count:
                query = f"SELECT {ROW}, {sample} AS sample FROM {table} WHERE {condition}"
                self._collect(rule, contract, name, query, detail)

    def _attribute_checks(self) -> list[tuple[str, str, str, str, str]]:
        """Rule ``attribute_value``: each attribute is declared (reference/customer_attributes.csv), a
        number parses, a category is one of the declared values (or unknown). An unreadable
        declaration is the rule's violation too."""
        where = "reference/customer_attributes.csv"
        try:
            specs = load_attribute_declaration(self.settings)
        except AttributeDeclarationError as error:
            return [("attribute_value", "attribute", "true", f"the declaration cannot be read: {error}", "attribute")]
        sample = "attribute || '=' || '''' || value || ''''"
        checks = []
        names = ", ".join(_lit(spec.attribute) for spec in specs)
        checks.append(
            (
                "attribute_value",
                "attribute",
                f"attribute NOT IN ({names})" if specs else "true",
                f"not declared in {where} (declared: {', '.join(s.attribute for s in specs) or 'none'})",
                "'''' || attribute || ''''",
            )
        )
        for spec in specs:
            is_it = f"attribute = {_lit(spec.attribute)} AND value <> ''"
            if spec.is_category:
                allowed = ", ".join(_lit(v) for v in spec.codes)
                condition = f"{is_it} AND value NOT IN ({allowed})"
                detail = f"{spec.attribute} is a category of {where}: {', '.join(spec.codes)}"
            else:
                condition = f"{is_it} AND TRY_CAST(value AS DOUBLE) IS NULL"
                detail = f"{spec.attribute} is a number (with a point) in {where}"
            checks.append(("attribute_value", "value", condition, detail, sample))
        return checks

    def _plausibility(self, contract: SourceContract, column: ColumnSpec, table: str) -> list[tuple]:
        """The day's band of a plausibility column (kept in the ledger), and the rule against history.

        History is the accepted days before D: their lowest 0.1st and highest 99.9th percentile,
        widened by the column's factor on the side where it lies away from zero. Until seven
        days are accepted there is no history to judge by and only the contract's min and max apply.
        """
        typed = _q("__typed_" + column.name)
        low, high, values = self.con.execute(
            f"SELECT quantile_cont({typed}, 0.001), quantile_cont({typed}, 0.999), count({typed}) FROM {table}"
        ).fetchone()
        if values and not contract.optional:
            self.bands.setdefault(contract.source, {})[column.name] = [low, high, values]
        judged_by = contract.corrects or contract.source  # a corrected row is judged as its source's rows
        history = [
            self.accepted[day].get("bands", {}).get(judged_by, {}).get(column.name) for day in self._accepted_before
        ]
        history = [band for band in history if band]
        if len(history) < PLAUSIBILITY_HISTORY_DAYS:
            return []
        factor = column.plausible_factor
        lowest, highest = min(band[0] for band in history), max(band[1] for band in history)
        basis = f"{factor:g} x the extreme percentiles of the {len(history)} accepted days before"
        ref = _q(column.name)
        checks = []
        if highest > 0:
            checks.append(
                (
                    "implausible",
                    column.name,
                    f"({typed}) > {highest * factor!r}",
                    f"above {highest * factor:,.2f} ({basis}: 99.9th percentile up to {highest:,.2f})",
                    QUOTE + " || " + ref + " || " + QUOTE,
                )
            )
        if lowest < 0:
            checks.append(
                (
                    "implausible",
                    column.name,
                    f"({typed}) < {lowest * factor!r}",
                    f"below {lowest * factor:,.2f} ({basis}: 0.1st percentile down to {lowest:,.2f})",
                    QUOTE + " || " + ref + " || " + QUOTE,
                )
            )
        return checks

    # ---- per customer: spend against income --------------------------------------
    def _check_spend_against_income(self) -> None:
        """Rule ``spend_beyond_income``: each customer's spending on D against their monthly income.

        Spending is the day's debits except money the customer moves (:data:`MOVED_MONEY`).

        Owners and incomes come from the day's accounts and customers files (the latest version of
        the day) and, for accounts and customers delivered before, from the warehouse's last
        published snapshot (``dim_customers``, ``int_accounts_current``). A customer whose income
        or account is known to neither is not judged; neither is a first load's history before
        its first build. The rows reported are the customer's debits of the day.
        """
        factor, floor = self.settings.spend_income_factor, self.settings.spend_income_floor
        present = set(self.columns.get("transactions", []))
        if not factor or not self.files["transactions"].rows or not {"account_id", "amount", "direction"} <= present:
            return
        incomes, owners = [], []
        if self.files["customers"].rows and {"customer_id", "monthly_income", "updated_at"} <= set(
            self.columns["customers"]
        ):
            incomes.append(
                f"SELECT customer_id, TRY_CAST(monthly_income AS DOUBLE) AS income, 0 AS source_order, "
                f"updated_at AS version FROM {table_name('customers')}"
            )
        if self.files["accounts"].rows and {"account_id", "customer_id"} <= set(self.columns["accounts"]):
            owners.append(f"SELECT account_id, customer_id, 0 AS source_order FROM {table_name('accounts')}")
        # Spending, not the customer's own money moving (to savings, investments, a loan): those
        # legitimately reach hundreds of times a monthly income.
        spending = (
            " AND t.merchant_category NOT IN (" + ", ".join(_lit(c) for c in MOVED_MONEY) + ")"
            if "merchant_category" in present
            else ""
        )
        # A value outside the contract's range is reported by rule range alone.
        amount = self.contracts["transactions"].column("amount")
        for bound, operator in ((amount.min, ">="), (amount.max, "<=")):
            if bound is not None:
                spending += f" AND TRY_CAST(t.amount AS DOUBLE) {operator} {float(bound)!r}"
        attached = self._attach_warehouse()
        if attached:
            incomes.append(
                "SELECT customer_id, CAST(monthly_income AS DOUBLE) AS income, 1 AS source_order, "
                "'' AS version FROM wh.main.dim_customers"
            )
            owners.append("SELECT account_id, customer_id, 1 AS source_order FROM wh.main.int_accounts_current")
        if not incomes or not owners:
            return
        # Only the accounts debited today and their owners are looked up (the snapshot holds everyone).
        query = f"""
            WITH spent AS (
                SELECT t.{ROW}, t.account_id, abs(TRY_CAST(t.amount AS DOUBLE)) AS debit
                FROM {table_name("transactions")} t
                WHERE t.direction = 'debit' AND TRY_CAST(t.amount AS DOUBLE) IS NOT NULL{spending}),
            owners AS (
                SELECT account_id, customer_id FROM ({" UNION ALL ".join(owners)})
                WHERE account_id IN (SELECT account_id FROM spent)
                QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY source_order) = 1),
            incomes AS (
                SELECT customer_id, income FROM ({" UNION ALL ".join(incomes)})
                WHERE customer_id IN (SELECT customer_id FROM owners)
                QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY source_order, version DESC) = 1),
            debits AS (SELECT s.{ROW}, o.customer_id, s.debit FROM spent s JOIN owners o USING (account_id)),
            beyond AS (
                SELECT customer_id, sum(debit) AS spent, any_value(i.income) AS income
                FROM debits JOIN incomes i USING (customer_id) GROUP BY customer_id
                HAVING sum(debit) > {float(factor)!r} * greatest(coalesce(any_value(i.income), 0), {float(floor)!r}))
            SELECT d.{ROW}, 'customer ' || b.customer_id || ': spent ' || printf('%.2f', b.spent)
                || ' against monthly income ' || printf('%.2f', b.income)
                || ' (' || printf('%.0f', b.spent / greatest(b.income, {float(floor)!r})) || 'x)' AS sample
            FROM debits d JOIN beyond b USING (customer_id)"""
        self._collect(
            "spend_beyond_income",
            self.contracts["transactions"],
            "amount",
            query,
            f"a customer's spending on {self.day} exceeds {factor:g} x their monthly income "
            f"(judged against at least {floor:,.0f}); SPEND_INCOME_FACTOR sets the factor",
        )

    def _check_balance_coverage(self) -> None:
        """Rule ``balance_missing``: every account open at the end of D has D's end-of-day balance.

        Open accounts come from the day's accounts file (its latest version of an account) and, for
        accounts delivered before, from the warehouse's last published snapshot
        (``int_accounts_current``). An account opened after D or closed on or before D needs no
        balance. A first load's history before its first build is judged by each day's accounts
        file alone. The violation names the accounts (no row of the balances file can show what it
        lacks): a bank that delivers accounts but no balances is told on the first day, instead of
        every balance feature silently reading zero.
        """
        balance_columns = set(self.columns.get("daily_balances", []))
        account_columns = set(self.columns.get("accounts", []))
        if "account_id" not in balance_columns:
            return  # the balances file is missing or unreadable: reported by its own rules
        accounts = []
        if self.files["accounts"].rows and {"account_id", "opened_on", "closed_on", "updated_at"} <= account_columns:
            accounts.append(
                f"SELECT account_id, TRY_CAST(opened_on AS DATE) AS opened_on, "
                f"TRY_CAST(NULLIF(closed_on, '') AS DATE) AS closed_on, 0 AS source_order, updated_at AS version "
                f"FROM {table_name('accounts')}"
            )
        attached = self._attach_warehouse()
        if attached and {"opened_on", "closed_on"} <= self._warehouse_columns("int_accounts_current"):
            accounts.append(
                "SELECT account_id, CAST(opened_on AS DATE) AS opened_on, CAST(closed_on AS DATE) AS closed_on, "
                "1 AS source_order, '' AS version FROM wh.main.int_accounts_current"
            )
        if accounts:
            balanced = (
                f"SELECT account_id FROM {table_name('daily_balances')}"
                if self.files["daily_balances"].rows
                else "SELECT NULL::VARCHAR AS account_id WHERE false"
            )
            day = _lit(self.day.isoformat())
            missing = self.con.execute(
                f"""
                WITH current AS (
                    SELECT account_id, opened_on, closed_on FROM ({" UNION ALL ".join(accounts)})
                    QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY source_order, version DESC) = 1)
                SELECT count(*) OVER () AS n, account_id FROM current
                WHERE opened_on <= CAST({day} AS DATE)
                    AND (closed_on IS NULL OR closed_on > CAST({day} AS DATE))
                    AND account_id NOT IN ({balanced})
                ORDER BY account_id LIMIT {SAMPLE_SIZE}"""
            ).fetchall()
        if not accounts or not missing:
            return
        count = missing[0][0]
        self._fail(
            "balance_missing",
            self.contracts["daily_balances"],
            self.files["daily_balances"].file,
            column="account_id",
            sample=[account for _, account in missing],
            detail=f"{count} account(s) open at the end of {self.day} have no balance on the day "
            "(every open account's end-of-day balance is delivered every day)",
        )

    def _warehouse_columns(self, table: str) -> set[str]:
        """The columns of ``table`` in the attached warehouse ``wh``."""
        return {
            row[0]
            for row in self.con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'wh' AND table_name = ?", [table]
            ).fetchall()
        }

    def _attach_warehouse(self) -> bool:
        """Attach the warehouse's published snapshot (or the warehouse itself) read-only as ``wh``,
        once per check (:meth:`run` detaches it after the rules that read it)."""
        if self._warehouse_attached is None:
            self._warehouse_attached = self._attach_first_warehouse()
        return self._warehouse_attached

    def _attach_first_warehouse(self) -> bool:
        import duckdb

        for path in (self.settings.warehouse_snapshot_path, self.settings.warehouse_path):
            if not path.is_file():
                continue
            try:
                self.con.execute(f"ATTACH {_lit(str(path))} AS wh (READ_ONLY)")
            except duckdb.Error:
                continue  # being written (its lock), or not a warehouse: judge by the day's files only
            tables = {
                row[0]
                for row in self.con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh'"
                ).fetchall()
            }
            if {"dim_customers", "int_accounts_current"} <= tables:
                return True
            self.con.execute("DETACH DATABASE IF EXISTS wh")
        return False

    # ---- keys ------------------------------------------------------------------
    def _check_keys(self, contract: SourceContract) -> None:
        source = contract.source
        table = table_name(source)
        present = self.columns[source]
        keys = list(contract.primary_key)
        label = self._key_label(contract)
        if all(k in present for k in keys):
            key_sql = ", ".join(_q(k) for k in keys)
            filled = " AND ".join(f"{_q(k)} <> ''" for k in keys)
            duplicates = (
                f"SELECT {ROW}, sample FROM (SELECT {ROW}, {label} AS sample, "
                f"count(*) OVER (PARTITION BY {key_sql}) AS copies FROM {table} WHERE {filled}) "
                "WHERE copies > 1"
            )
            # One text value per key: the column itself, or a composite key as a JSON list
            # (so every check's keys stack in one column; plain text hashes fastest).
            key_list = _q(keys[0]) if len(keys) == 1 else f"CAST(to_json([{key_sql}]) AS VARCHAR)"
            self._duplicates.append(f"SELECT {len(self._pending)} AS p, {key_list} AS key FROM {table} WHERE {filled}")
            self._pending.append(
                (
                    "duplicate_key",
                    contract,
                    ", ".join(keys),
                    duplicates,
                    "the primary key appears more than once in the file",
                )
            )
            earlier = self._earlier_keys(source, tuple(keys)) if contract.keys_unique_across_days else None
            if earlier:
                number = len(self._pending)
                self._delivered.append(
                    (
                        f"SELECT {number} AS p, {key_list} AS key FROM {table}",
                        f"SELECT {number} AS p, {key_list} AS key FROM {earlier}",
                    )
                )
                self._pending.append(
                    (
                        "key_already_delivered",
                        contract,
                        ", ".join(keys),
                        # Find the few repeated keys first, then their earlier day: joining the
                        # whole day to the whole history would hash the history.
                        f"WITH hits AS MATERIALIZED (SELECT {ROW}, {key_sql} FROM {table} "
                        f"SEMI JOIN {earlier} USING ({key_sql})) "
                        f"SELECT h.{ROW}, {label} || ' (dt=' || min(e.dt) || ')' AS sample "
                        f"FROM hits h JOIN {earlier} e USING ({key_sql}) GROUP BY h.{ROW}, {key_sql}",
                        "an event's key was already delivered on an earlier day"
                        + (
                            f"; to change an earlier record, deliver the corrected row in "
                            f"landing/{source}_corrections/dt=YYYY-MM-DD/{source}_corrections.csv "
                            "with a correction_reason (docs/landing_contract.md, Corrections)"
                            if f"{source}_corrections" in self.contracts
                            else ""
                        ),
                    )
                )
        for column, (ref_source, ref_column) in contract.foreign_keys.items():
            if column not in present or ref_column not in self.columns.get(ref_source, []):
                continue  # the missing column or the unreadable referenced file is reported already
            known = []
            if self.files[ref_source].rows:
                known.append(f"SELECT {_q(ref_column)} AS key FROM {table_name(ref_source)}")
            earlier = self._earlier_keys(ref_source, (ref_column,))
            if earlier:
                known.append(f"SELECT {_q(ref_column)} AS key FROM {earlier}")
            target = _lit(f"{ref_source}.{ref_column}")
            if target not in self._known:
                self._known[target] = [f"SELECT {target} AS r, key FROM ({query})" for query in known]
            self._references.append(
                f"SELECT {len(self._pending)} AS p, {target} AS r, {_q(column)} AS key FROM {table} "
                f"WHERE {_q(column)} <> ''"
            )
            if not known:
                known.append("SELECT NULL::VARCHAR AS key WHERE false")
            orphans = (
                f"SELECT {ROW}, '''' || {_q(column)} || '''' AS sample FROM {table} d "
                f"WHERE {_q(column)} <> '' AND NOT EXISTS (SELECT 1 FROM ({' UNION ALL '.join(known)}) k "
                f"WHERE k.key = d.{_q(column)})"
            )
            self._pending.append(
                (
                    "orphan_key",
                    contract,
                    column,
                    orphans,
                    f"not in {ref_source}.{ref_column} of {self.day} or any earlier day",
                )
            )

    def _earlier_keys(self, source: str, columns: tuple[str, ...]) -> str | None:
        """A view of ``columns`` plus ``dt`` over every earlier day of ``source``, or None.

        Accepted days come from the key index; earlier landed days it does not
        hold (not accepted yet, or a dry run on a DATA_DIR whose index lags the
        ledger) from their landing CSVs, skipping files without rows or without
        the columns.
        """
        cache_key = (source, columns)
        if cache_key in self._earlier:
            return self._earlier[cache_key]
        indexed = self.index.earlier(source, columns, self._indexed_where) if self._indexed else None
        covered = self._indexed if indexed else set()
        files = (
            {}
            if len(covered) == len(self._accepted_before)
            else {  # the index lags the ledger
                day: landing_file(self.settings, source, day) for day in self._accepted_before if day not in covered
            }
        )
        files.update(self._unaccepted[source])
        csvs = [path for _, path in sorted(files.items()) if has_rows_and_columns(path, columns)]
        if not indexed and not csvs:
            self._earlier[cache_key] = None
            return None
        if not csvs:
            self._earlier[cache_key] = f"({indexed})"
            return self._earlier[cache_key]
        name = f"earlier_{source}_{len(self._earlier)}"
        cols = ", ".join(_q(c) for c in columns)
        parts = []
        if csvs:
            # Days not accepted yet are few: copy their keys once.
            typed_cols = ", ".join(f"{_q(c)} VARCHAR" for c in columns)
            self.con.execute(f"CREATE TEMP TABLE {name}_csv ({typed_cols}, dt VARCHAR)")
            copy_csv_keys(self.con, f"{name}_csv", csvs, columns)
            parts.append(f"SELECT {cols}, dt FROM {name}_csv")
        if indexed:
            parts.append(indexed)
        self.con.execute(f"CREATE TEMP VIEW {name} AS {' UNION ALL '.join(parts)}")
        self._earlier[cache_key] = name
        return name

    # ---- files and days ----------------------------------------------------------
    def _check_duplicate_files(self) -> None:
        """A file with rows byte-identical to an earlier day's file of the same source.

        Accepted days' hashes come from the ledger; the other earlier landed
        files are hashed when their size matches.
        """
        for source, summary in self.files.items():
            if not summary.exists or not summary.rows:
                continue
            same = next(
                (
                    day
                    for day in self._accepted_before
                    if self.accepted[day]["files"].get(source, {}).get("sha256") == summary.sha256
                ),
                None,
            )
            for day, path in sorted(self._unaccepted[source].items()):
                if same is not None and day > same:
                    break
                try:
                    if path.stat().st_size == summary.bytes and (
                        hashlib.sha256(path.read_bytes()).hexdigest() == summary.sha256
                    ):
                        same = day
                        break
                except OSError:
                    continue
            if same is not None:
                self._fail(
                    "duplicate_file",
                    self.contracts[source],
                    summary.file,
                    detail=f"byte-identical to {self._rel(landing_file(self.settings, source, same))} "
                    "(the same file delivered twice)",
                )

    def _is_rerun(self) -> bool:
        entry = self.accepted.get(self.day)
        if entry is None:
            return False
        hashes = {s: f.get("sha256") for s, f in entry["files"].items()}
        return hashes == {s: f.sha256 for s, f in self.files.items() if f.exists or not self.contracts[s].optional}

    def _check_order(self, rerun: bool) -> None:
        batch_file = f"{self._rel(self.settings.landing_dir)}/*/dt={self.day}/"
        accepted = self.accepted
        later = max((d for d in accepted if d > self.day), default=None)
        if later and not rerun:
            self._fail(
                "out_of_order",
                None,
                batch_file,
                detail=f"{self.day} arrives after {later} was accepted"
                + ("" if self.day not in accepted else " and differs from the files accepted for it"),
            )
        if not any(summary.exists for summary in self.files.values()):
            return  # nothing delivered for D yet: file_missing says so, gaps would only add noise
        first = min(
            [min(days) for source, days in self._unaccepted.items() if days and not self.contracts[source].optional]
            + self._accepted_before[:1],
            default=None,
        )
        if first is None:
            return
        # An accepted day has every file; the others are looked up in the listing.
        gaps = []
        accepted_before = set(self._accepted_before)
        for offset in range((self.day - first).days):
            day = first + timedelta(days=offset)
            if day not in accepted_before:
                gaps += [
                    landing_file(self.settings, source, day)
                    for source, contract in self.contracts.items()
                    if day not in self._unaccepted[source] and not contract.optional
                ]
        for path in gaps[:10]:
            self._fail(
                "out_of_order",
                None,
                self._rel(path),
                detail=f"an earlier day has no file for this source; {self.day} must wait for it",
            )
        if len(gaps) > 10:
            self._fail("out_of_order", None, batch_file, detail=f"{len(gaps) - 10} more earlier files missing")
