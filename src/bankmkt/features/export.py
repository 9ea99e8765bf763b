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
from datetime import date, timedelta
from pathlib import Path

from bankmkt.features.common import FeaturePublicationError, day_start
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


def attribute_state_query(specs) -> str:
    """SQL of every customer's declared attributes after each change (reads ``customer_attribute_history``):
    one row per customer and change time, a category as its code (0 unknown, then the declared
    categories), a number as a double; an attribute without a value yet is unknown (code 0, or null)."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    joins, columns = [], []
    for number, spec in enumerate(specs):
        alias = f"a{number}"
        joins.append(
            f"asof left join (select customer_id, valid_from, value from history "
            f"where attribute = {literal(spec.attribute)}) as {alias} "
            f"on changes.customer_id = {alias}.customer_id and changes.valid_from >= {alias}.valid_from"
        )
        if spec.is_category:
            cases = " ".join(f"when {literal(value)} then {code}" for value, code in spec.codes.items())
            columns.append(f"cast(coalesce(case {alias}.value {cases} end, 0) as integer) as {spec.feature}")
        else:
            columns.append(f"try_cast({alias}.value as double) as {spec.feature}")
    return (
        "with history as (select customer_id, attribute, value, valid_from from customer_attribute_history "
        "where valid_from < $until), "
        "changes as (select distinct customer_id, valid_from from history) "
        f"select changes.customer_id, changes.valid_from as event_timestamp, {', '.join(columns)} "
        f"from changes {' '.join(joins)} order by changes.valid_from, changes.customer_id"
    )


def export_customer_attributes(run_date: date, settings: Settings | None = None) -> dict:
    """Write the bank's declared attributes known by the end of D as Feast's ``customer_attributes`` source
    (:attr:`Settings.attribute_export_path`, rewritten whole: the history of changes is small beside the
    daily features). Nothing is written when the bank declares no attribute."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bankmkt.attributes import load_declaration
    from bankmkt.warehouse import read_only_connection

    settings = settings or get_settings()
    specs = load_declaration(settings)
    if not specs:
        return {"attributes": 0}
    until = day_start(run_date + timedelta(days=1)).replace(tzinfo=None)  # the warehouse's naive UTC
    with read_only_connection(settings, snapshot=True) as con:
        table = con.sql(attribute_state_query(specs), params={"until": until}).to_arrow_table()
    schema = pa.schema(
        [
            pa.field("customer_id", pa.string()),
            pa.field("event_timestamp", pa.timestamp("us")),
            *[pa.field(s.feature, pa.int32() if s.is_category else pa.float64()) for s in specs],
        ]
    )
    table = table.cast(schema)
    target = settings.attribute_export_path
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda partial: pq.write_table(table, partial))
    return {
        "attributes": len(specs),
        "attribute_rows": table.num_rows,
        "attribute_customers": len(set(table.column("customer_id").to_pylist())) if table.num_rows else 0,
        "attribute_export": str(target),
    }
