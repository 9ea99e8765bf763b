"""The SQLite online store, written in bulk and read directly, in Feast's own storage format.

Feast's SQLite store keeps one table per feature view, ``<project>_<view>``,
one row per (entity key, feature) with the serialised ``ValueProto``. The
rows of a whole partition are generated inside SQLite from packed column
buffers (binding tens of millions of rows one by one from Python is the slow
part) in one transaction, so readers see either the previous day or the new
one. An equal event time is overwritten (a corrected re-export of a day can be
published again), a later one never.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig, adapt_datetime_epoch
from feast.utils import to_naive_utc

from bankmkt.feast_plugin.encoding import (
    EncodedColumn,
    EncodedPartition,
    FastPublishUnsupported,
    decimal_digits,
    unique_map,
)
from bankmkt.feast_plugin.feast_internals import (
    initialize_connection,
    quote_id,
    sqlite_path,
    sqlite_table,
    sqlite_table_name,
)

SQLITE_CHUNK = 100_000  # customers per statement: amortises the call, keeps the buffers at tens of MB
SQLITE_PAGE_SIZE = 16384
SQLITE_PRAGMAS = (
    "journal_mode=WAL",  # persistent: readers (serving) are never blocked while a day is published
    "synchronous=NORMAL",  # with WAL: a power cut may lose the last publish, never corrupts the file
    "cache_size=-262144",  # 256 MiB for this connection
    "busy_timeout=60000",
    "journal_size_limit=67108864",  # the WAL shrinks back to 64 MiB after the checkpoint
)
TYPE = "bankmkt.feast_plugin.FastSqliteOnlineStore"


class FastSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Feast's SQLite store configuration (same fields), selected by
    ``type: bankmkt.feast_plugin.FastSqliteOnlineStore``."""

    type: Literal["bankmkt.feast_plugin.FastSqliteOnlineStore"] = TYPE


class FastSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store, plus a bulk writer for :class:`bankmkt.feast_plugin.FastComputeEngine`.

    Reads, pushes and single writes are Feast's own; the tables and bytes are
    Feast's, so a store written here reads back through ``type: sqlite``.
    """

    def update(self, config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial):
        prepare_database(config)
        online = config.online_store
        if getattr(online, "enable_openai_compatible_store", False) or getattr(online, "vector_enabled", False):
            super().update(config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial)
            return
        # Feast's tables with Feast's columns and primary key, clustered on that key (WITHOUT ROWID): one
        # B-tree per view instead of three (rowid table, key index, Feast's entity-key index, whose work
        # the key's prefix does), so a bulk upsert writes a third of the pages. Feast's reads and writes
        # (`WHERE entity_key IN`, `ON CONFLICT (entity_key, feature_name)`) work on it unchanged.
        versioning = config.registry.enable_online_feature_view_versioning
        con = initialize_connection(str(database_path(config)))
        try:
            for view in tables_to_keep:
                table = sqlite_table(config.project, view, versioning)
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (entity_key BLOB, feature_name TEXT, value BLOB, "
                    "value_text TEXT, vector_value BLOB, event_ts timestamp, created_ts timestamp, "
                    "PRIMARY KEY (entity_key, feature_name)) WITHOUT ROWID"
                )
            for view in tables_to_delete:
                con.execute(f"DROP TABLE IF EXISTS {sqlite_table(config.project, view, versioning)}")
            con.commit()
        finally:
            con.close()

    def write_encoded(self, config, encoded: EncodedPartition, check_newer: bool, advance=None) -> dict:
        """Upsert a whole encoded partition (an older event time never replaces a newer one: checked per row)."""
        return write_sqlite(config, encoded, advance=advance)

    def drop_project(self, config, views) -> None:
        """Drop the project's tables; Feast's teardown would delete the whole file, other projects included."""
        self.update(config, views, [], [], [], partial=False)


def database_path(config) -> Path:
    return sqlite_path(config)


def prepare_database(config) -> bool:
    """Create a new SQLite online store with 16 KiB pages and WAL before Feast creates its tables.

    Larger pages make the bulk upsert about a fifth cheaper (fewer page splits)
    while a point read still touches a few pages; an existing file is left as
    it is (its page size only changes with VACUUM). Returns True if created.
    """
    path = database_path(config)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("VACUUM")  # writes the header with the page size
    return True


def _sqlite_statement(table: str, features: list[str], width: int, digits: int, value_columns: set[str]) -> str:
    """INSERT ... SELECT that unpacks one chunk of packed buffers into Feast's (entity, feature) rows."""
    feature_rows = ", ".join("({}, '{}')".format(j, name.replace("'", "''")) for j, name in enumerate(features))
    n_features = len(features)
    value = (
        f"substr(:cells, (customer.i * {n_features} + feature.j) * {width} + 1, "
        f"CAST(substr(:lengths, (customer.i * {n_features} + feature.j) * {digits} + 1, {digits}) AS INTEGER))"
    )
    columns = ["entity_key", "feature_name", "value", "event_ts", "created_ts"]
    values = ["customer.entity_key", "feature.name", value, "customer.event_ts", "NULL"]
    updates = ["value = excluded.value", "event_ts = excluded.event_ts", "created_ts = excluded.created_ts"]
    # Columns Feast fills only for text/vector search (off in this store's config): cleared, never stale.
    for extra in ("value_text", "value_num"):
        if extra in value_columns:
            columns.append(extra)
            values.append("NULL")
            updates.append(f"{extra} = NULL")
    quoted = quote_id(table)
    # Customers are the outer loop and features (sorted) the inner one: rows arrive in the order of
    # the (entity_key, feature_name) primary key, so every index insert is an append.
    return f"""
WITH RECURSIVE
  position(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM position WHERE i < :customers - 1),
  customer(i, entity_key, event_ts) AS MATERIALIZED (
    SELECT i,
           substr(:keys, CAST(substr(:key_offsets, i * 12 + 1, 12) AS INTEGER) + 1,
                  CAST(substr(:key_offsets, i * 12 + 13, 12) AS INTEGER)
                  - CAST(substr(:key_offsets, i * 12 + 1, 12) AS INTEGER)),
           CAST(substr(:event_ts, i * 12 + 1, 12) AS INTEGER)
    FROM position),
  feature(j, name) AS (VALUES {feature_rows})
INSERT INTO {quoted} ({", ".join(columns)})
SELECT {", ".join(values)}
FROM customer CROSS JOIN feature
WHERE true
ON CONFLICT (entity_key, feature_name) DO UPDATE SET {", ".join(updates)}
WHERE excluded.event_ts >= {quoted}.event_ts
"""


def write_sqlite(config, encoded: EncodedPartition, chunk: int = SQLITE_CHUNK, advance=None) -> dict:
    """Upsert the partition into Feast's SQLite tables in one transaction (WAL: readers are never blocked)."""
    online = config.online_store
    if (
        getattr(online, "vector_enabled", False)
        or getattr(online, "text_search_enabled", False)
        or getattr(online, "enable_openai_compatible_store", False)
    ):
        raise FastPublishUnsupported("vector / text search columns of the SQLite store need store.materialize")
    path = str(database_path(config))
    con = initialize_connection(path)
    con.isolation_level = None  # explicit BEGIN / COMMIT
    try:
        for pragma in SQLITE_PRAGMAS:
            con.execute(f"PRAGMA {pragma}")

        # Feast writes event_ts through its own sqlite3 adapter (epoch seconds): the same function here.
        epochs, ts_index = unique_map(encoded.event_ts, lambda m: adapt_datetime_epoch(to_naive_utc(m)))
        event_ts = np.asarray(epochs, dtype=np.int64)[ts_index]
        versioning = config.registry.enable_online_feature_view_versioning

        tables = []
        for view in encoded.views:
            table = sqlite_table_name(config.project, view.view, versioning)
            info = con.execute(f"PRAGMA table_info({quote_id(table)})").fetchall()
            if not info:
                raise FastPublishUnsupported(f"online table {table} does not exist: run feast apply first")
            tables.append((view, table, {row[1] for row in info}))

        keys = encoded.keys
        stale = 0
        con.execute("BEGIN IMMEDIATE")
        try:
            for view, table, value_columns in tables:
                width = max(c.cells.shape[1] for c in view.columns)
                digits = len(str(width))  # of the cell lengths
                statement = _sqlite_statement(table, [c.name for c in view.columns], width, digits, value_columns)
                for lo in range(0, len(keys), chunk):
                    hi = min(lo + chunk, len(keys))
                    params = _sqlite_chunk(keys[lo:hi], event_ts[lo:hi], view.columns, lo, hi, width, digits)
                    before = con.total_changes
                    con.execute(statement, params)
                    stale += (hi - lo) * len(view.columns) - (con.total_changes - before)
                    if advance:
                        advance((hi - lo) * len(view.columns))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        con.close()
    return {"stale_skipped": stale, "online_path": path}


def _sqlite_chunk(
    keys: list[bytes], event_ts: np.ndarray, columns: list[EncodedColumn], lo: int, hi: int, width: int, digits: int
) -> dict:
    """The packed buffers of one chunk: keys and their offsets, event times, cells and cell lengths."""
    n, n_features = hi - lo, len(columns)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(k) for k in keys], out=offsets[1:])
    cells = np.zeros((n, n_features, width), dtype=np.uint8)
    lengths = np.empty((n, n_features), dtype=np.int64)
    for j, column in enumerate(columns):
        cells[:, j, : column.cells.shape[1]] = column.cells[lo:hi]
        lengths[:, j] = column.lengths[lo:hi]
    return {
        "customers": n,
        "keys": b"".join(keys),
        "key_offsets": decimal_digits(offsets, 12),
        "event_ts": decimal_digits(event_ts, 12),
        "cells": cells.tobytes(),
        "lengths": decimal_digits(lengths, digits),
    }


class SqliteReader:
    """Reads served views for a few entity keys straight from Feast's tables: one statement, a UNION ALL.

    ``views``: (feature view, feature names) pairs. ``read`` returns per key and
    view the event time (ISO, UTC) and the stored ValueProto bytes by feature,
    or (None, {}) where the store holds nothing.
    """

    def __init__(self, config, views: list[tuple[object, tuple[str, ...]]]):
        self._path = database_path(config)
        versioning = config.registry.enable_online_feature_view_versioning
        self._tables = [sqlite_table(config.project, view, versioning) for view, _ in views]
        self._wanted = [frozenset(names) for _, names in views]
        self._statements: dict[int, str] = {}
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False)
            con.execute("PRAGMA query_only=ON")
            # Reads straight from the OS page cache (no copy per page) and a warm page cache of its own.
            con.execute("PRAGMA mmap_size=17179869184")  # 16 GiB of address space, not of memory
            con.execute("PRAGMA cache_size=-65536")
            self._local.con = con
        return con

    def _statement(self, n: int) -> str:
        statement = self._statements.get(n)
        if statement is None:
            marks = ",".join("?" * n)
            statement = " UNION ALL ".join(
                f"SELECT {v}, entity_key, feature_name, value, event_ts FROM {table} WHERE entity_key IN ({marks})"
                for v, table in enumerate(self._tables)
            )
            self._statements[n] = statement
        return statement

    def read(self, keys: list[bytes]) -> list[list[tuple[str | None, dict[str, bytes]]]]:
        rows = self._connection().execute(self._statement(len(keys)), keys * len(self._tables)).fetchall()
        found: dict[bytes, list] = {key: [[None, {}] for _ in self._tables] for key in keys}
        for view_index, key, feature_name, raw, event_ts in rows:
            if feature_name not in self._wanted[view_index]:  # a feature of the view that is not served
                continue
            slot = found[key][view_index]
            slot[0] = event_ts
            slot[1][feature_name] = raw
        return [[(None if ts is None else _event_time(ts), raw) for ts, raw in found[key]] for key in keys]


def _event_time(stored, _cache: dict = {}) -> str:  # noqa: B006 - a deliberate memo
    """ISO time of an event_ts Feast's SQLite store wrote (a day's rows share a handful of values)."""
    text = _cache.get(stored)
    if text is None:
        # Feast's own converter: the epoch was written from a naive UTC time taken as local time.
        moment = datetime.fromtimestamp(int(stored)).replace(tzinfo=UTC)
        text = moment.isoformat().replace("+00:00", "Z")
        if len(_cache) < 10_000:
            _cache[stored] = text
    return text
