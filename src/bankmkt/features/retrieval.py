"""Reading features back: point-in-time training sets, the scoring frame, online values."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from bankmkt.features.common import CHURN_FEATURE_SERVICE, ENTITY_KEY, FEATURE_SERVICE, FeaturePublicationError
from bankmkt.features.repo import feature_store
from bankmkt.settings import Settings, get_settings
from bankmkt.warehouse import read_only_connection


def training_set(
    run_date: date, settings: Settings | None = None, service: str = FEATURE_SERVICE, since=None
) -> pd.DataFrame:
    """Point-in-time training set: every labelled contact joined to the features known at contact time.

    ``since`` (a timestamp) keeps only the contacts made after it: the outcomes that
    matured since a model's training data, for monitoring.
    """
    settings = settings or get_settings()
    with read_only_connection(settings, snapshot=True) as con:
        labels = con.execute(
            """
            select contact_id, campaign_id, customer_id, product_code, is_control,
                   event_timestamp, label, contact_attempt_number, contact_previous_campaign_contacts,
                   contact_days_since_previous_campaign, contact_previous_outcome, contact_month
            from training_labels where $since is null or event_timestamp > $since
            order by event_timestamp, contact_id
            """,
            {"since": _naive_utc(since)},
        ).df()
    return _point_in_time(labels, settings, service, "contact_id")


def _naive_utc(moment):
    """A timestamp as naive UTC (how the warehouse stores event times), None as None."""
    if moment is None:
        return None
    moment = pd.Timestamp(moment)
    return (moment if moment.tzinfo is None else moment.tz_convert("UTC").tz_localize(None)).to_pydatetime()


def _point_in_time(labels: pd.DataFrame, settings: Settings, service: str, key: str) -> pd.DataFrame:
    """The labelled rows with their features as known at their event time, oldest first."""
    if labels.empty:
        return labels
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    frame = _with_segment(feature_store(settings), labels, service)
    return frame.sort_values(["event_timestamp", key]).reset_index(drop=True)


def _with_segment(store, entity_df: pd.DataFrame, service: str) -> pd.DataFrame:
    """The service's features point-in-time, plus the life-cycle stage of the time as ``segment``
    (for per-segment metrics; not a model input)."""
    fs = store.get_feature_service(service)
    refs = [f"{p.name_to_use()}:{f.name}" for p in fs.feature_view_projections for f in p.features]
    frame = store.get_historical_features(
        entity_df=entity_df, features=[*refs, "customer_segments:lifecycle_stage"]
    ).to_df()
    return frame.rename(columns={"lifecycle_stage": "segment"})


def churn_training_set(
    run_date: date, settings: Settings | None = None, service: str = CHURN_FEATURE_SERVICE, since=None
) -> pd.DataFrame:
    """Point-in-time churn training set: every labelled weekly snapshot joined to the features known then.

    One row per customer and snapshot of the ``churn_labels`` mart whose 60-day
    outcome window closed by the end of D, with ``event_timestamp`` = the start
    of the day after the snapshot (when its features became known).
    """
    settings = settings or get_settings()
    with read_only_connection(settings, snapshot=True) as con:
        labels = con.execute(
            """
            select customer_id, snapshot_date, event_timestamp, label
            from churn_labels where outcome_window_ends_on <= ? and (? is null or event_timestamp > ?)
            order by event_timestamp, customer_id
            """,
            [run_date, _naive_utc(since), _naive_utc(since)],
        ).df()
    return _point_in_time(labels, settings, service, "customer_id")


def scoring_frame(run_date: date, settings: Settings | None = None) -> pd.DataFrame:
    """Every customer's features as of the end of D (the exported partition of D)."""
    settings = settings or get_settings()
    path = settings.feature_export_file(run_date)
    if not path.exists():
        raise FeaturePublicationError(f"no exported features for {run_date} at {path}")
    frame = with_attributes(pd.read_parquet(path), run_date, settings)
    return with_contact_context(frame, run_date, settings)


def with_contact_context(frame: pd.DataFrame, run_date: date, settings: Settings) -> pd.DataFrame:
    """``frame`` with the contact features of a contact made the day after D (``ml.CONTACT_FEATURE_COLUMNS``):
    a first attempt, and what the warehouse knows of the customer's earlier campaigns
    (``customer_contact_context``); a customer never contacted has none (0 contacts, no outcome)."""
    with read_only_connection(settings, snapshot=True) as con:
        context = con.execute(
            """
            select customer_id, contact_previous_campaign_contacts, contact_days_since_previous_campaign,
                   contact_previous_outcome
            from customer_contact_context
            """
        ).df()
    frame = frame.drop(columns=[c for c in context.columns if c != "customer_id" and c in frame.columns])
    merged = frame.merge(context, on="customer_id", how="left")
    merged["contact_attempt_number"] = 1
    merged["contact_previous_campaign_contacts"] = merged["contact_previous_campaign_contacts"].fillna(0).astype(int)
    merged["contact_days_since_previous_campaign"] = merged["contact_days_since_previous_campaign"].astype("Int64")
    merged["contact_previous_outcome"] = merged["contact_previous_outcome"].fillna(0).astype(int)
    merged["contact_month"] = (run_date + timedelta(days=1)).month
    return merged


def with_attributes(frame: pd.DataFrame, run_date: date, settings: Settings) -> pd.DataFrame:
    """``frame`` with each customer's declared attributes known by the end of D (the attribute export's
    latest row per customer, as Feast's view serves it); a customer without one is unknown (code 0)."""
    from bankmkt.attributes import load_declaration

    specs = load_declaration(settings)
    if not specs:
        return frame
    path = settings.attribute_export_path
    if not path.exists():
        raise FeaturePublicationError(f"the bank declares {len(specs)} attributes but none are exported at {path}")
    until = pd.Timestamp(run_date) + pd.Timedelta(days=1)
    attributes = pd.read_parquet(path)
    attributes = attributes.loc[pd.to_datetime(attributes["event_timestamp"]) <= until]
    latest = attributes.sort_values("event_timestamp").drop_duplicates("customer_id", keep="last")
    merged = frame.merge(latest.drop(columns="event_timestamp"), on="customer_id", how="left")
    for spec in specs:
        if spec.is_category:
            merged[spec.feature] = merged[spec.feature].fillna(0).astype("int32")
    return merged


def online_features(
    customer_ids: list[str], settings: Settings | None = None, service: str = FEATURE_SERVICE
) -> pd.DataFrame:
    """Features served by the online store for the given customers."""
    store = feature_store(settings)
    response = store.get_online_features(
        features=store.get_feature_service(service),
        entity_rows=[{ENTITY_KEY: customer_id} for customer_id in customer_ids],
    )
    return response.to_df()
