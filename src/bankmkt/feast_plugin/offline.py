"""Point-in-time training sets at DuckDB's speed: Feast's DuckDB offline store with an ASOF join.

Feast's DuckDB store joins every entity row to every feature row of its key
inside the TTL and keeps the latest (a range join, then a window): with daily
snapshots and a 35-day TTL that is 35 candidate rows per training row and
view, over every exported day. This store keeps Feast's semantics (the latest
row at or before the entity's time, nothing older than the view's TTL, missing
values null) and computes them with one ``ASOF LEFT JOIN`` per source for all
the views that read it, over only the rows whose times the training set can
use (from its earliest time minus the longest TTL to its latest time: DuckDB
skips the other files' row groups by their statistics).

Anything else (field mappings, created timestamps, on-demand views, an entity
query given as SQL, projections with their own join keys) goes through Feast's
own implementation. Selected in ``feature_store*.yaml``::

    offline_store:
      type: bankmkt.feast_plugin.FastDuckDBOfflineStore
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, timedelta
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
from feast.data_format import ParquetFormat
from feast.infra.offline_stores import offline_utils
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import FileSource
from feast.infra.offline_stores.ibis import IbisRetrievalJob
from feast.infra.offline_stores.offline_store import RetrievalMetadata
from feast.on_demand_feature_view import OnDemandFeatureView

from bankmkt.feast_plugin.feast_internals import (
    entity_time_range,
    entity_times_in_utc,
    read_data_source,
    write_data_source,
)

logger = logging.getLogger(__name__)

TYPE = "bankmkt.feast_plugin.FastDuckDBOfflineStore"
_TS = "__bankmkt_feature_ts"


class FastDuckDBOfflineStoreConfig(DuckDBOfflineStoreConfig):
    type: Literal["bankmkt.feast_plugin.FastDuckDBOfflineStore"] = TYPE


class FastDuckDBOfflineStore(DuckDBOfflineStore):
    @staticmethod
    def get_historical_features(
        config,
        feature_views,
        feature_refs,
        entity_df,
        registry,
        project,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ):
        reason = _unsupported(feature_views, feature_refs, entity_df, registry, project)
        if reason:
            logger.info("historical features through Feast's own join (%s)", reason)
            return DuckDBOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names=full_feature_names,
                filter_by_created_timestamp=filter_by_created_timestamp,
            )
        return _asof_retrieval(config, feature_views, feature_refs, entity_df, full_feature_names)


def _unsupported(feature_views, feature_refs, entity_df, registry, project) -> str | None:
    if not isinstance(entity_df, pd.DataFrame):
        return "entity rows given as a query"
    if OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry):
        return "on-demand feature views"
    names = set()
    for view in feature_views:
        source = view.batch_source
        if not isinstance(source, FileSource) or not isinstance(source.file_format, ParquetFormat):
            return f"{view.name}: not a Parquet file source"
        if source.field_mapping or source.created_timestamp_column:
            return f"{view.name}: field mapping or created timestamps"
        if view.projection.join_key_map:
            return f"{view.name}: a projection with its own join keys"
        wanted = [r.split(":", 1)[1] for r in feature_refs if r.split(":", 1)[0] == view.projection.name_to_use()]
        if names & set(wanted):
            return "the same feature name in two views"
        names |= set(wanted)
    return None


def _asof_retrieval(config, feature_views, feature_refs, entity_df: pd.DataFrame, full_feature_names: bool):
    schema = dict(zip(entity_df.columns, entity_df.dtypes))
    ts_col = offline_utils.infer_event_timestamp_from_entity_df(entity_schema=schema)
    first, last = entity_time_range(entity_df, ts_col)
    entity_df = entity_times_in_utc(entity_df.copy(), ts_col)
    result = ibis.memtable(entity_df)
    entity_columns = list(entity_df.columns)
    output = list(entity_columns)

    by_source: dict[str, list] = defaultdict(list)
    for view in feature_views:
        by_source[view.batch_source.name].append(view)
    for views in by_source.values():
        source = views[0].batch_source
        join_keys = sorted({c.name for view in views for c in view.entity_columns})
        longest = max((view.ttl for view in views if view.ttl), default=None)
        table = read_data_source(source, str(config.repo_path))
        ts = source.timestamp_field
        table = table.filter(*_time_bounds(table, ts, first, last, longest))
        wanted = {}
        for view in views:
            prefix = view.projection.name_to_use()
            for ref in feature_refs:
                view_name, feature = ref.split(":", 1)
                if view_name == prefix:
                    label = f"{view.projection.name_alias or view.name}__{feature}" if full_feature_names else feature
                    wanted[label] = (feature, view.ttl)
        columns = {key: table[key] for key in join_keys}
        columns[_TS] = table[ts].cast(dt.Timestamp(timezone="UTC"))
        columns.update({f"__f_{i}": table[feature] for i, (feature, _) in enumerate(wanted.values())})
        right = table.select(**columns)
        joined = result.asof_join(
            right,
            on=result[ts_col] >= right[_TS],
            predicates=[result[key] == right[key] for key in join_keys],
        )
        selection = {name: joined[name] for name in output}
        for i, (label, (_, ttl)) in enumerate(wanted.items()):
            value = joined[f"__f_{i}"]
            if ttl and ttl > timedelta(0):
                fresh = joined[_TS] >= joined[ts_col] - ibis.interval(seconds=int(ttl.total_seconds()))
                value = ibis.ifelse(fresh, value, ibis.null().cast(value.type()))
            selection[label] = value
        result = joined.select(**selection)
        output = list(selection)

    return IbisRetrievalJob(
        result,
        [],
        full_feature_names,
        metadata=RetrievalMetadata(
            features=feature_refs,
            keys=[c for c in entity_columns if c != ts_col],
            min_event_timestamp=first,
            max_event_timestamp=last,
        ),
        data_source_writer=write_data_source,
        staging_location=config.offline_store.staging_location,
        staging_location_endpoint_override=config.offline_store.staging_location_endpoint_override,
        repo_path=str(config.repo_path),
    )


def _time_bounds(table, ts: str, first, last, longest: timedelta | None) -> list:
    """Only the rows a training row between ``first`` and ``last`` can use, compared in the column's own type
    (so that DuckDB prunes by the Parquet statistics)."""
    lo = None if longest is None else pd.Timestamp(first) - longest
    hi = pd.Timestamp(last)
    column = table[ts]
    aware = column.type().timezone is not None

    def literal(moment: pd.Timestamp):
        moment = moment.tz_localize(UTC) if moment.tzinfo is None else moment.tz_convert(UTC)
        return ibis.literal(moment.to_pydatetime() if aware else moment.tz_localize(None).to_pydatetime())

    bounds = [column <= literal(hi)]
    if lo is not None:
        bounds.append(column >= literal(lo))
    return bounds
