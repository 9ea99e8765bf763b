"""The key index of accepted landing days: one DuckDB file, one table per source, and the connection.

``runs/landing_keys.duckdb`` holds, for every source whose keys later days look
up (event sources whose keys must not repeat, sources that foreign keys point
to), one table named after the source with those key columns (all text) and
``dt``, the accepted day that delivered the row. A day's check looks up its keys
with one join per rule against that table, whatever the number of earlier days;
a day is appended when accepted and deleted when quarantined or forgotten.

The index is a cache of the landing files of the days in the ledger, which stays
the record of what was accepted: the ``days`` table lists the days it holds, and
before an enforcing check :meth:`KeyIndex.sync` makes it agree with the ledger
(days the ledger no longer has are deleted, accepted days it lacks are read once
from their landing CSVs). That also migrates a DATA_DIR from the former per-day
Parquet cache (``runs/landing_keys/<source>/dt=D.parquet``, removed once the
index has every accepted day) and rebuilds the index after a schema change of a
key (``meta`` keeps the layout it was built with).

Every check runs on a cursor of one in-memory DuckDB database per process
(:func:`connection`): opening a DuckDB database costs tens of milliseconds, as
much as checking a small day, and a first load checks hundreds of days in one
process. For the same reason the index file stays attached from one check to
the next, and is detached (checkpointed, its lock released for other processes)
once the process has run no check for :data:`IDLE_RELEASE_SECONDS`, at exit,
or when a check of another DATA_DIR needs the database.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from bankmkt.contract.schema import landing_file, load_contract
from bankmkt.settings import Settings

CATALOG = "landing_keys"
LAYOUT_VERSION = 1
LOCK_WAIT_SECONDS = 60.0  # how long to wait for another process checking the same DATA_DIR
IDLE_RELEASE_SECONDS = 0.5  # detach the index after this long without a check


@dataclass
class _Attachment:
    """The index file attached to this process's database (at most one at a time)."""

    pid: int
    path: Path
    writable: bool
    file: tuple[int, int] | None  # device and inode: a file replaced under the same path is attached anew
    days: set[date] | None = None  # the days it holds, once its layout was checked


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


_process_lock = threading.RLock()  # one check at a time per process: they share the database
_database: tuple[int, duckdb.DuckDBPyConnection] | None = None
_attachment: _Attachment | None = None
_generation = 0  # counts uses of the attachment, so that an idle timer knows it is stale
_timer: threading.Timer | None = None


def key_index_path(settings: Settings) -> Path:
    return settings.landing_key_index_path


def legacy_key_dir(settings: Settings) -> Path:
    """The former key cache: one Parquet file per source and accepted day."""
    return settings.legacy_landing_key_dir


def indexed_sources() -> dict[str, tuple[str, ...]]:
    """Source -> key columns kept in the index: its primary key, then the columns referenced."""
    contracts = load_contract()
    referenced: dict[str, list[str]] = {}
    for contract in contracts.values():
        for ref_source, ref_column in contract.foreign_keys.values():
            referenced.setdefault(ref_source, []).append(ref_column)
    layout = {}
    for contract in contracts.values():
        if contract.keys_unique_across_days or contract.source in referenced:
            columns = list(contract.primary_key)
            columns += [c for c in referenced.get(contract.source, []) if c not in columns]
            layout[contract.source] = tuple(columns)
    return layout


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def table(source: str) -> str:
    return f"{CATALOG}.{q(source)}"


@contextmanager
def connection(settings: Settings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh cursor of this process's in-memory DuckDB database, closed on exit.

    A cursor has its own temporary tables and views, so a check starts clean;
    the database under it is made once per process (and again after a fork).
    Checks of one process are serialised.
    """
    with _process_lock:
        cursor = _base(settings).cursor()
        try:
            yield cursor
        finally:
            cursor.close()


def _base(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    global _database
    if _database is None or _database[0] != os.getpid():
        # One in-memory database per process, with the platform's memory limit and a folder to spill to
        # (the first check's settings: the checks of one process work on one DATA_DIR).
        _database = (os.getpid(), duckdb.connect(config=settings.duckdb_config() if settings else {}))
    return _database[1]


def _attach(con: duckdb.DuckDBPyConnection, path: Path, writable: bool) -> _Attachment | None:
    """Attach the index at ``path`` (or keep it attached); None for a dry run without an index."""
    global _attachment, _generation
    _generation += 1
    current = _attachment
    if (
        current is not None
        and current.pid == os.getpid()
        and current.path == path
        and (current.writable or not writable)
        and current.file == _file_id(path)
    ):
        return current
    release()
    con.execute(f"DETACH DATABASE IF EXISTS {CATALOG}")  # left over if a detach ever failed
    if writable:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        return None  # a dry run on a DATA_DIR without an index reads landing files instead
    mode = "" if writable else " (READ_ONLY)"
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            con.execute(f"ATTACH {lit(path)} AS {CATALOG}{mode}")
            break
        except duckdb.Error as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # another process is checking this DATA_DIR
    _attachment = _Attachment(os.getpid(), path, writable, _file_id(path))
    return _attachment


def release() -> None:
    """Detach the index if attached: checkpoint it and let other processes open it."""
    global _attachment
    with _process_lock:
        if (
            _attachment is not None
            and _attachment.pid == os.getpid()
            and _database is not None
            and _database[0] == os.getpid()
        ):
            try:
                _database[1].execute(f"DETACH DATABASE IF EXISTS {CATALOG}")
            except duckdb.Error:
                pass
        _attachment = None


def _release_when_idle() -> None:
    global _timer
    generation, pid = _generation, os.getpid()

    def release_if_idle() -> None:
        with _process_lock:
            if generation == _generation and pid == os.getpid():
                release()

    if _timer is not None:
        _timer.cancel()
    _timer = threading.Timer(IDLE_RELEASE_SECONDS, release_if_idle)
    _timer.daemon = True
    _timer.start()


@atexit.register
def _shutdown() -> None:
    """At exit: detach the index (checkpointed) and close the database while Python still runs."""
    global _database, _timer
    if _timer is not None:
        _timer.cancel()
        _timer = None
    release()
    with _process_lock:
        if _database is not None and _database[0] == os.getpid():
            _database[1].close()
        _database = None


def from_csv(paths: list[Path], columns: Iterable[str]) -> str:
    """SQL reading ``columns`` (as text) plus ``dt`` (text, from the folder) of landing CSVs."""
    files = ", ".join(lit(str(p)) for p in paths)
    cols = ", ".join(q(c) for c in columns)
    return (
        f"SELECT {cols}, regexp_extract(filename, 'dt=(\\d{{4}}-\\d{{2}}-\\d{{2}})', 1) AS dt "
        f"FROM read_csv([{files}], all_varchar=true, header=true, delim=',', quote='\"', escape='\"', "
        "union_by_name=true, ignore_errors=true, filename=true)"
    )


def copy_csv_keys(
    con: duckdb.DuckDBPyConnection, target: str, paths: list[Path], columns: tuple[str, ...], dt_type: str = "VARCHAR"
) -> None:
    """Insert ``columns`` and ``dt`` of the files into ``target``; files DuckDB cannot read are skipped."""
    cols = ", ".join(q(c) for c in columns)
    select = f"SELECT {cols}, CAST(dt AS {dt_type}) FROM ({{}})"
    try:
        con.execute(f"INSERT INTO {target} " + select.format(from_csv(paths, columns)))
    except duckdb.Error:
        # Some file cannot be read at all (its day failed its own check): one by one, skipping it.
        for path in paths:
            try:
                con.execute(f"INSERT INTO {target} " + select.format(from_csv([path], columns)))
            except duckdb.Error:
                continue


def has_rows_and_columns(path: Path, columns: Iterable[str]) -> bool:
    """True when a landing file has a data row and a header naming ``columns``."""
    import csv

    try:
        with path.open("rb") as handle:
            header = handle.readline()
            has_rows = bool(handle.read(64).strip())
    except OSError:
        return False
    if not has_rows:
        return False
    names = next(csv.reader([header.decode("utf-8", errors="replace").strip("\r\n\ufeff")]), [])
    return set(columns) <= set(names)


class KeyIndex:
    """The index attached to a check's cursor (``landing_keys.<source>``), read-only or writable."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, writable: bool):
        self.con = con
        self.settings = settings
        self.writable = writable
        self.path = key_index_path(settings)
        self.layout = indexed_sources()
        self.attached = False
        self.days: set[date] = set()  # days the index holds (after sync: the accepted days)

    # ---- attach / detach ------------------------------------------------------------
    def __enter__(self) -> KeyIndex:
        state = _attach(self.con, self.path, self.writable)
        if state is None:
            return self
        if state.days is None:  # first use since attached: check the layout it was built with
            if self._layout_matches():
                state.days = {d for (d,) in self.con.execute(f"SELECT dt FROM {CATALOG}.days").fetchall()}
            elif self.writable:
                self._create()
                state.days = set()
            else:
                release()  # built for another layout: unusable until an enforcing check rebuilds it
                return self
        self.attached = True
        self.days = state.days  # shared: what this check changes, the next one knows
        return self

    def __exit__(self, exc_type=None, *exc) -> None:
        if not self.attached:
            return
        self.attached = False
        # A transaction a failure left open ends (rolled back) when the check's cursor closes.
        if exc_type is not None and _attachment is not None:
            _attachment.days = None  # read the days again next time
        _release_when_idle()

    def _layout_json(self) -> str:
        return json.dumps({"version": LAYOUT_VERSION, "sources": self.layout}, sort_keys=True)

    def _layout_matches(self) -> bool:
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'meta'", [CATALOG]
        ).fetchone()[0]
        if not found:
            return False
        row = self.con.execute(f"SELECT layout FROM {CATALOG}.meta").fetchone()
        return row is not None and row[0] == self._layout_json()

    def _create(self) -> None:
        """(Re)create every table empty for the current layout."""
        tables = [
            name
            for (name,) in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [CATALOG]
            ).fetchall()
        ]
        self.con.execute("BEGIN")
        for name in tables:
            self.con.execute(f"DROP TABLE {CATALOG}.{q(name)}")
        for source, columns in self.layout.items():
            cols = ", ".join(f"{q(c)} VARCHAR" for c in columns)
            self.con.execute(f"CREATE TABLE {table(source)} ({cols}, dt DATE)")
        self.con.execute(f"CREATE TABLE {CATALOG}.days (dt DATE)")
        self.con.execute(f"CREATE TABLE {CATALOG}.meta (layout VARCHAR)")
        self.con.execute(f"INSERT INTO {CATALOG}.meta VALUES ({lit(self._layout_json())})")
        self.con.execute("COMMIT")
        self.days = set()

    # ---- keeping it in line with the ledger ---------------------------------------------
    def sync(self, accepted: Iterable[date]) -> None:
        """Make the index hold exactly the accepted days (writable index only).

        Days it holds that are no longer accepted are deleted; accepted days it
        lacks (a DATA_DIR from before the index, a crash between index and
        ledger, a new layout) are read from their landing CSVs, all in one pass.
        """
        accepted = set(accepted)
        stale = self.days - accepted
        if stale:
            self.delete_days(stale)
        missing = sorted(accepted - self.days)
        if missing:
            self.con.execute("BEGIN")
            for source, columns in self.layout.items():
                paths = [
                    p
                    for p in (landing_file(self.settings, source, d) for d in missing)
                    if has_rows_and_columns(p, columns)
                ]
                if paths:
                    copy_csv_keys(self.con, table(source), paths, columns, dt_type="DATE")
            self._add_days(missing)
            self.con.execute("COMMIT")
            self.days |= set(missing)
        legacy = legacy_key_dir(self.settings)
        if legacy.is_dir():
            shutil.rmtree(legacy, ignore_errors=True)

    def _add_days(self, days: Iterable[date]) -> None:
        values = ", ".join(f"(DATE {lit(d.isoformat())})" for d in days)
        if values:
            self.con.execute(f"INSERT INTO {CATALOG}.days VALUES {values}")

    def delete_days(self, days: Iterable[date]) -> None:
        days = sorted(set(days))
        if not days or not self.attached:
            return
        listed = ", ".join(f"DATE {lit(d.isoformat())}" for d in days)
        self.con.execute("BEGIN")
        for source in self.layout:
            self.con.execute(f"DELETE FROM {table(source)} WHERE dt IN ({listed})")
        self.con.execute(f"DELETE FROM {CATALOG}.days WHERE dt IN ({listed})")
        self.con.execute("COMMIT")
        self.days -= set(days)

    # ---- a check's lookups and an accepted day's keys -------------------------------------
    def usable_before(self, day: date, accepted: Iterable[date]) -> tuple[set[date], str]:
        """The accepted days before ``day`` the index holds, and the SQL condition selecting them."""
        if not self.attached:
            return set(), "false"
        usable = {d for d in accepted if d < day} & self.days
        where = f"dt < DATE {lit(day.isoformat())}"
        excluded = sorted(d for d in self.days - usable if d < day)
        if excluded:  # a dry run on an index that lags the ledger
            where += " AND dt NOT IN (" + ", ".join(f"DATE {lit(d.isoformat())}" for d in excluded) + ")"
        return usable, where

    def earlier(self, source: str, columns: tuple[str, ...], where: str) -> str | None:
        """SQL for ``columns`` and ``dt`` (text) of the index's rows matching ``where``."""
        if not self.attached or not set(columns) <= set(self.layout.get(source, ())):
            return None
        cols = ", ".join(q(c) for c in columns)
        return f"SELECT {cols}, CAST(dt AS VARCHAR) AS dt FROM {table(source)} WHERE {where}"

    def record(self, day: date, day_tables: dict[str, str]) -> None:
        """Replace ``day``'s rows with the keys of the day's tables (``source -> table name``)."""
        self.con.execute("BEGIN")
        if day in self.days:  # a rerun of an accepted day
            for source in self.layout:
                self.con.execute(f"DELETE FROM {table(source)} WHERE dt = DATE {lit(day.isoformat())}")
        else:
            self._add_days([day])
        for source, view in day_tables.items():
            columns = self.layout.get(source)
            if not columns:
                continue
            cols = ", ".join(q(c) for c in columns)
            self.con.execute(f"INSERT INTO {table(source)} SELECT {cols}, DATE {lit(day.isoformat())} FROM {view}")
        self.con.execute("COMMIT")
        self.days.add(day)


def forget_in_index(settings: Settings, day: date) -> None:
    """Delete ``day`` from the index (and the former per-day cache), if there is one."""
    legacy = legacy_key_dir(settings)
    if legacy.is_dir():
        for source in load_contract():
            (legacy / source / f"dt={day.isoformat()}.parquet").unlink(missing_ok=True)
    if not key_index_path(settings).is_file():
        return
    with connection(settings) as con, KeyIndex(con, settings, writable=True) as index:
        if day in index.days:
            index.delete_days([day])
