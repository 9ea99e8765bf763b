"""Every private Feast name the plugin relies on, in one place, under names of its own.

Feast's storage format (table names, quoting, the SQLite connection it opens, the Redis field
hash and key prefix, its Redis client settings) and the DuckDB offline store's readers are not
public API. The rest of the plugin uses them only through this module, so a Feast upgrade is
checked here: :data:`bankmkt.feast_plugin.SUPPORTED_FEAST` lists the versions these were read
against, and tests/features compares what the plugin writes and reads with Feast's plain stores.
"""

from __future__ import annotations

from pathlib import Path

from feast.infra.offline_stores.duckdb import _read_data_source, _write_data_source
from feast.infra.offline_stores.ibis import _get_entity_df_event_timestamp_range, _to_utc
from feast.infra.online_stores.helpers import _mmh3, _redis_key_prefix
from feast.infra.online_stores.sqlite import SqliteOnlineStore, _initialize_conn, _quote_id, _table_id

# SQLite: the quoted table of a view, Feast's connection to the store file, the file itself.
quote_id = _quote_id
initialize_connection = _initialize_conn


def sqlite_table(project: str, view, versioning: bool) -> str:
    """The quoted name of a view's table in Feast's SQLite store."""
    return _quote_id(_table_id(project, view, versioning))


def sqlite_table_name(project: str, view, versioning: bool) -> str:
    return _table_id(project, view, versioning)


def sqlite_path(config) -> Path:
    return Path(SqliteOnlineStore._get_db_path(config))


# Redis: the hashed field of a feature, the key prefix of an entity's hashes, Feast's client.
field_hash = _mmh3
redis_key_prefix = _redis_key_prefix


def redis_client(store, online_config):
    """The client Feast's Redis store opens for this configuration (database, password, TLS)."""
    return store._get_client(online_config)


# DuckDB offline store: reading and writing a source, the entity rows' time range and time zone.
read_data_source = _read_data_source
write_data_source = _write_data_source
entity_time_range = _get_entity_df_event_timestamp_range
entity_times_in_utc = _to_utc
