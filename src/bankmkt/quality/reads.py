"""The rows a suite validates: the suite's columns of a warehouse mart or of the target lists, typed for GX.

Only the columns a suite names are read, integers as 64-bit and decimals as
doubles (GX's pandas range check is vectorised only for those types).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from bankmkt.quality.drift import DRIFT
from bankmkt.settings import Settings


def needed_columns(expectations: list, suite: str) -> list[str]:
    """The columns the suite names (the only ones read), in first-use order."""
    names: list[str] = []
    for expectation in expectations:
        for key in ("column", "column_A", "column_B"):
            if getattr(expectation, key, None):
                names.append(getattr(expectation, key))
        names += list(getattr(expectation, "column_list", None) or [])
    names += [d.column for d in DRIFT.get(suite, ()) if d.column]
    return list(dict.fromkeys(names))


def _widen(frame: pd.DataFrame) -> pd.DataFrame:
    """int8/16/32 -> int64 and float32 -> float64, as one consolidated frame.

    GX's pandas range check is vectorised only for int64/float64 (int32 falls back
    to a Python function per row), and a frame of many small blocks is merged
    again on every filter GX makes.
    """
    import numpy as np

    wider = {}
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype != np.int64:
            wider[name] = np.int64
        elif isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype != np.float64:
            wider[name] = np.float64
    return frame.astype(wider).copy() if wider else frame


# DuckDB types read as the wide pandas types GX's vectorised paths expect.
_WIDE_SQL_TYPES = {
    "TINYINT": "BIGINT",
    "SMALLINT": "BIGINT",
    "INTEGER": "BIGINT",
    "UTINYINT": "BIGINT",
    "USMALLINT": "BIGINT",
    "UINTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "HUGEINT": "DOUBLE",
}


class MartMissing(LookupError):
    """The mart is not in the warehouse (or lacks columns the suite needs)."""


def read_warehouse(
    table: str, columns: list[str], date_column: str | None, run_date: date, settings: Settings
) -> pd.DataFrame:
    """The suite's columns of a mart: the newest date up to D when it has a date column, else every row."""
    from bankmkt.warehouse import read_only_connection

    if not settings.warehouse_path.exists():
        raise MartMissing(f"the warehouse {settings.warehouse_path} does not exist yet")
    with read_only_connection(settings) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = ?", [table]
            ).fetchall()
        )
        if not types:
            raise MartMissing(f"{table} is not in the warehouse yet (its dbt model has not been built)")
        missing = [c for c in columns if c not in types]
        if missing:
            raise MartMissing(f"{table} lacks the documented column(s) {', '.join(missing)}")

        def typed(column: str) -> str:
            wide = "DOUBLE" if types[column].startswith("DECIMAL") else _WIDE_SQL_TYPES.get(types[column])
            return f'cast("{column}" as {wide}) as "{column}"' if wide else f'"{column}"'

        select = ", ".join(typed(c) for c in columns)
        if date_column is None:
            return con.execute(f"select {select} from {table}").df()
        return con.execute(
            f'select {select} from {table} where "{date_column}" = '
            f'(select max("{date_column}") from {table} where "{date_column}" <= ?)',
            [run_date],
        ).df()


def read_target_lists(columns: list[str], run_date: date, settings: Settings) -> pd.DataFrame:
    files = sorted(settings.target_list_dir(run_date).glob("target_list_*.parquet"))
    if not files:
        raise MartMissing(f"no target lists in {settings.target_list_dir(run_date)} (scoring skipped or not run)")
    return prepared_frame(
        pd.concat([pd.read_parquet(p) for p in files], ignore_index=True), columns, "the target lists"
    )


def prepared_frame(frame: pd.DataFrame, columns: list[str], what: str) -> pd.DataFrame:
    """A frame not read from the warehouse, cut to the suite's columns and typed as the warehouse reads are."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MartMissing(f"{what} lack the documented column(s) {', '.join(missing)}")
    frame = frame[columns].copy()
    if "run_date" in frame.columns:
        frame["run_date"] = pd.to_datetime(frame["run_date"])
    return _widen(frame)
