"""Publication of a feature date to the online store: Feast's `materialize` over the date's window."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time as clock
from datetime import UTC, date, datetime, timedelta

from bankmkt.features.common import PUBLISH_METHODS, FeaturePublicationError, day_start
from bankmkt.features.repo import feature_store
from bankmkt.runtime import apply_environment, progress
from bankmkt.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def materialization_window(run_date: date) -> tuple[datetime, datetime]:
    """Event-time window of run D, [start of D, start of D+1], both ends included as in Feast.

    A row of feature date D becomes known at the start of D+1 (its event
    timestamp), so the window holds exactly D's partition; consecutive windows
    touch at the boundary as `feast materialize-incremental` windows do.
    """
    return day_start(run_date), day_start(run_date + timedelta(days=1))


def publish_method(method: str | None = None) -> str:
    """`fast` (the repo's plugin) unless FEATURE_PUBLISH=plain or the caller asks for plain."""
    # FEATURE_PUBLISH belongs in bankmkt.settings; read here until it is added there.
    chosen = (method or os.environ.get("FEATURE_PUBLISH") or "fast").strip().lower()
    if chosen not in PUBLISH_METHODS:
        raise ValueError(f"publish method {chosen!r} is not one of {', '.join(PUBLISH_METHODS)}")
    return chosen


ATTRIBUTE_VIEW = "customer_attributes"


def _unpublished_history_start(store, settings: Settings):
    """The first change time of the bank's attributes when their view has never been materialised; else None."""
    import pyarrow.parquet as pq
    from feast.errors import FeatureViewNotFoundException

    try:
        view = store.get_feature_view(ATTRIBUTE_VIEW)
    except FeatureViewNotFoundException:  # the bank declares no attribute
        return None
    if view.materialization_intervals or not settings.attribute_export_path.exists():
        return None
    times = pq.read_table(settings.attribute_export_path, columns=["event_timestamp"]).column("event_timestamp")
    if len(times) == 0:
        return None
    first = min(times.to_pylist())
    return first.replace(tzinfo=UTC) if first.tzinfo is None else first


def materialize_day(run_date: date, settings: Settings | None = None, method: str | None = None) -> dict:
    """Write the features of D (event time = start of D+1) to the online store: ``store.materialize``
    over D's window.

    Rerunning a day writes the same values again (idempotent); a value the
    store already holds for a later event time is never replaced. Feast records
    the window in the registry, so `feast` tooling sees it.
    """
    from bankmkt.feast_plugin import publication_report

    settings = apply_environment(settings or get_settings())
    partition = settings.feature_export_file(run_date)
    if not partition.exists():
        raise FeaturePublicationError(f"no exported features for {run_date} at {partition}")
    chosen = publish_method(method)
    store = feature_store(settings, plain=chosen == "plain")
    start, end = materialization_window(run_date)
    result = {"window_start": start.isoformat(), "window_end": end.isoformat(), "partition": str(partition)}
    began = clock.perf_counter()
    feast_output = io.StringIO()
    # The bank's attributes hold until they change: on their first publication every value since the
    # first change goes online, not only the changes of D (asked before D's window is recorded).
    history_start = _unpublished_history_start(store, settings)
    with publication_report() as reports, contextlib.redirect_stdout(feast_output):
        if history_start is not None and history_start < start:
            others = [v.name for v in store.list_feature_views() if v.online and v.name != ATTRIBUTE_VIEW]
            store.materialize(start_date=start, end_date=end, feature_views=others)
            store.materialize(start_date=history_start, end_date=end, feature_views=[ATTRIBUTE_VIEW])
            result["attribute_history_from"] = history_start.isoformat()
        else:
            store.materialize(start_date=start, end_date=end)
    for line in feast_output.getvalue().splitlines():
        logger.debug("feast: %s", line)
    if len(reports) == 1:
        result.update(reports[0])
    elif reports:
        result["publications"] = reports
    result["method"] = "fast" if reports else "plain"
    result["seconds"] = round(clock.perf_counter() - began, 2)
    result["feature_views"] = len([v for v in store.list_feature_views() if v.online])
    return result


def backfill(
    first: date, last: date, settings: Settings | None = None, method: str | None = None, echo=None
) -> list[dict]:
    """Materialise every exported day from ``first`` to ``last`` (oldest first), with progress: a bar on
    a terminal, a line per day elsewhere (``echo`` receives the lines instead, when given)."""
    settings = settings or get_settings()
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    missing = [d for d in days if not settings.feature_export_file(d).exists()]
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise FeaturePublicationError(
            f"{len(missing)} day(s) have no exported features under {settings.feature_export_dir}: {shown}"
        )
    results = []
    began = clock.perf_counter()
    echo = echo or progress(len(days), "publishing", unit="day")
    for number, day in enumerate(days, start=1):
        result = materialize_day(day, settings, method)
        results.append(result)
        customers = result.get("customers")
        what = f"{customers:,} customers" if customers is not None else "materialised"
        echo(
            f"[{number}/{len(days)}] {day.isoformat()}: {what} via {result['method']} "
            f"in {result['seconds']:.1f} s (elapsed {clock.perf_counter() - began:.0f} s)",
        )
    return results
