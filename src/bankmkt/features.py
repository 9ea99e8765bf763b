"""Publish customer features: Parquet export, `feast apply`, materialisation, retrieval.

The warehouse is read through read-only DuckDB connections (dbt stays its only
writer); Feast reads the exported Parquet as its offline source. Publication is
Feast's own ``store.materialize``: the repo's ``feature_store.yaml`` names the
platform's plugin (:mod:`bankmkt.feast_plugin`: a batch engine and online
stores that write whole partitions in Feast's storage format), so the
``feast`` command line gets the same speed. ``FEATURE_PUBLISH=plain`` (or
``--plain``) publishes through Feast's plain stores and local engine instead.

Command line::

    python -m bankmkt.features materialize --date 2024-03-15 [--plain]
    python -m bankmkt.features backfill --from 2024-03-01 --to 2024-03-15 [--plain]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import logging
import os
import re
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd

from bankmkt.runtime import apply_environment, progress
from bankmkt.settings import Settings, get_settings
from bankmkt.warehouse import read_only_connection

FEATURE_SERVICE = "propensity_v2"
CHURN_FEATURE_SERVICE = "churn_v1"
CUSTOMER_360_SERVICE = "customer_360_v1"
ENTITY_KEY = "customer_id"
# The segment labels the export adds to every feature date (feature view customer_segments).
SEGMENT_COLUMNS = ("lifecycle_stage", "value_tier", "needs_segment")
PUBLISH_METHODS = ("fast", "plain")

logger = logging.getLogger(__name__)


class FeaturePublicationError(RuntimeError):
    """The feature mart could not be exported or published."""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# One feature date of the mart, with the customer's segments of that date: life-cycle stage and
# value tier from their daily history, the needs segment from the run date's customer_segments
# (clustering runs for the run date only, so earlier dates of a first export have none).
EXPORT_QUERY = """
    select features.*, history.lifecycle_stage, history.value_tier, segments.needs_segment
    from customer_features as features
    left join customer_lifecycle_history as history
        on history.customer_id = features.customer_id and history.segment_date = features.feature_date
    left join customer_segments as segments
        on segments.customer_id = features.customer_id and segments.segment_date = features.feature_date
    where features.feature_date = ?
    order by features.customer_id
"""


def export_feature_mart(run_date: date, settings: Settings | None = None) -> dict:
    """Write the feature mart's rows as Parquet, one folder per feature date.

    A daily run writes only D's folder; the first run (no export yet) also writes
    every earlier feature date so that training sets can look back in time.
    Re-running a day overwrites that day's file, so the export is idempotent.
    """
    settings = settings or get_settings()
    with read_only_connection(settings, snapshot=True) as con:
        dates = [
            row[0]
            for row in con.execute(
                "select distinct feature_date from customer_features where feature_date <= ? order by 1",
                [run_date],
            ).fetchall()
        ]
        if run_date not in dates:
            raise FeaturePublicationError(
                f"customer_features has no rows for feature_date {run_date}; was dbt build run for it?"
            )
        already = {
            path.name.removeprefix("dt=")
            for path in settings.feature_export_dir.glob("dt=*")
            if any(path.glob("*.parquet"))
        }
        to_write = [d for d in dates if d == run_date or d.isoformat() not in already]
        rows = 0
        for feature_date in to_write:
            target = settings.feature_export_file(feature_date)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".parquet.tmp")
            con.execute(f"copy ({EXPORT_QUERY}) to '{partial}' (format parquet, compression zstd)", [feature_date])
            os.replace(partial, target)  # readers never see a half-written file
            rows += con.execute(
                "select count(*) from customer_features where feature_date = ?", [feature_date]
            ).fetchone()[0]
    return {
        "feature_dates_written": len(to_write),
        "rows_written": rows,
        "export_dir": str(settings.feature_export_dir),
    }


def feature_store(settings: Settings | None = None, plain: bool = False):
    """The Feast store of the current profile; ``plain``: with Feast's plain stores and local engine in place
    of the platform's plugin (same storage, Feast's own speed)."""
    from feast import FeatureStore

    settings = apply_environment(settings or get_settings())
    _importable_repo(settings)
    if not plain:
        return FeatureStore(repo_path=str(settings.feature_repo_dir), fs_yaml_file=settings.feature_store_yaml)
    import yaml
    from feast.repo_config import RepoConfig

    from bankmkt.feast_plugin import plain_config

    config = yaml.safe_load(os.path.expandvars(settings.feature_store_yaml.read_text()))
    config["repo_path"] = settings.feature_repo_dir
    return FeatureStore(config=RepoConfig(**plain_config(config)))


@dataclasses.dataclass(frozen=True)
class _ProjectSettings(Settings):
    store_yaml: Path | None = None

    @property
    def feature_store_yaml(self) -> Path:
        return self.store_yaml or super().feature_store_yaml


def settings_for_project(
    project: str, folder: Path, settings: Settings | None = None, file_registry: bool = False
) -> Settings:
    """The profile's feature store under another Feast project name (benchmarks, tests, trial runs).

    The same definitions and online store server, but every key, table and
    registry entry belongs to ``project``, so nothing the platform serves is
    touched. ``file_registry`` puts the registry in a file under ``folder``
    instead of the profile's (the SQL registry of ``prod``).
    """
    settings = settings or get_settings()
    text = settings.feature_store_yaml.read_text()
    text = re.sub(r"(?m)^project: .*$", f"project: {project}", text)
    if file_registry:
        registry = f"registry:\n  registry_type: file\n  path: {folder / 'registry.db'}\n"
        text = re.sub(r"(?m)^registry:\n(?:[ ]+.*\n)+", registry, text)
    folder.mkdir(parents=True, exist_ok=True)
    store_yaml = folder / f"feature_store.{project}.yaml"
    store_yaml.write_text(text)
    return settings_with_store_yaml(store_yaml, settings)


def settings_with_store_yaml(store_yaml: Path, settings: Settings | None = None) -> Settings:
    """The settings, with Feast configured by ``store_yaml`` instead of the profile's file."""
    settings = settings or get_settings()
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)}
    return _ProjectSettings(**values, store_yaml=Path(store_yaml))


def remove_project(settings: Settings) -> None:
    """Delete a project's online data and its registry entries; other projects stay."""
    from bankmkt.feast_plugin import drop_project

    store = feature_store(settings)
    drop_project(store.config, store.list_feature_views())
    store.registry.delete_project(store.project, commit=True)


def _importable_repo(settings: Settings) -> None:
    repo = str(settings.feature_repo_dir)
    if repo not in sys.path:
        sys.path.insert(0, repo)  # the definition files import each other by module name


def _forget_repo_modules(settings: Settings) -> None:
    """Drop the definition modules so that `feast apply` re-imports them with the current settings.

    data_sources.py reads the export path from the settings at import time; a
    process that applies for a second DATA_DIR (tests, a backfill into another
    directory) would otherwise register the first one's path.
    """
    repo = settings.feature_repo_dir.resolve()
    for name in [path.stem for path in repo.glob("*.py")]:
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin and Path(origin).resolve().parent == repo:
            del sys.modules[name]


def feature_columns(settings: Settings | None = None) -> dict[str, object]:
    """Every feature of the repo's views (name -> Feast type), read from the definition files."""
    import importlib

    settings = settings or get_settings()
    _importable_repo(settings)
    views = importlib.import_module("feature_views").ALL_VIEWS
    return {f.name: f.dtype for view in views for f in view.features}


def apply_feature_repo(settings: Settings | None = None) -> dict:
    """`feast apply` of feature_repo/ (idempotent: an unchanged repo changes nothing)."""
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    settings = apply_environment(settings or get_settings())
    repo = settings.feature_repo_dir
    _importable_repo(settings)
    _forget_repo_modules(settings)
    config = load_repo_config(repo, settings.feature_store_yaml)
    cwd = os.getcwd()
    try:
        apply_total(config, repo, skip_source_validation=True)
    finally:
        os.chdir(cwd)  # apply_total changes directory into the repo
    store = feature_store(settings)
    return {
        "project": store.project,
        "feature_views": sorted(v.name for v in store.list_feature_views()),
        "feature_services": sorted(s.name for s in store.list_feature_services()),
    }


def materialization_window(run_date: date) -> tuple[datetime, datetime]:
    """Event-time window of run D, [start of D, start of D+1], both ends included as in Feast.

    A row of feature date D becomes known at the start of D+1 (its event
    timestamp), so the window holds exactly D's partition; consecutive windows
    touch at the boundary as `feast materialize-incremental` windows do.
    """
    return _day_start(run_date), _day_start(run_date + timedelta(days=1))


def publish_method(method: str | None = None) -> str:
    """`fast` (the repo's plugin) unless FEATURE_PUBLISH=plain or the caller asks for plain."""
    # FEATURE_PUBLISH belongs in bankmkt.settings; read here until it is added there.
    chosen = (method or os.environ.get("FEATURE_PUBLISH") or "fast").strip().lower()
    if chosen not in PUBLISH_METHODS:
        raise ValueError(f"publish method {chosen!r} is not one of {', '.join(PUBLISH_METHODS)}")
    return chosen


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
    with publication_report() as reports, contextlib.redirect_stdout(feast_output):
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


def feature_names(settings: Settings | None = None, service: str = FEATURE_SERVICE) -> list[str]:
    """Feature columns of a feature service, in definition order."""
    store = feature_store(settings)
    fs = store.get_feature_service(service)
    return [f.name for projection in fs.feature_view_projections for f in projection.features]


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
                   event_timestamp, label
            from training_labels where $since is null or event_timestamp > $since
            order by event_timestamp, contact_id
            """,
            {"since": _naive_utc(since)},
        ).df()
    if labels.empty:
        return labels
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    frame = _with_segment(feature_store(settings), labels, service)
    return frame.sort_values(["event_timestamp", "contact_id"]).reset_index(drop=True)


def _naive_utc(moment):
    """A timestamp as naive UTC (how the warehouse stores event times), None as None."""
    if moment is None:
        return None
    moment = pd.Timestamp(moment)
    return (moment if moment.tzinfo is None else moment.tz_convert("UTC").tz_localize(None)).to_pydatetime()


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
    if labels.empty:
        return labels
    labels["event_timestamp"] = pd.to_datetime(labels["event_timestamp"], utc=True)
    frame = _with_segment(feature_store(settings), labels, service)
    return frame.sort_values(["event_timestamp", "customer_id"]).reset_index(drop=True)


def scoring_frame(run_date: date, settings: Settings | None = None) -> pd.DataFrame:
    """Every customer's features as of the end of D (the exported partition of D)."""
    settings = settings or get_settings()
    path = settings.feature_export_file(run_date)
    if not path.exists():
        raise FeaturePublicationError(f"no exported features for {run_date} at {path}")
    return pd.read_parquet(path)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bankmkt.features", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("materialize", help="publish one feature date to the online store")
    one.add_argument("--date", required=True, type=date.fromisoformat)
    many = commands.add_parser("backfill", help="publish every feature date of a range, oldest first")
    many.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    many.add_argument("--to", dest="last", required=True, type=date.fromisoformat)
    for command in (one, many):
        command.add_argument("--plain", action="store_true", help="use Feast's store.materialize")
    args = parser.parse_args(argv)
    method = "plain" if args.plain else None
    try:
        if args.command == "materialize":
            result = materialize_day(args.date, method=method)
            print(", ".join(f"{k}={v}" for k, v in result.items()))
        else:
            backfill(args.first, args.last, method=method)
    except (FeaturePublicationError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
