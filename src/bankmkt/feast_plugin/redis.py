"""The Redis online store, written in bulk and read directly, in Feast's own storage format.

Feast's Redis store keeps one hash per entity: key = serialised entity key +
project, fields = ``mmh3("<view>:<feature>")`` and ``_ts:<view>``. The HSET
commands of many customers are assembled as one RESP byte stream with numpy
and sent through the connection Feast's own store opens (its connection
settings: database, password, TLS). A stored value with a later event time
is never overwritten (checked when the registry shows a later window).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import numpy as np
import redis
from feast import utils
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig, RedisType
from google.protobuf.timestamp_pb2 import Timestamp

from bankmkt.feast_plugin.encoding import (
    EncodedPartition,
    FastPublishUnsupported,
    online_name,
    pad,
    unique_map,
)
from bankmkt.feast_plugin.feast_internals import field_hash, redis_key_prefix
from bankmkt.feast_plugin.feast_internals import redis_client as feast_redis_client

REDIS_CHUNK = 20_000  # customers per round trip
TYPE = "bankmkt.feast_plugin.FastRedisOnlineStore"


class FastRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """Feast's Redis store configuration (same fields), selected by
    ``type: bankmkt.feast_plugin.FastRedisOnlineStore``."""

    type: Literal["bankmkt.feast_plugin.FastRedisOnlineStore"] = TYPE


class FastRedisOnlineStore(RedisOnlineStore):
    """Feast's Redis online store, plus a bulk writer for :class:`bankmkt.feast_plugin.FastComputeEngine`.

    Reads, pushes and single writes are Feast's own; a store written here
    reads back through ``type: redis``.
    """

    def client(self, config):
        """The client Feast's store uses (its connection settings)."""
        return feast_redis_client(self, config.online_store)

    def write_encoded(self, config, encoded: EncodedPartition, check_newer: bool, advance=None) -> dict:
        if config.online_store.redis_type == RedisType.redis_cluster:
            raise FastPublishUnsupported("Redis cluster: keys spread over nodes")
        return write_redis(self.client(config), config, encoded, check_newer=check_newer, advance=advance)

    def drop_project(self, config, views) -> None:
        """Delete the project's hashes (Feast's teardown scans 10 keys per round trip; a shared Redis holds
        millions)."""
        client = self.client(config)
        for join_keys in {tuple(view.join_keys) for view in views}:
            pattern = redis_key_prefix(list(join_keys)) + b"*" + config.project.encode()
            batch = []
            for key in client.scan_iter(match=pattern, count=10_000):
                batch.append(key)
                if len(batch) == 10_000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)


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


def write_redis(
    client, config, encoded: EncodedPartition, check_newer: bool = True, chunk: int = REDIS_CHUNK, advance=None
) -> dict:
    """HSET every customer's features of all views in one command per customer, pipelined in raw RESP.

    While Redis works through one chunk, the next one is assembled here (two
    processes, two cores). ``check_newer`` first reads the stored ``_ts:<view>``
    of every customer so that no later value is overwritten.
    """
    project = config.project.encode("utf8")
    ttl = config.online_store.key_ttl_seconds

    def proto_ts(moment: datetime) -> bytes:  # what Feast's Redis store writes under _ts:<view>
        ts = Timestamp()
        ts.FromDatetime(utils.make_tzaware(moment))
        return ts.SerializeToString()

    ts_values, ts_index = unique_map(encoded.event_ts, proto_ts)
    ts_nanos = np.array([_timestamp_nanos(v) for v in ts_values], dtype=np.int64)[ts_index]
    ts_cells, ts_lengths = _bulk_cells(*pad(ts_values))
    views = [
        (view, [_bulk(field_hash(f"{view.name}:{c.name}")) for c in view.columns], _bulk(f"_ts:{view.name}".encode()))
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
        h_cells, h_lengths = pad(headers)
        key_cells, key_lengths = _bulk_cells(*pad(keys))
        segments[:0] = [(h_cells[n_fields], h_lengths[n_fields] * active), (key_cells, key_lengths * active)]
        if ttl:
            e_cells, e_lengths = pad([b"*3\r\n$6\r\nEXPIRE\r\n" + _bulk(k) + _bulk(b"%d" % ttl) for k in keys])
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
            if advance:
                advance((hi - lo) * sum(len(v.columns) for v in encoded.views))
        _read_replies(connection, pending)
    except BaseException:
        connection.disconnect()  # unread replies must never reach the next user of the connection
        raise
    finally:
        client.connection_pool.release(connection)
    return {"stale_skipped": stale, "redis_commands": commands, "checked_stored_times": check_newer}


def _timestamp_nanos(serialised: bytes) -> int:
    ts = Timestamp()
    ts.ParseFromString(serialised)
    return ts.seconds * 1_000_000_000 + ts.nanos


def _read_replies(connection, count: int) -> None:
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


class RedisReader:
    """Reads served views for a few entity keys: one HMGET per customer (all views share its hash).

    ``views``: (feature view, feature names) pairs. ``read`` returns per key and
    view the event time (ISO, UTC) and the stored ValueProto bytes by feature,
    or (None, {}) where the store holds nothing for that view (as in Feast, a
    view without its ``_ts`` field is not found).
    """

    def __init__(self, config, views: list[tuple[object, tuple[str, ...]]]):
        self._redis = FastRedisOnlineStore().client(config)
        self._project = config.project.encode("utf8")
        self._slots = [(v, name) for v, (_, names) in enumerate(views) for name in names]
        names = [online_name(config, view) for view, _ in views]
        self._fields = [field_hash(f"{names[v]}:{name}") for v, name in self._slots]
        self._fields += [f"_ts:{name}".encode() for name in names]
        self._views = len(views)

    def read(self, keys: list[bytes]) -> list[list[tuple[str | None, dict[str, bytes]]]]:
        redis_keys = [k + self._project for k in keys]
        if len(redis_keys) == 1:
            replies = [self._redis.hmget(redis_keys[0], self._fields)]
        else:
            pipe = self._redis.pipeline(transaction=False)
            for key in redis_keys:
                pipe.hmget(key, self._fields)
            replies = pipe.execute()
        n_features = len(self._slots)
        out = []
        for reply in replies:
            stamps = reply[n_features:]
            views = [(_event_time(stamp) if stamp else None, {}) for stamp in stamps]
            for raw, (v, name) in zip(reply, self._slots):
                if stamps[v]:
                    views[v][1][name] = raw
            out.append(views)
        return out


def _event_time(stored: bytes, _cache: dict = {}) -> str:  # noqa: B006 - a deliberate memo
    """ISO time of a ``_ts:<view>`` Timestamp proto written by Feast's Redis store."""
    text = _cache.get(stored)
    if text is None:
        ts = Timestamp()
        ts.ParseFromString(stored)
        moment = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=UTC)
        text = moment.isoformat().replace("+00:00", "Z")
        if len(_cache) < 10_000:
            _cache[stored] = text
    return text
