"""The production online store, Redis, for real (127.0.0.1:6379), under a project of its own per run.

The registry is a file here (the SQL registry of the prod profile is exercised
by the last test, on the PostgreSQL server). Every test's keys are deleted
afterwards and the deletion is checked.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from bankmkt import features

pytestmark = pytest.mark.needs_redis


def _client_and_keys(settings, customers) -> tuple:
    """Feast's Redis client and the keys of these customers under the settings' project."""
    from feast.value_type import ValueType

    from bankmkt.feast_plugin import redis_client, serialize_entity_keys

    store = features.feature_store(settings)
    keys = serialize_entity_keys("customer_id", customers, ValueType.STRING, 3)
    return redis_client(store.config), [key + store.project.encode() for key in keys]


def _hashes(settings, customers) -> dict[str, dict]:
    """Each customer's hash as stored (the keys are the customers' ids)."""
    client, keys = _client_and_keys(settings, customers)
    return {customer: client.hgetall(key) for customer, key in zip(customers, keys)}


@pytest.fixture(scope="module")
def redis_profile(redis_server, tmp_path_factory, days):
    """The prod profile's Redis online store with a file registry, on two exported days."""
    folder = tmp_path_factory.mktemp("redis-store")
    with days.isolated_environment(folder, platform_env="prod", REDIS_URL=redis_server) as settings:
        days.write_partition(settings, days.partition(days.DAY_BEFORE), days.DAY_BEFORE)
        days.write_partition(settings, days.partition(days.RUN_DAY), days.RUN_DAY)
        yield settings


@pytest.fixture
def project(redis_profile, days, tmp_path):
    settings = features.settings_for_project(days.unique_project("redis"), tmp_path, redis_profile, file_registry=True)
    days.quiet_apply(settings)
    yield settings
    features.remove_project(settings)
    client, keys = _client_and_keys(settings, days.CUSTOMERS)
    assert client.exists(*keys) == 0, "the test's keys must be gone"


def test_sdk_reads_the_parquet_values_written_by_the_fast_writer(project, days):
    result = features.materialize_day(days.RUN_DAY, project)

    served = days.feature_frame(features.online_features(days.CUSTOMERS + ["C9999999"], project))
    exported = days.feature_frame(pd.read_parquet(project.feature_export_file(days.RUN_DAY)))

    assert result["method"] == "fast" and result["online_store"] == "redis"
    pd.testing.assert_frame_equal(served.drop(index="C9999999"), exported)
    assert served.loc["C9999999"].isna().all()


def test_online_values_equal_offline_values(project, days):
    features.materialize_day(days.DAY_BEFORE, project)
    features.materialize_day(days.RUN_DAY, project)

    store = features.feature_store(project)
    moment = pd.Timestamp(days.known_at(days.RUN_DAY) + timedelta(hours=9))
    offline = store.get_historical_features(
        entity_df=pd.DataFrame({"customer_id": days.CUSTOMERS, "event_timestamp": moment}),
        features=store.get_feature_service(features.FEATURE_SERVICE),
    ).to_df()
    online = features.online_features(days.CUSTOMERS, project)

    pd.testing.assert_frame_equal(
        days.feature_frame(online), days.feature_frame(offline.drop(columns="event_timestamp"))
    )


def test_fast_writer_hashes_are_the_hashes_feast_writes(redis_profile, days, tmp_path):
    written = {}
    for method in ("fast", "plain"):
        settings = features.settings_for_project(
            days.unique_project(method), tmp_path, redis_profile, file_registry=True
        )
        days.quiet_apply(settings)
        try:
            features.materialize_day(days.RUN_DAY, settings, method=method)
            written[method] = _hashes(settings, days.CUSTOMERS)
        finally:
            features.remove_project(settings)

    for fields in written["fast"].values():  # every feature, the segments, and one _ts:<view> per view (seven)
        assert sum(name.startswith(b"_ts:") for name in fields) == 7
        assert len(fields) == len(features.feature_columns()) + len(features.SEGMENT_COLUMNS) + 7
    assert written["fast"] == written["plain"]  # same keys, fields and bytes


def test_rerun_is_idempotent_and_an_older_day_never_replaces_newer_values(project, days):
    features.materialize_day(days.RUN_DAY, project)
    before = _hashes(project, days.CUSTOMERS)

    again = features.materialize_day(days.RUN_DAY, project)
    older = features.materialize_day(days.DAY_BEFORE, project)  # the registry shows a later window: checked

    assert _hashes(project, days.CUSTOMERS) == before
    assert again["stale_skipped"] == 0
    assert older["checked_stored_times"] is True
    assert older["stale_skipped"] == len(days.CUSTOMERS) * 7  # every view of every customer kept


@pytest.mark.parametrize("reader", ["direct", "sdk"])
def test_served_features_equal_the_sdk_values(project, days, reader):
    from fastapi.testclient import TestClient

    from bankmkt.serving import FeatureServer, create_app

    features.materialize_day(days.RUN_DAY, project)
    with TestClient(create_app(FeatureServer(project, reader=reader))) as client:
        batch = client.post("/features", json={"customer_ids": days.CUSTOMERS + ["C9999999"]}).json()

    served = pd.DataFrame([{"customer_id": c["customer_id"], **c["features"]} for c in batch["customers"]])
    expected = features.online_features(days.CUSTOMERS + ["C9999999"], project)
    pd.testing.assert_frame_equal(days.feature_frame(served), days.feature_frame(expected))
    assert batch["customers"][-1]["found"] is False
    assert set(batch["customers"][0]["event_timestamps"].values()) == {"2024-03-06T00:00:00Z"}


@pytest.mark.needs_postgres
def test_prod_profile_with_the_sql_registry(redis_server, postgres_server, tmp_path, days):
    """PLATFORM_ENV=prod as deployed: SQL registry on PostgreSQL, Redis online store."""
    with days.isolated_environment(
        tmp_path,
        platform_env="prod",
        REDIS_URL=redis_server,
        POSTGRES_URL=postgres_server,
        FEAST_DATABASE=postgres_server.rsplit("/", 1)[1],
    ) as prod:
        days.write_partition(prod, days.partition(days.RUN_DAY), days.RUN_DAY)
        settings = features.settings_for_project(days.unique_project("prod"), tmp_path, prod)
        days.quiet_apply(settings)
        try:
            result = features.materialize_day(days.RUN_DAY, settings)
            served = days.feature_frame(features.online_features(days.CUSTOMERS, settings))
            intervals = {
                v.name: v.materialization_intervals for v in features.feature_store(settings).list_feature_views()
            }
        finally:
            features.remove_project(settings)

    assert result["method"] == "fast"
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))
    assert all(len(spans) == 1 for spans in intervals.values()) and len(intervals) == 7
