"""The platform's Feast plugin: fast materialisation and direct reads behind Feast's extension points.

Named in ``feature_repo/feature_store*.yaml``::

    online_store:
      type: bankmkt.feast_plugin.FastSqliteOnlineStore   # or FastRedisOnlineStore (prod)
      path: ...
    batch_engine:
      type: bankmkt.feast_plugin.FastComputeEngine
    offline_store:
      type: bankmkt.feast_plugin.FastDuckDBOfflineStore

so that ``feast materialize``, ``feast materialize-incremental``,
``FeatureStore.materialize``, ``get_online_features`` and ``feast serve`` go
through Feast's own code paths and get the speed. The stores are Feast's
SQLite and Redis stores (same tables, keys and bytes: a store written here
reads back through ``type: sqlite`` / ``type: redis``), extended by a bulk
writer; the engine is Feast's local engine, extended by a one-pass
materialisation; the offline store is Feast's DuckDB store, with point-in-time
training sets computed by an ASOF join over only the rows they can use
(:mod:`bankmkt.feast_plugin.offline`). Readers for the feature service (:mod:`bankmkt.serving`) are
here too, because they read Feast's storage format.

One module of this package, :mod:`bankmkt.feast_plugin.feast_internals`, is the only
place in the project that uses Feast's private names (its storage format's helpers,
the Redis client settings, the DuckDB store's readers). They are checked against the
Feast versions in :data:`SUPPORTED_FEAST`; importing the plugin under another
version fails with what to do, and tests/features/test_feast_plugin.py compares
what the plugin writes with what Feast's plain stores write.
"""

from __future__ import annotations

import feast

SUPPORTED_FEAST = ("0.67",)  # minor versions whose storage format and private names the plugin was checked against


class UnsupportedFeastVersion(ImportError):
    """The installed Feast is not one the plugin was checked against."""


def _check_feast_version(version: str = feast.__version__) -> None:
    minor = ".".join(version.split(".")[:2])
    if minor not in SUPPORTED_FEAST:
        raise UnsupportedFeastVersion(
            f"bankmkt.feast_plugin writes Feast's storage format and was checked against Feast "
            f"{', '.join(v + '.x' for v in SUPPORTED_FEAST)}; Feast {version} is installed. Either select Feast's "
            "plain stores in feature_repo/feature_store*.yaml (online_store type: sqlite or redis, no "
            "batch_engine) or run tests/features against the new version and add it to SUPPORTED_FEAST."
        )


_check_feast_version()

from bankmkt.feast_plugin.encoding import FastPublishUnsupported, serialize_entity_keys  # noqa: E402
from bankmkt.feast_plugin.engine import (  # noqa: E402
    FastComputeEngine,
    FastComputeEngineConfig,
    publication_report,
)
from bankmkt.feast_plugin.offline import (  # noqa: E402
    FastDuckDBOfflineStore,
    FastDuckDBOfflineStoreConfig,
)
from bankmkt.feast_plugin.redis import (  # noqa: E402
    FastRedisOnlineStore,
    FastRedisOnlineStoreConfig,
    RedisReader,
)
from bankmkt.feast_plugin.sqlite import (  # noqa: E402
    FastSqliteOnlineStore,
    FastSqliteOnlineStoreConfig,
    SqliteReader,
)

PLAIN_TYPES = {
    "bankmkt.feast_plugin.FastSqliteOnlineStore": "sqlite",
    "bankmkt.feast_plugin.FastRedisOnlineStore": "redis",
    "bankmkt.feast_plugin.FastDuckDBOfflineStore": "duckdb",
}


def storage_kind(config) -> str | None:
    """``sqlite`` or ``redis`` when the store keeps Feast's SQLite or Redis format (plugin or plain), else None."""
    from feast.infra.online_stores.redis import RedisOnlineStoreConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStoreConfig

    online = config.online_store
    if isinstance(online, SqliteOnlineStoreConfig):
        return "sqlite"
    if isinstance(online, RedisOnlineStoreConfig):
        return "redis"
    return None


def storage_reader(config, views: list[tuple[object, tuple[str, ...]]]):
    """A reader of the served views' stored bytes: ``read(entity keys)`` -> per key, per view
    (event time ISO or None, {feature: ValueProto bytes})."""
    kind = storage_kind(config)
    if kind == "sqlite":
        return SqliteReader(config, views)
    if kind == "redis":
        return RedisReader(config, views)
    raise FastPublishUnsupported(f"no direct reader for online store {config.online_store.type}")


def drop_project(config, views) -> None:
    """Delete one project's online data (its SQLite tables or Redis hashes); other projects stay."""
    kind = storage_kind(config)
    store = FastSqliteOnlineStore() if kind == "sqlite" else FastRedisOnlineStore() if kind == "redis" else None
    if store is None:
        raise FastPublishUnsupported(f"cannot drop a project from online store {config.online_store.type}")
    store.drop_project(config, views)


def redis_client(config):
    """The Redis client of Feast's store for this configuration (its connection settings)."""
    return FastRedisOnlineStore().client(config)


def plain_config(config_dict: dict) -> dict:
    """A ``feature_store.yaml`` as a dict, with Feast's plain stores and local engine instead of the plugin's
    (the reference the plugin is compared with)."""
    plain = dict(config_dict)
    for store in ("online_store", "offline_store"):
        section = dict(plain.get(store) or {})
        section["type"] = PLAIN_TYPES.get(section.get("type"), section.get("type"))
        plain[store] = section
    plain.pop("batch_engine", None)
    plain.pop("batch_engine_config", None)
    return plain


__all__ = [
    "SUPPORTED_FEAST",
    "FastComputeEngine",
    "FastComputeEngineConfig",
    "FastDuckDBOfflineStore",
    "FastDuckDBOfflineStoreConfig",
    "FastPublishUnsupported",
    "FastRedisOnlineStore",
    "FastRedisOnlineStoreConfig",
    "FastSqliteOnlineStore",
    "FastSqliteOnlineStoreConfig",
    "UnsupportedFeastVersion",
    "drop_project",
    "plain_config",
    "publication_report",
    "redis_client",
    "serialize_entity_keys",
    "storage_kind",
    "storage_reader",
]
