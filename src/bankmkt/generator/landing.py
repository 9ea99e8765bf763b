"""Vectorised writer of landing files in the documented contract format.

Columns are built as Arrow arrays straight from numpy (ids, decimals from integer
cents, dates, ``YYYY-MM-DDTHH:MM:SSZ`` timestamps from seconds of the day) and
written with Arrow's CSV writer: no quoting, empty field for null, ``true``/``false``
for booleans, decimals with exactly two decimals. The header comes from the
contract schema, and a table whose columns differ from it is refused. A table with a text
field that needs quotes (a comma, a quote or a line break, as a bank's own labels may hold)
is written by Python's csv writer instead, quoting only those fields, except that a
nullable column the table does not carry is written empty (a producer written before
the contract grew that column delivers it as unknown).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bankmkt.runtime import write_atomically

_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


@cache
def contract_schema(source: str) -> dict:
    """The landing contract of one source (the JSON in ``bankmkt/contract/schemas``)."""
    text = (resources.files("bankmkt.contract") / "schemas" / f"{source}.json").read_text("utf-8")
    return json.loads(text)


def contract_columns(source: str) -> list[str]:
    return [column["name"] for column in contract_schema(source)["columns"]]


def landing_file(landing_dir: Path, source: str, day: dt.date) -> Path:
    """``<landing>/<source>/dt=YYYY-MM-DD/<source>.csv``."""
    return landing_dir / source / f"dt={day.isoformat()}" / f"{source}.csv"


def write_landing_csv(table: pa.Table, landing_dir: Path, source: str, day: dt.date) -> Path:
    """Write one delivery (header-only when the table is empty), atomically."""
    columns = contract_columns(source)
    table = with_nullable_columns(table, source)
    if table.column_names != columns:
        raise ValueError(f"{source}: columns {table.column_names} differ from the contract {columns}")
    path = landing_file(landing_dir, source, day)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(partial: Path) -> None:
        if _needs_quotes(table):
            _write_quoted(table, partial)
            return
        with pa.OSFile(str(partial), "wb") as sink:
            sink.write((",".join(columns) + "\n").encode("utf-8"))
            if table.num_rows:
                pacsv.write_csv(table, sink, _WRITE_OPTIONS)

    write_atomically(path, write)
    return path


def _needs_quotes(table: pa.Table) -> bool:
    """True when a text field holds a comma, a quote or a line break (Arrow's unquoted writer refuses it)."""
    text = [c for c in table.columns if pa.types.is_string(c.type) or pa.types.is_large_string(c.type)]
    return any(pc.any(pc.match_substring_regex(column, r'[,"\r\n]')).as_py() for column in text)


def _write_quoted(table: pa.Table, path: Path) -> None:
    """The same file as Arrow's writer, with only the fields that need it quoted (RFC 4180)."""
    import csv

    text = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    rendered = pa.BufferOutputStream()
    # Arrow renders every value (dates, decimals, booleans) as the contract wants; only quoting differs.
    pacsv.write_csv(table, rendered, text)
    rows = csv.reader(io.StringIO(rendered.getvalue().to_pybytes().decode("utf-8")))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(table.column_names)
        writer.writerows(rows)


def nullable_columns(source: str) -> list[str]:
    return [column["name"] for column in contract_schema(source)["columns"] if column["nullable"]]


def with_nullable_columns(table: pa.Table, source: str) -> pa.Table:
    """``table`` with every nullable contract column it lacks added as nulls, in the contract's order.

    Columns the contract does not know, or required columns missing, are left for the caller's
    check to refuse."""
    absent = [name for name in nullable_columns(source) if name not in table.column_names]
    if not absent:
        return table
    for name in absent:
        table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    order = [name for name in contract_columns(source) if name in table.column_names]
    return table.select(order) if len(order) == table.num_columns else table


def empty_delivery(source: str) -> pa.Table:
    """A header-only delivery of ``source`` (every column as text)."""
    return pa.table({name: pa.array([], pa.string()) for name in contract_columns(source)})


# ---- column builders -------------------------------------------------------------------


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` (e.g. C0000042)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def decimals(cents: np.ndarray) -> pa.Array:
    """decimal128(18, 2) from integer cents, zero-copy (written as e.g. ``-12.30``)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension to 128 bits
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words)])


def dates(epoch_days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """date32 from days since 1970-01-01; ``valid`` False gives null."""
    values = np.asarray(epoch_days, dtype=np.int64).astype("datetime64[D]")
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(values, type=pa.date32(), mask=mask)


def labels(vocabulary: tuple[str, ...], codes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Strings from codes into a small vocabulary; ``valid`` False gives null."""
    indices = pa.array(
        np.asarray(codes, dtype=np.int32), mask=None if valid is None else ~np.asarray(valid, dtype=bool)
    )
    return pa.array(vocabulary, type=pa.string()).take(indices)


_TIMES_OF_DAY = None


def _times_of_day() -> pa.Array:
    global _TIMES_OF_DAY
    if _TIMES_OF_DAY is None:
        seconds = np.arange(86400)
        hh, mm, ss = seconds // 3600, seconds // 60 % 60, seconds % 60
        parts = [pc.utf8_lpad(pc.cast(pa.array(v), pa.string()), 2, "0") for v in (hh, mm, ss)]
        _TIMES_OF_DAY = pc.binary_join_element_wise(parts[0], ":", parts[1], ":", parts[2], "Z", "")
    return _TIMES_OF_DAY


class DayClock:
    """Timestamps of one day as ``YYYY-MM-DDTHH:MM:SSZ`` strings, by second of the day."""

    def __init__(self, day: dt.date):
        self.day = day
        self._stamps = pc.binary_join_element_wise(f"{day.isoformat()}T", _times_of_day(), "")

    def stamps(self, seconds: np.ndarray) -> pa.Array:
        return self._stamps.take(pa.array(np.asarray(seconds, dtype=np.int32)))
