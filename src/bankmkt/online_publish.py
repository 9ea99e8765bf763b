"""Fast online publication: one exported feature partition into Feast's online store.

``store.materialize`` turns every row into Python protobuf objects and writes
them one by one (one or two thousand customers a second at best here). This writer reads the exported
Parquet with pyarrow, serialises whole columns at once and writes them in
Feast's own storage format, so every Feast client (``get_online_features``,
``feast serve``) reads the result unchanged:

* SQLite: one table per feature view, ``<project>_<view>``, one row per
  (entity key, feature) with the serialised ``ValueProto``; the rows of a
  whole partition are generated inside SQLite from packed column buffers
  (binding 27 million rows one by one from Python is the slow part) in one
  transaction, so readers see either the previous day or the new one.
* Redis: one hash per entity, key = serialised entity key + project, fields =
  ``mmh3("<view>:<feature>")`` and ``_ts:<view>``; the HSET commands of many
  customers are assembled as one RESP byte stream with numpy and sent through
  the connection Feast's own Redis store opens.

The byte formats come from Feast's helpers (``serialize_entity_key``,
``serialize_entity_key_prefix``, ``_mmh3``, ``compute_table_id``,
``python_values_to_proto_values``); the vectorised encoders are checked
against them on a sample of every column before anything is written.

A value is never replaced by an older one: a stored value whose event time is
later than the incoming one stays (Feast's Redis store also skips equal
times; here an equal time is overwritten, so a corrected re-export of a day
can be published again).
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

# Customers per SQL statement / Redis round trip: large enough to amortise the
# per-call cost, small enough to keep the packed buffers at tens of megabytes.
SQLITE_CHUNK = 100_000
REDIS_CHUNK = 20_000
_SAMPLE = 64  # values per column checked against Feast's own serialiser
SQLITE_PAGE_SIZE = 16384
SQLITE_PRAGMAS = (
    "journal_mode=WAL",  # persistent: readers (serving) are never blocked while a day is published
    "synchronous=NORMAL",  # with WAL: a power cut may lose the last publish, never corrupts the file
    "cache_size=-262144",  # 256 MiB for this connection
    "busy_timeout=60000",
    "journal_size_limit=67108864",  # the WAL shrinks back to 64 MiB after the checkpoint
)


class FastPublishUnsupported(RuntimeError):
    """The store or the feature views need something this writer does not do; use store.materialize."""


@dataclass
class EncodedColumn:
    """Serialised ValueProto bytes of one feature for every customer, padded to one width."""

    name: str
    cells: np.ndarray  # (customers, width) uint8
    lengths: np.ndarray  # (customers,) int64; 0 = missing value (Feast's empty ValueProto)


@dataclass
class EncodedView:
    name: str  # the name Feast's online store uses (versioned when versioning is on)
    view: object  # feast.FeatureView
    columns: list[EncodedColumn]  # sorted by feature name (the order of Feast's SQLite key)


@dataclass
class EncodedPartition:
    """One partition of the offline source, ready to be written: one row per customer."""

    keys: list[bytes]  # serialised entity keys, sorted bytewise
    event_ts: np.ndarray  # datetime64[us], naive UTC
    views: list[EncodedView]
    rows_read: int
    rows_outside_window: int
    duplicates_dropped: int

    @property
    def customers(self) -> int:
        return len(self.keys)

    @property
    def values(self) -> int:
        return self.customers * sum(len(v.columns) for v in self.views)


@dataclass
class PublishResult:
    store: str
    customers: int
    values: int
    feature_views: list[str]
    seconds_encode: float
    seconds_write: float
    stale_skipped: int = 0
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        total = self.seconds_encode + self.seconds_write
        return {
            "method": "fast",
            "online_store": self.store,
            "customers": self.customers,
            "values": self.values,
            "views_published": self.feature_views,
            "seconds_encode": round(self.seconds_encode, 2),
            "seconds_write": round(self.seconds_write, 2),
            "customers_per_second": round(self.customers / total) if total else None,
            "stale_skipped": self.stale_skipped,
            **self.details,
        }


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def _feast_bytes(values: Sequence, value_type) -> list[bytes]:
    """Feast's own serialisation of a few Python values (the reference the encoders are held to)."""
    from feast.type_map import python_values_to_proto_values

    return [proto.SerializeToString() for proto in python_values_to_proto_values(list(values), value_type)]


def _pad(serialised: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A padded (n, width) matrix and the lengths of a list of byte strings."""
    lengths = np.fromiter(map(len, serialised), dtype=np.int64, count=len(serialised))
    width = max(int(lengths.max(initial=0)), 1)
    joined = np.frombuffer(b"".join(serialised) + b"\0", dtype=np.uint8)
    starts = np.cumsum(lengths) - lengths
    positions = np.minimum(starts[:, None] + np.arange(width), len(joined) - 1)
    cells = joined[positions]
    cells[np.arange(width) >= lengths[:, None]] = 0
    return cells, lengths


def _encode_floating(values: pa.ChunkedArray, value_type) -> tuple[np.ndarray, np.ndarray]:
    """DOUBLE / FLOAT: a ValueProto with one fixed64/fixed32 field is its tag and the little-endian bits."""
    from feast.value_type import ValueType

    double = value_type == ValueType.DOUBLE
    dtype, tag = (np.dtype("<f8"), 0x29) if double else (np.dtype("<f4"), 0x35)  # field 5 / 6, wire type 1 / 5
    numbers = values.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(dtype)
    missing = np.isnan(numbers)  # nulls arrive as NaN; Feast writes an empty ValueProto for both
    width = 1 + dtype.itemsize
    cells = np.empty((len(numbers), width), dtype=np.uint8)
    cells[:, 0] = tag
    cells[:, 1:] = numbers.view(np.uint8).reshape(len(numbers), dtype.itemsize)
    lengths = np.where(missing, 0, width).astype(np.int64)
    return cells, lengths


def _encode_by_dictionary(values: pa.ChunkedArray, value_type) -> tuple[np.ndarray, np.ndarray]:
    """Any scalar type: Feast serialises each distinct value once; rows index into that table."""
    encoded = pc.dictionary_encode(values.combine_chunks())
    dictionary = encoded.dictionary
    serialised = _feast_bytes(dictionary.to_numpy(zero_copy_only=False), value_type) if len(dictionary) else []
    serialised.append(b"")  # the slot for nulls
    table, table_lengths = _pad(serialised)
    indices = encoded.indices.fill_null(len(serialised) - 1).to_numpy(zero_copy_only=False)
    return table[indices], table_lengths[indices]


def encode_column(name: str, values: pa.ChunkedArray, value_type) -> EncodedColumn:
    """Serialised ValueProtos of a whole column, checked against Feast's serialiser on a sample."""
    from feast.value_type import ValueType

    if value_type in (ValueType.DOUBLE, ValueType.FLOAT):
        cells, lengths = _encode_floating(values, value_type)
    elif value_type in (
        ValueType.INT32,
        ValueType.INT64,
        ValueType.BOOL,
        ValueType.STRING,
        ValueType.BYTES,
    ):
        cells, lengths = _encode_by_dictionary(values, value_type)
    else:
        raise FastPublishUnsupported(f"feature {name}: value type {value_type.name} is not handled by the fast writer")
    column = EncodedColumn(name=name, cells=cells, lengths=lengths)
    _check_column(column, values, value_type)
    return column


def _check_column(column: EncodedColumn, values: pa.ChunkedArray, value_type) -> None:
    """Compare the first values of the column (and a missing one, if any) with Feast's bytes."""
    sample_rows = list(range(min(_SAMPLE, len(column.lengths))))
    missing = np.flatnonzero(column.lengths == 0)
    if missing.size:
        sample_rows.append(int(missing[0]))
    sample = values.take(pa.array(sample_rows, type=pa.int64())).to_numpy(zero_copy_only=False)
    expected = _feast_bytes(sample, value_type)
    for row, reference in zip(sample_rows, expected):
        ours = column.cells[row, : column.lengths[row]].tobytes()
        if ours != reference:
            raise AssertionError(f"fast encoding of {column.name} row {row} is {ours!r}, Feast writes {reference!r}")


def serialize_entity_keys(
    join_key: str, values: Sequence, value_type, version: int, check: int = _SAMPLE
) -> list[bytes]:
    """Feast's serialised entity keys (``serialize_entity_key``) of a single-key entity.

    The first ``check`` keys are compared with Feast's own function.
    """
    from feast.infra.key_encoding_utils import serialize_entity_key, serialize_entity_key_prefix
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.protos.feast.types.Value_pb2 import ValueType as ValueTypeProto
    from feast.type_map import python_values_to_proto_values
    from feast.value_type import ValueType

    def feast_key(value) -> bytes:
        proto = python_values_to_proto_values([value], value_type)[0]
        return serialize_entity_key(EntityKeyProto(join_keys=[join_key], entity_values=[proto]), version)

    if value_type == ValueType.STRING and version >= 3:
        # <count><STRING><len>join_key (Feast's prefix helper) + <STRING><len>value
        prefix = serialize_entity_key_prefix([join_key], version) + struct.pack("<I", ValueTypeProto.STRING)
        keys = [prefix + len(b).to_bytes(4, "little") + b for b in (str(v).encode("utf8") for v in values)]
    else:  # other key types: Feast's own function per key (correct, slower)
        keys = [feast_key(v) for v in values]
    for row in range(min(check, len(keys))):
        reference = feast_key(values[row])
        if keys[row] != reference:
            raise AssertionError(f"entity key of row {row} is {keys[row]!r}, Feast serialises {reference!r}")
    return keys


def _online_views(store, feature_views: Iterable[str] | None) -> list:
    views = [v for v in store.list_feature_views() if v.online]
    if feature_views is not None:
        wanted = set(feature_views)
        views = [v for v in views if v.name in wanted]
        missing = wanted - {v.name for v in views}
        if missing:
            raise ValueError(f"no online feature view named {', '.join(sorted(missing))}")
    if not views:
        raise ValueError("no online feature view to publish")
    return views


def _source_layout(views: list) -> tuple[str, str, object]:
    """The one join key, timestamp column and key value type every published view shares."""
    layouts = set()
    for view in views:
        source = view.batch_source
        if len(view.entity_columns) != 1:
            raise FastPublishUnsupported(f"{view.name}: only single-key entities are handled by the fast writer")
        if source.field_mapping or source.created_timestamp_column:
            raise FastPublishUnsupported(f"{view.name}: field mappings / created timestamps need store.materialize")
        if getattr(view, "aggregations", None) or getattr(view, "feature_transformation", None):
            raise FastPublishUnsupported(f"{view.name}: transformations need store.materialize")
        column = view.entity_columns[0]
        layouts.add((column.name, source.timestamp_field, column.dtype.to_value_type()))
    if len(layouts) != 1:
        raise FastPublishUnsupported(f"the views do not share one entity key and timestamp column: {layouts}")
    return layouts.pop()


def encode_partition(
    store,
    partition: pa.Table,
    start: datetime,
    end: datetime,
    feature_views: Iterable[str] | None = None,
) -> EncodedPartition:
    """Serialise the rows of ``partition`` whose event time is in [start, end] (Feast's window).

    As ``store.materialize`` does, only the latest row per customer in the window is kept.
    """
    views = _online_views(store, feature_views)
    join_key, ts_field, key_type = _source_layout(views)
    version = store.config.entity_key_serialization_version

    rows_read = partition.num_rows
    ts = partition.column(ts_field)
    if pa.types.is_timestamp(ts.type) and ts.type.tz is not None:
        ts = pc.cast(ts, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    ts = ts.cast(pa.timestamp("us"))
    lo = pa.scalar(_naive_utc(start), pa.timestamp("us"))
    hi = pa.scalar(_naive_utc(end), pa.timestamp("us"))
    in_window = pc.and_(pc.greater_equal(ts, lo), pc.less_equal(ts, hi))
    partition = partition.set_column(partition.schema.get_field_index(ts_field), ts_field, ts).filter(in_window)
    outside = rows_read - partition.num_rows

    keys = serialize_entity_keys(join_key, partition.column(join_key).to_pylist(), key_type, version)
    # Sort by serialised key (the order of Feast's SQLite primary key), then time: the last row wins.
    order_table = pa.table({"key": pa.array(keys, pa.binary()), "ts": partition.column(ts_field)})
    order = pc.sort_indices(order_table, [("key", "ascending"), ("ts", "ascending")]).to_numpy()
    sorted_keys = [keys[i] for i in order]
    keep = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        keep[:-1] = [a != b for a, b in zip(sorted_keys[:-1], sorted_keys[1:])]
    order = order[keep]
    sorted_keys = [k for k, kept in zip(sorted_keys, keep) if kept]
    partition = partition.take(pa.array(order, type=pa.int64()))

    encoded_views = []
    for view in views:
        names = sorted(f.name for f in view.features)
        missing = [n for n in names if n not in partition.column_names]
        if missing:
            raise ValueError(f"{view.name}: the partition has no column {', '.join(missing)}")
        dtypes = {f.name: f.dtype.to_value_type() for f in view.features}
        columns = [encode_column(n, partition.column(n), dtypes[n]) for n in names]
        encoded_views.append(EncodedView(name=_online_name(store, view), view=view, columns=columns))
    return EncodedPartition(
        keys=sorted_keys,
        event_ts=partition.column(ts_field).to_numpy(zero_copy_only=False).astype("datetime64[us]"),
        views=encoded_views,
        rows_read=rows_read,
        rows_outside_window=outside,
        duplicates_dropped=int((~keep).sum()),
    )


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _online_name(store, view) -> str:
    from feast.infra.online_stores.helpers import compute_versioned_name

    return compute_versioned_name(view, store.config.registry.enable_online_feature_view_versioning)


def _unique_map(event_ts: np.ndarray, convert) -> tuple[list, np.ndarray]:
    """Apply ``convert`` once per distinct timestamp; returns the converted values and the row index."""
    distinct, inverse = np.unique(event_ts.astype("datetime64[us]"), return_inverse=True)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [epoch + timedelta(microseconds=int(v)) for v in distinct.astype(np.int64)]
    return [convert(m) for m in moments], inverse


def _decimal_digits(numbers: np.ndarray, width: int) -> bytes:
    """Non-negative integers as fixed-width ASCII decimals (SQLite reads them with CAST(substr(...)))."""
    numbers = np.asarray(numbers, dtype=np.int64).ravel()
    if width > 18 or (numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width)):
        raise FastPublishUnsupported(f"values outside 0 .. 10^{width} (e.g. event times before 1970)")
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers) % 10 + ord("0")
    return digits.astype(np.uint8).tobytes()


# ---------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------


def _sqlite_statement(table: str, features: list[str], width: int, digits: int, value_columns: set[str]) -> str:
    """INSERT ... SELECT that unpacks one chunk of packed buffers into Feast's (entity, feature) rows."""
    from feast.infra.online_stores.sqlite import _quote_id

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
    quoted = _quote_id(table)
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


def prepare_sqlite_store(config) -> bool:
    """Create a new SQLite online store with 16 KiB pages and WAL before Feast creates its tables.

    Larger pages make the bulk upsert about a fifth cheaper (fewer page splits)
    while a point read still touches a few pages; an existing file is left as
    it is (its page size only changes with VACUUM). Returns True if created.
    """
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    if config.online_store.type != "sqlite":
        return False
    path = Path(SqliteOnlineStore._get_db_path(config))
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("VACUUM")  # writes the header with the page size
    return True


def write_sqlite(store, encoded: EncodedPartition, chunk: int = SQLITE_CHUNK) -> dict:
    """Upsert the partition into Feast's SQLite tables in one transaction (WAL: readers are never blocked)."""
    from feast.infra.online_stores.sqlite import (
        SqliteOnlineStore,
        _initialize_conn,
        _quote_id,
        _table_id,
        adapt_datetime_epoch,
    )
    from feast.utils import to_naive_utc

    config = store.config
    online = config.online_store
    if (
        getattr(online, "vector_enabled", False)
        or getattr(online, "text_search_enabled", False)
        or getattr(online, "enable_openai_compatible_store", False)
    ):
        raise FastPublishUnsupported("vector / text search columns of the SQLite store need store.materialize")
    path = SqliteOnlineStore._get_db_path(config)
    con = _initialize_conn(path)
    con.isolation_level = None  # explicit BEGIN / COMMIT
    try:
        for pragma in SQLITE_PRAGMAS:
            con.execute(f"PRAGMA {pragma}")

        # Feast writes event_ts through its own sqlite3 adapter (epoch seconds): the same function here.
        epochs, ts_index = _unique_map(encoded.event_ts, lambda m: adapt_datetime_epoch(to_naive_utc(m)))
        event_ts = np.asarray(epochs, dtype=np.int64)[ts_index]
        versioning = config.registry.enable_online_feature_view_versioning

        tables = []
        for view in encoded.views:
            table = _table_id(config.project, view.view, versioning)
            info = con.execute(f"PRAGMA table_info({_quote_id(table)})").fetchall()
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
        "key_offsets": _decimal_digits(offsets, 12),
        "event_ts": _decimal_digits(event_ts, 12),
        "cells": cells.tobytes(),
        "lengths": _decimal_digits(lengths, digits),
    }


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _bulk_cells(cells: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RESP bulk strings ``$<len>\\r\\n<bytes>\\r\\n`` of padded cells, padded again."""
    n, width = cells.shape
    header_width = len(str(width)) + 3
    out = np.zeros((n, header_width + width + 2), dtype=np.uint8)
    out_lengths = np.empty(n, dtype=np.int64)
    for length in np.unique(lengths):
        rows = lengths == length
        header = np.frombuffer(b"$%d\r\n" % length, dtype=np.uint8)
        h, L = len(header), int(length)
        out[rows, :h] = header
        out[rows, h : h + L] = cells[rows, :L]
        out[rows, h + L : h + L + 2] = (13, 10)
        out_lengths[rows] = h + L + 2
    return out, out_lengths


def _constant(value: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    row = np.frombuffer(value, dtype=np.uint8)
    return np.broadcast_to(row, (n, len(row))), np.full(n, len(row), dtype=np.int64)


def _stream(segments: list[tuple[np.ndarray, np.ndarray]]) -> bytes:
    """Concatenate per-customer variable-length segments, customer after customer, into one byte string."""
    n = segments[0][0].shape[0]
    total = sum(s.shape[1] for s, _ in segments)
    out = np.empty((n, total), dtype=np.uint8)
    keep = np.empty((n, total), dtype=bool)
    at = 0
    for cells, lengths in segments:
        width = cells.shape[1]
        out[:, at : at + width] = cells
        keep[:, at : at + width] = np.arange(width) < lengths[:, None]
        at += width
    return out[keep].tobytes()


def _redis_client(store):
    from feast.infra.online_stores.redis import RedisOnlineStore, RedisType

    online = store.config.online_store
    if online.redis_type == RedisType.redis_cluster:
        raise FastPublishUnsupported("Redis cluster: keys spread over nodes; use store.materialize")
    provider_store = store._get_provider().online_store
    if not isinstance(provider_store, RedisOnlineStore):
        raise FastPublishUnsupported(f"online store {type(provider_store).__name__} is not Redis")
    return provider_store._get_client(online)  # Feast's own connection settings (db, password, ssl)


def write_redis(store, encoded: EncodedPartition, check_newer: bool = True, chunk: int = REDIS_CHUNK) -> dict:
    """HSET every customer's features of all views in one command per customer, pipelined in raw RESP.

    While Redis works through one chunk, the next one is assembled here (two
    processes, two cores). ``check_newer`` first reads the stored ``_ts:<view>``
    of every customer so that no later value is overwritten.
    """
    from feast import utils
    from feast.infra.online_stores.helpers import _mmh3
    from google.protobuf.timestamp_pb2 import Timestamp

    config = store.config
    client = _redis_client(store)
    project = config.project.encode("utf8")
    ttl = config.online_store.key_ttl_seconds

    def proto_ts(moment: datetime) -> bytes:  # what Feast's Redis store writes under _ts:<view>
        ts = Timestamp()
        ts.FromDatetime(utils.make_tzaware(moment))
        return ts.SerializeToString()

    ts_values, ts_index = _unique_map(encoded.event_ts, proto_ts)
    ts_nanos = np.array([_timestamp_nanos(v) for v in ts_values], dtype=np.int64)[ts_index]
    ts_cells, ts_lengths = _bulk_cells(*_pad(ts_values))
    views = [
        (view, [_bulk(_mmh3(f"{view.name}:{c.name}")) for c in view.columns], _bulk(f"_ts:{view.name}".encode()))
        for view in encoded.views
    ]

    def hset_stream(lo: int, hi: int, newer: np.ndarray | None) -> tuple[bytes, int]:
        n = hi - lo
        keys = [k + project for k in encoded.keys[lo:hi]]
        segments = []
        n_fields = np.zeros(n, dtype=np.int64)
        for v, (view, field_bulks, ts_field) in enumerate(views):
            write = np.ones(n, dtype=np.int64) if newer is None else (~newer[:, v]).astype(np.int64)
            n_fields += write * (len(view.columns) + 1)
            for column, field_bulk in zip(view.columns, field_bulks):
                f_cells, f_lengths = _constant(field_bulk, n)
                cells, lengths = _bulk_cells(column.cells[lo:hi], column.lengths[lo:hi])
                segments += [(f_cells, f_lengths * write), (cells, lengths * write)]
            t_cells, t_lengths = _constant(ts_field, n)
            rows = ts_index[lo:hi]
            segments += [(t_cells, t_lengths * write), (ts_cells[rows], ts_lengths[rows] * write)]
        active = (n_fields > 0).astype(np.int64)
        headers = [b"*%d\r\n$4\r\nHSET\r\n" % (2 + 2 * k) for k in range(int(n_fields.max(initial=0)) + 1)]
        h_cells, h_lengths = _pad(headers)
        key_cells, key_lengths = _bulk_cells(*_pad(keys))
        segments[:0] = [(h_cells[n_fields], h_lengths[n_fields] * active), (key_cells, key_lengths * active)]
        if ttl:
            e_cells, e_lengths = _pad([b"*3\r\n$6\r\nEXPIRE\r\n" + _bulk(k) + _bulk(b"%d" % ttl) for k in keys])
            segments.append((e_cells, e_lengths * active))
        return _stream(segments), int(active.sum()) * (2 if ttl else 1)

    ts_fields = [ts_field for _, _, ts_field in views]
    connection = client.connection_pool.get_connection()
    stale = commands = pending = 0
    try:
        for lo in range(0, encoded.customers, chunk):
            hi = min(lo + chunk, encoded.customers)
            newer = None
            if check_newer:
                _read_replies(connection, pending)
                pending = 0
                keys = [k + project for k in encoded.keys[lo:hi]]
                newer = _stored_is_newer(connection, keys, ts_fields, ts_nanos[lo:hi])
                stale += int(newer.sum())
            payload, count = hset_stream(lo, hi, newer)
            _read_replies(connection, pending)  # Redis wrote the previous chunk while this one was built
            if count:
                connection.send_packed_command([payload], check_health=False)
            pending, commands = count, commands + count
        _read_replies(connection, pending)
    except BaseException:
        connection.disconnect()  # unread replies must never reach the next user of the connection
        raise
    finally:
        client.connection_pool.release(connection)
    return {"stale_skipped": stale, "redis_commands": commands, "checked_stored_times": check_newer}


def _timestamp_nanos(serialised: bytes) -> int:
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.ParseFromString(serialised)
    return ts.seconds * 1_000_000_000 + ts.nanos


def _read_replies(connection, count: int) -> None:
    import redis

    errors = []
    for _ in range(count):
        reply = connection.read_response(disable_decoding=True)
        if isinstance(reply, redis.ResponseError):
            errors.append(reply)
    if errors:
        raise errors[0]


def _stored_is_newer(connection, keys: list[bytes], ts_fields: list[bytes], new_nanos: np.ndarray) -> np.ndarray:
    """(customers, views) booleans: True where Redis already holds a later event time for that view."""
    header = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(ts_fields))
    fields = b"".join(ts_fields)
    connection.send_packed_command([b"".join(header + _bulk(k) + fields for k in keys)], check_health=False)
    newer = np.zeros((len(keys), len(ts_fields)), dtype=bool)
    parsed: dict[bytes, int] = {}
    for row in range(len(keys)):
        stored = connection.read_response(disable_decoding=True)
        for v, value in enumerate(stored):
            if value is None:
                continue
            nanos = parsed.get(value)
            if nanos is None:
                nanos = parsed[value] = _timestamp_nanos(value)
            newer[row, v] = nanos > new_nanos[row]
    return newer


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def read_partition(paths: Path | Sequence[Path], columns: Sequence[str] | None = None) -> pa.Table:
    """The exported Parquet file(s) of one feature date as one Arrow table."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    tables = [pq.read_table(p, columns=list(columns) if columns else None) for p in paths]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")


def publish_partition(
    store,
    partition: pa.Table | Path | Sequence[Path],
    start: datetime,
    end: datetime,
    feature_views: Iterable[str] | None = None,
    record: bool = True,
    check_newer: bool | None = None,
) -> PublishResult:
    """Write the partition's rows with event time in [start, end] to the online store in Feast's format.

    ``record`` appends (start, end) to every published view's materialisation
    intervals in the registry, as ``store.materialize`` does, so ``feast``
    tooling sees what the online store holds.

    No stored value with a later event time is overwritten. SQLite checks that
    row by row for free; Redis needs a read of every customer's stored times,
    done when ``check_newer`` is true or, by default, when the registry shows
    a materialised window ending after ``end`` (a rerun of an older day, a
    backfill over published days). Writers that bypass the registry (``push``)
    are not used by this platform.
    """
    store_type = store.config.online_store.type
    if store_type not in ("sqlite", "redis"):
        raise FastPublishUnsupported(f"online store type {store_type!r} has no fast writer")
    clock = time.perf_counter()
    if not isinstance(partition, pa.Table):
        views = _online_views(store, feature_views)
        join_key, ts_field, _ = _source_layout(views)
        wanted = [join_key, ts_field] + sorted({f.name for v in views for f in v.features})
        partition = read_partition(partition, wanted)
    encoded = encode_partition(store, partition, start, end, feature_views)
    encoded_at = time.perf_counter()
    if encoded.customers:
        if store_type == "sqlite":
            written = write_sqlite(store, encoded)
        else:
            if check_newer is None:
                check_newer = later_window_published(store, [v.view for v in encoded.views], end)
            written = write_redis(store, encoded, check_newer=check_newer)
    else:
        written = {"stale_skipped": 0}
    if record:
        record_materialization(store, [v.view for v in encoded.views], start, end)
    done = time.perf_counter()
    return PublishResult(
        store=store_type,
        customers=encoded.customers,
        values=encoded.values,
        feature_views=[v.view.name for v in encoded.views],
        seconds_encode=encoded_at - clock,
        seconds_write=done - encoded_at,
        stale_skipped=written.pop("stale_skipped"),
        details={
            "rows_read": encoded.rows_read,
            "rows_outside_window": encoded.rows_outside_window,
            "duplicates_dropped": encoded.duplicates_dropped,
            **written,
        },
    )


def later_window_published(store, views: list, end: datetime) -> bool:
    """True when the registry records a materialised window of one of the views ending after ``end``."""
    from feast import utils

    end = utils.make_tzaware(end)
    names = {v.name for v in views}
    for view in store.registry.list_feature_views(store.project, allow_cache=False):
        if view.name in names and any(utils.make_tzaware(e) > end for _, e in view.materialization_intervals):
            return True
    return False


def record_materialization(store, views: list, start: datetime, end: datetime) -> None:
    """Append the interval to each view's materialisation history, as ``store.materialize`` does."""
    from feast import utils

    start, end = utils.make_tzaware(start), utils.make_tzaware(end)
    for view in views:
        store.registry.apply_materialization(view, store.project, start, end)
    names = {v.name for v in views}
    for service in store.list_feature_services():
        if getattr(service, "precompute_online", False) and names & {p.name for p in service.feature_view_projections}:
            store.precompute_feature_service(service.name)
