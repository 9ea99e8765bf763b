"""A batch materialisation engine that writes a window of a feature source in one pass.

Feast's local engine reads the window, turns every row into protobuf objects
and hands them to the online store view by view. This engine keeps Feast's
own read (the offline store's ``pull_latest_from_table_or_query``: the latest
row per entity in the window), reads a source once for all the views that
share it, encodes whole columns (:mod:`bankmkt.feast_plugin.encoding`) and
has the online store write them in bulk (``write_encoded`` of the plugin's
SQLite and Redis stores). Anything it does not handle (another online store,
transformations, field mappings, ``disable_event_timestamp``) goes through
Feast's local engine unchanged, with a logged reason.

``feast materialize``, ``feast materialize-incremental`` and
``FeatureStore.materialize`` all come here when ``feature_store.yaml`` says::

    batch_engine:
      type: bankmkt.feast_plugin.FastComputeEngine
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from feast import utils
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.local.compute import LocalComputeEngine, LocalComputeEngineConfig
from feast.infra.compute_engines.local.job import LocalMaterializationJob

from bankmkt.feast_plugin.encoding import FastPublishUnsupported, encode_partition, source_layout
from bankmkt.feast_plugin.redis import FastRedisOnlineStore
from bankmkt.feast_plugin.sqlite import FastSqliteOnlineStore

logger = logging.getLogger(__name__)

TYPE = "bankmkt.feast_plugin.FastComputeEngine"
FAST_STORES = (FastSqliteOnlineStore, FastRedisOnlineStore)

_REPORTS: ContextVar[list | None] = ContextVar("bankmkt_feast_publications", default=None)


@contextmanager
def publication_report() -> Iterator[list[dict]]:
    """Collect what the engine publishes inside the block: one dict per source and window."""
    reports: list[dict] = []
    token = _REPORTS.set(reports)
    try:
        yield reports
    finally:
        _REPORTS.reset(token)


class FastComputeEngineConfig(LocalComputeEngineConfig):
    """``fast: false`` makes the engine Feast's local engine (the reference, for comparisons)."""

    type: Literal["bankmkt.feast_plugin.FastComputeEngine"] = TYPE
    fast: bool = True


class FastComputeEngine(LocalComputeEngine):
    def __init__(self, *, fast: bool = True, type: str | None = None, backend: str | None = None, **kwargs):
        super().__init__(backend=backend, **kwargs)
        self.fast = fast

    @property
    def supports_batch(self) -> bool:
        return True  # every view of a window in one call: a shared source is read once

    def materialize(self, registry, tasks, **kwargs) -> list:
        tasks = [tasks] if isinstance(tasks, MaterializationTask) else list(tasks)
        if not self.fast or not isinstance(self.online_store, FAST_STORES):
            return super().materialize(registry, tasks, **kwargs)
        groups: dict[tuple, list[MaterializationTask]] = {}
        for task in tasks:
            source = getattr(task.feature_view, "batch_source", None)
            key = (getattr(source, "name", None), task.start_time, task.end_time, task.disable_event_timestamp)
            groups.setdefault(key, []).append(task)
        jobs: dict[int, object] = {}
        for group in groups.values():
            try:
                self._publish(group)
                done = MaterializationJobStatus.SUCCEEDED
                jobs.update({id(t): LocalMaterializationJob(_job_id(t), done) for t in group})
            except FastPublishUnsupported as reason:
                names = ", ".join(t.feature_view.name for t in group)
                logger.warning("%s: Feast's own materialisation (%s)", names, reason)
                plain = super().materialize(registry, group, **kwargs)  # Feast's own local engine
                jobs.update({id(t): job for t, job in zip(group, plain)})
            except Exception as error:  # reported per view through the job, as Feast does
                failed = MaterializationJobStatus.ERROR
                jobs.update({id(t): LocalMaterializationJob(_job_id(t), failed, error=error) for t in group})
        return [jobs[id(t)] for t in tasks]

    def _publish(self, group: list[MaterializationTask]) -> dict:
        first = group[0]
        if first.disable_event_timestamp:
            raise FastPublishUnsupported("disable_event_timestamp")
        views = [task.feature_view for task in group]
        join_key, ts_field, _ = source_layout(views)
        columns = sorted({f.name for view in views for f in view.features})
        start, end = utils.make_tzaware(first.start_time), utils.make_tzaware(first.end_time)
        config = self.repo_config

        began = time.perf_counter()
        table = self.offline_store.pull_latest_from_table_or_query(
            config=config,
            data_source=views[0].batch_source,
            join_key_columns=[join_key],
            feature_name_columns=columns,
            timestamp_field=ts_field,
            created_timestamp_column=None,
            start_date=start,
            end_date=end,
        ).to_arrow()
        pulled = time.perf_counter()
        encoded = encode_partition(config, views, table, start, end)
        encoded_at = time.perf_counter()
        # A window ending after this one is already published (a rerun of an older day, a backfill):
        # the stores must compare stored event times (SQLite does so per row anyway).
        later = any(utils.make_tzaware(e) > end for view in views for _, e in view.materialization_intervals)
        advance = _progress(encoded.values, f"publishing {len(views)} views")
        written = (
            self.online_store.write_encoded(config, encoded, check_newer=later, advance=advance)
            if encoded.customers
            else {"stale_skipped": 0}
        )
        done = time.perf_counter()
        report = {
            "method": "fast",
            "online_store": "redis" if isinstance(self.online_store, FastRedisOnlineStore) else "sqlite",
            "feature_views": [view.name for view in views],
            "customers": encoded.customers,
            "values": encoded.values,
            "rows_read": encoded.rows_read,
            "rows_outside_window": encoded.rows_outside_window,
            "duplicates_dropped": encoded.duplicates_dropped,
            "seconds_read": round(pulled - began, 2),
            "seconds_encode": round(encoded_at - pulled, 2),
            "seconds_write": round(done - encoded_at, 2),
            "customers_per_second": round(encoded.customers / (done - began)) if done > began else None,
            **written,
        }
        logger.info(
            "published %s customers x %s views (%s values) in %.1f s (read %.1f, encode %.1f, write %.1f)",
            f"{encoded.customers:,}",
            len(views),
            f"{encoded.values:,}",
            done - began,
            report["seconds_read"],
            report["seconds_encode"],
            report["seconds_write"],
        )
        reports = _REPORTS.get()
        if reports is not None:
            reports.append(report)
        return report


def _job_id(task: MaterializationTask) -> str:
    return f"{task.feature_view.name}-{task.start_time}-{task.end_time}"


def _progress(total: int, description: str):
    """Called with the values written by each chunk: a bar on a terminal, a log line per chunk elsewhere."""
    done = [0]
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, desc=description, unit="value", unit_scale=True, file=sys.stderr, leave=False)

        def advance(values: int) -> None:
            bar.update(values)
            if bar.n >= total:
                bar.close()

        return advance

    def log(values: int) -> None:
        done[0] += values
        logger.info("%s: %s of %s values written", description, f"{done[0]:,}", f"{total:,}")

    return log
