"""Feast's online storage format, computed for whole columns at once.

``store.materialize`` turns every row into Python protobuf objects one by one.
These encoders serialise whole Arrow columns with numpy into exactly the bytes
Feast writes (``ValueProto`` values, serialised entity keys), and check every
column against Feast's own serialiser (``python_values_to_proto_values``,
``serialize_entity_key``) on a sample before anything is written. Public Feast
functions only; the stores that write these bytes are in
:mod:`bankmkt.feast_plugin.sqlite` and :mod:`bankmkt.feast_plugin.redis`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SAMPLE = 64  # values per column checked against Feast's own serialiser


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


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def _feast_bytes(values: Sequence, value_type) -> list[bytes]:
    """Feast's own serialisation of a few Python values (the reference the encoders are held to)."""
    from feast.type_map import python_values_to_proto_values

    return [proto.SerializeToString() for proto in python_values_to_proto_values(list(values), value_type)]


def pad(serialised: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
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
    table, table_lengths = pad(serialised)
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


def source_layout(views: list) -> tuple[str, str, object]:
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
    config,
    views: list,
    partition: pa.Table,
    start: datetime,
    end: datetime,
) -> EncodedPartition:
    """Serialise the rows of ``partition`` whose event time is in [start, end] (Feast's window).

    As ``store.materialize`` does, only the latest row per customer in the window is kept.
    """
    join_key, ts_field, key_type = source_layout(views)
    version = config.entity_key_serialization_version

    rows_read = partition.num_rows
    ts = partition.column(ts_field)
    if pa.types.is_timestamp(ts.type) and ts.type.tz is not None:
        ts = pc.cast(ts, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    ts = ts.cast(pa.timestamp("us"))
    lo = pa.scalar(naive_utc(start), pa.timestamp("us"))
    hi = pa.scalar(naive_utc(end), pa.timestamp("us"))
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
        encoded_views.append(EncodedView(name=online_name(config, view), view=view, columns=columns))
    return EncodedPartition(
        keys=sorted_keys,
        event_ts=partition.column(ts_field).to_numpy(zero_copy_only=False).astype("datetime64[us]"),
        views=encoded_views,
        rows_read=rows_read,
        rows_outside_window=outside,
        duplicates_dropped=int((~keep).sum()),
    )


def naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def online_name(config, view) -> str:
    """The name Feast's online store uses for a view (versioned when versioning is on)."""
    from feast.infra.online_stores.helpers import compute_versioned_name

    return compute_versioned_name(view, config.registry.enable_online_feature_view_versioning)


def unique_map(event_ts: np.ndarray, convert) -> tuple[list, np.ndarray]:
    """Apply ``convert`` once per distinct timestamp; returns the converted values and the row index."""
    distinct, inverse = np.unique(event_ts.astype("datetime64[us]"), return_inverse=True)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    moments = [epoch + timedelta(microseconds=int(v)) for v in distinct.astype(np.int64)]
    return [convert(m) for m in moments], inverse


def decimal_digits(numbers: np.ndarray, width: int) -> bytes:
    """Non-negative integers as fixed-width ASCII decimals (SQLite reads them with CAST(substr(...)))."""
    numbers = np.asarray(numbers, dtype=np.int64).ravel()
    if width > 18 or (numbers.size and (numbers.min() < 0 or numbers.max() >= 10**width)):
        raise FastPublishUnsupported(f"values outside 0 .. 10^{width} (e.g. event times before 1970)")
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers) % 10 + ord("0")
    return digits.astype(np.uint8).tobytes()
