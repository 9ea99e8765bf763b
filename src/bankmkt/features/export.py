"""The feature export: Feast's offline source, one Parquet folder per feature date.

The files are written by dbt (model ``feature_export``, dbt-duckdb's external
materialisation) into a staging folder; the quality gate validates them there
(its ``customer_features`` suite reads the model); once it has passed, this
module moves them, byte for byte, into Feast's offline source. Feast therefore
reads exactly the files the gate validated, and a batch that fails the gate
never reaches it.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

from bankmkt.features.common import FeaturePublicationError
from bankmkt.runtime import write_atomically
from bankmkt.settings import Settings, get_settings

_DT = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")


def staged_feature_dates(settings: Settings) -> dict[date, Path]:
    """The feature dates dbt's ``feature_export`` wrote in its last build, with their staged file."""
    staged = {}
    for folder in sorted(settings.feature_export_staging_dir.glob("dt=*")):
        match = _DT.match(folder.name)
        files = sorted(folder.glob("*.parquet"))
        if match and files:
            if len(files) > 1:
                raise FeaturePublicationError(f"{folder} holds {len(files)} Parquet files; the export writes one")
            staged[date.fromisoformat(match.group(1))] = files[0]
    return staged


def export_feature_mart(run_date: date, settings: Settings | None = None) -> dict:
    """Move the validated feature dates dbt staged into Feast's offline source (D's, and on a first run every
    earlier date not exported yet). Re-running a day replaces that day's file, so the export is idempotent."""
    settings = settings or get_settings()
    staged = staged_feature_dates(settings)
    if run_date not in staged:
        raise FeaturePublicationError(
            f"dbt's feature_export staged no file for {run_date} under {settings.feature_export_staging_dir}; "
            "was the warehouse built for that day?"
        )
    later = sorted(d for d in staged if d > run_date)
    if later:
        raise FeaturePublicationError(
            f"the staged export holds feature dates after {run_date} ({later[0]}...): it belongs to another build"
        )
    rows = 0
    for feature_date, staged_file in sorted(staged.items()):
        target = settings.feature_export_file(feature_date)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Readers (Feast, training sets) never see a half-written file.
        write_atomically(target, lambda partial, source=staged_file: shutil.copyfile(source, partial))
        rows += _rows(target)
    return {
        "feature_dates_written": len(staged),
        "rows_written": rows,
        "export_dir": str(settings.feature_export_dir),
    }


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows
