"""The feature export: the mart's rows of a feature date as Parquet, one folder per date (Feast's offline source)."""

from __future__ import annotations

from datetime import date

from bankmkt.features.common import FeaturePublicationError
from bankmkt.runtime import write_atomically
from bankmkt.settings import Settings, get_settings
from bankmkt.warehouse import read_only_connection

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
            # Readers (Feast, training sets) never see a half-written file.
            write_atomically(
                target,
                lambda partial, day=feature_date: con.execute(
                    f"copy ({EXPORT_QUERY}) to '{partial}' (format parquet, compression zstd)", [day]
                ),
            )
            rows += con.execute(
                "select count(*) from customer_features where feature_date = ?", [feature_date]
            ).fetchone()[0]
    return {
        "feature_dates_written": len(to_write),
        "rows_written": rows,
        "export_dir": str(settings.feature_export_dir),
    }
