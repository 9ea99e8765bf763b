"""Point-in-time correctness: training rows never see the future, serving sees what training sees."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from bankmkt import features


def _labels(settings, contacts: list[tuple[str, str, pd.Timestamp]]) -> None:
    """A warehouse with only the training_labels mart: the contacts of this test."""
    frame = pd.DataFrame(contacts, columns=["contact_id", "customer_id", "event_timestamp"])
    frame["campaign_id"], frame["product_code"], frame["is_control"], frame["label"] = "cmp1", "credit_card", False, 0
    # The contact's own features (dbt's training_labels carries them; Feast passes them through).
    frame["contact_attempt_number"], frame["contact_previous_campaign_contacts"] = 1, 0
    frame["contact_days_since_previous_campaign"], frame["contact_previous_outcome"] = None, 0
    frame["contact_month"] = frame["event_timestamp"].dt.month
    frame["event_timestamp"] = frame["event_timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create or replace table training_labels as select * from frame")


def _expected(days, contact_at: pd.Timestamp, customer_id: str, views) -> dict[str, float]:
    """The values Feast must join: per view, the latest day known at the contact and within the view's TTL."""
    expected = {}
    for view in views:
        day = None
        for candidate in (days.DAY_BEFORE, days.RUN_DAY):
            age = contact_at - pd.Timestamp(days.known_at(candidate))
            if age >= timedelta(0) and age <= view.ttl:
                day = candidate
        row = days.feature_frame(days.partition(day)).loc[customer_id] if day else None
        for feature in view.features:
            expected[feature.name] = np.nan if row is None else row[feature.name]
    return expected


def test_training_rows_use_only_values_known_before_the_contact(local_store, days):
    changes_at = pd.Timestamp(days.known_at(days.RUN_DAY))  # RUN_DAY's values replace DAY_BEFORE's at this instant
    contacts = [
        ("just_before_change", "C0000001", changes_at - pd.Timedelta(microseconds=1)),
        ("at_change", "C0000001", changes_at),
        ("half_a_day_before_change", "C0000004", changes_at - pd.Timedelta(hours=12)),
        (
            "before_anything_known",
            "C0000002",
            pd.Timestamp(days.known_at(days.DAY_BEFORE)) - pd.Timedelta(microseconds=1),
        ),
        ("five_days_after", "C0000003", changes_at + pd.Timedelta(days=5)),  # beyond the 3-day TTLs
    ]
    _labels(local_store, contacts)

    frame = features.training_set(days.RUN_DAY, local_store).set_index("contact_id")

    store = features.feature_store(local_store)
    modelled = {p.name for p in store.get_feature_service(features.FEATURE_SERVICE).feature_view_projections}
    views = [view for view in store.list_feature_views() if view.name in modelled]
    for contact_id, customer_id, contact_at in contacts:
        expected = _expected(days, contact_at, customer_id, views)
        served = frame.loc[contact_id, list(expected)].astype("float64")
        pd.testing.assert_series_equal(
            served, pd.Series(expected, name=contact_id, dtype="float64"), check_names=False, obj=contact_id
        )
    # The sharpest case spelled out: one microsecond before the change, the old value.
    before, after = (days.feature_frame(days.partition(d)).loc["C0000001"] for d in (days.DAY_BEFORE, days.RUN_DAY))
    assert frame.loc["just_before_change", "balance_total"] == before["balance_total"]
    assert frame.loc["at_change", "balance_total"] == after["balance_total"]
    # The life-cycle stage joined as `segment` (per-segment metrics) follows the same rule.
    stage = {d: days.partition(d).set_index("customer_id")["lifecycle_stage"] for d in (days.DAY_BEFORE, days.RUN_DAY)}
    assert frame.loc["just_before_change", "segment"] == stage[days.DAY_BEFORE]["C0000001"]
    assert frame.loc["at_change", "segment"] == stage[days.RUN_DAY]["C0000001"]


def _offline_at(days, settings, moment) -> pd.DataFrame:
    store = features.feature_store(settings)
    entity_df = pd.DataFrame({"customer_id": days.CUSTOMERS, "event_timestamp": pd.Timestamp(moment)})
    frame = store.get_historical_features(
        entity_df=entity_df, features=store.get_feature_service(features.FEATURE_SERVICE)
    ).to_df()
    return days.feature_frame(frame.drop(columns="event_timestamp"))


@pytest.fixture(scope="module")
def published(local_store, days, tmp_path_factory):
    """Both days published by the pipeline's path (the fast writer) into a project of their own."""
    settings = features.settings_for_project("pit_fast", tmp_path_factory.mktemp("pit"), local_store)
    days.quiet_apply(settings)
    features.materialize_day(days.DAY_BEFORE, settings)
    features.materialize_day(days.RUN_DAY, settings)
    return settings


@pytest.fixture(scope="module")
def offline(days, published):
    """Offline values at a morning scoring call after the run day's values became known."""
    return _offline_at(days, published, days.known_at(days.RUN_DAY) + timedelta(hours=9))


def test_online_values_equal_offline_values_after_materialisation(published, offline, days):
    online = days.feature_frame(features.online_features(days.CUSTOMERS, published))

    pd.testing.assert_frame_equal(online, offline)
    pd.testing.assert_frame_equal(online, days.feature_frame(days.partition(days.RUN_DAY)))


def test_online_values_equal_offline_values_after_plain_materialisation(local_store, offline, days, tmp_path):
    settings = features.settings_for_project("pit_plain", tmp_path, local_store)
    days.quiet_apply(settings)
    features.materialize_day(days.DAY_BEFORE, settings, method="plain")
    features.materialize_day(days.RUN_DAY, settings, method="plain")

    pd.testing.assert_frame_equal(days.feature_frame(features.online_features(days.CUSTOMERS, settings)), offline)


@pytest.mark.parametrize("reader", ["direct", "sdk"])
def test_served_features_equal_offline_values(published, offline, days, reader):
    from fastapi.testclient import TestClient

    from bankmkt.serving import FeatureServer, create_app

    with TestClient(create_app(FeatureServer(published, reader=reader))) as client:
        batch = client.post("/features", json={"customer_ids": days.CUSTOMERS + ["C9999999"]}).json()
        one = client.get("/customers/C0000002/features").json()
        missing = client.get("/customers/C9999999/features")
        too_many = client.post("/features", json={"customer_ids": ["C0000001"] * 101})

    served = pd.DataFrame([{"customer_id": c["customer_id"], **c["features"]} for c in batch["customers"][:-1]])
    pd.testing.assert_frame_equal(days.feature_frame(served), offline)
    assert batch["customers"][-1]["found"] is False
    assert set(batch["customers"][0]["event_timestamps"].values()) == {"2024-03-06T00:00:00Z"}
    assert one["features"]["last_nps"] is None and one["found"] is True
    assert missing.status_code == 404
    assert too_many.status_code == 422
