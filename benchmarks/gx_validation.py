"""How long the quality gate takes on a large customer feature mart.

    python benchmarks/gx_validation.py --rows 1000000 [--repeat 3] [--unoptimised] [--broken]

Builds a throw-away DATA_DIR whose warehouse holds ``customer_features`` for
two consecutive feature dates with ``--rows`` customers each (values drawn in
DuckDB with the shapes of the synthetic bank), then runs the real gate
(``run_gate("customer_features")``, what :func:`bankmkt.quality.gate_customer_features`
runs before it raises): once for the first day (no
previous profile, so no comparison expectations; this run also pays GX's
import) and ``--repeat`` times for the second day (comparisons with the first
day's profile included). Prints one line per run with the wall time and its
parts (read: query and frame; validate: GX checkpoint with Data Docs) and a
JSON summary with the range over the repeats.

``--unoptimised`` switches off what docs/quality.md lists under Speed (64-bit
reads, result format BASIC, skipping GX's per-row Decimal scan) to measure what
they save; ``--broken`` gives 10 % of the second day's customers an age of 130,
so the gate fails with large unexpected counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

RUN_DATE = date(2024, 3, 15)


def create_feature_mart(warehouse: Path, rows: int, feature_dates: list[date], broken: bool = False) -> None:
    """Write a ``customer_features`` table with ``rows`` customers per feature date.

    ``broken``: on the last date 10 % of the customers are 130 years old.
    """
    import duckdb

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("select setseed(0.42)")
        con.execute("drop table if exists customer_features")
        for index, feature_date in enumerate(feature_dates):
            verb = "create table customer_features as" if index == 0 else "insert into customer_features"
            con.execute(
                f"""
                {verb}
                with base as (
                    select i, random() as u1, random() as u2, random() as u3, random() as u4
                    from range({rows}) as t(i)
                )
                select
                    'C' || lpad(cast(i + 1 as varchar), 7, '0') as customer_id,
                    cast(? as date) as feature_date,
                    cast(cast(? as date) + interval 1 day as timestamp) as event_timestamp,
                    cast(case when {broken and feature_date == feature_dates[-1]} and i % 10 = 0 then 130
                              else 18 + floor(u1 * 70) end as integer) as age,
                    cast(floor(u2 * 7000) as integer) as tenure_days,
                    round(800 + u3 * 6000, 2) as monthly_income,
                    cast(u4 < 0.52 as integer) as is_female,
                    cast(u1 * 7 % 1 < 0.7 as integer) as has_marketing_consent,
                    cast(floor(u2 * 60) as integer) as txn_count_30d,
                    cast(floor(u2 * 180) as integer) as txn_count_90d,
                    round(u3 * 3000, 2) as spend_30d,
                    round(u3 * 9000, 2) as spend_90d,
                    round(u4 * 12000, 2) as income_90d,
                    cast(1 + floor(u1 * 17 % 1 * 90) as integer) as observed_days_90d,
                    round(u3 * 1.5, 4) as spend_to_income_90d,
                    cast(floor(u1 * 13 % 1 * 91) as integer) as days_since_last_txn,
                    round(u4 * u3 * 40000 - 500, 2) as balance_total,
                    round(u4 * u2 * 20000, 2) as balance_savings,
                    round(u4 * u3 * 39000 - 400, 2) as balance_avg_30d,
                    round((u1 - 0.5) * 2000, 2) as balance_trend_30d,
                    round(u2 * 0.3, 4) as spend_share_travel_90d,
                    round(u3 * 0.3, 4) as spend_share_dining_90d,
                    round(u4 * 0.4, 4) as spend_share_groceries_90d,
                    cast(floor(u3 * 40) as integer) as digital_logins_30d,
                    cast(floor(u4 * 6) as integer) as product_views_30d,
                    cast(floor(u1 * 3) as integer) as n_products_held,
                    cast(u2 * 11 % 1 < 0.3 as integer) as has_credit_card,
                    cast(u3 * 13 % 1 < 0.1 as integer) as has_personal_loan,
                    cast(u4 * 17 % 1 < 0.15 as integer) as has_term_deposit,
                    cast(u1 * 19 % 1 < 0.05 as integer) as has_wealth_management,
                    cast(u2 * 23 % 1 < 0.08 as integer) as has_mortgage,
                    cast(u3 * 29 % 1 < 0.03 as integer) as complaints_90d,
                    case when u4 * 31 % 1 < 0.3 then cast(floor(u1 * 11) as double) end as last_nps
                from base
                """,
                [feature_date, feature_date],
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers per feature date")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs on the second day")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away DATA_DIR")
    parser.add_argument("--unoptimised", action="store_true", help="GX defaults: int32 reads, SUMMARY, Decimal scan")
    parser.add_argument("--broken", action="store_true", help="10 %% of the second day's ages fail the gate")
    args = parser.parse_args(argv)

    from contextlib import nullcontext

    from bankmkt import gx_compat, quality
    from bankmkt.quality import reads, validation
    from bankmkt.settings import Settings

    if args.unoptimised:  # replaced in the modules that look them up
        reads._WIDE_SQL_TYPES = {}
        validation.RESULT_FORMAT = {"result_format": "SUMMARY"}
        gx_compat.numeric_columns_skip_decimal_scan = nullcontext

    data_dir = Path(tempfile.mkdtemp(prefix="bankmkt-gx-bench-"))
    settings = Settings(platform_env="local", data_dir=data_dir)
    settings.ensure_dirs()
    try:
        start = time.perf_counter()
        create_feature_mart(
            settings.warehouse_path, args.rows, [RUN_DATE - timedelta(days=1), RUN_DATE], broken=args.broken
        )
        print(f"feature mart: {args.rows:,} customers x 2 days in {time.perf_counter() - start:.1f} s", flush=True)

        runs = []
        for label, day in [("first day (no previous profile)", RUN_DATE - timedelta(days=1))] + [
            (f"second day, run {n + 1}", RUN_DATE) for n in range(args.repeat)
        ]:
            start = time.perf_counter()
            result = quality.run_gate("customer_features", day, settings)
            seconds = time.perf_counter() - start
            parts = getattr(result, "seconds", {}) or {}
            print(
                f"{label}: {seconds:.1f} s for {result.evaluated} expectations on {result.rows:,} rows "
                f"({', '.join(f'{k} {v:.1f} s' for k, v in parts.items())}); "
                f"success={result.success}, failures={len(result.failed_failures)}, "
                f"warnings={len(result.failed_warnings)}",
                flush=True,
            )
            if day == RUN_DATE:
                runs.append(seconds)
        summary = {
            "rows": args.rows,
            "unoptimised": args.unoptimised,
            "broken": args.broken,
            "repeats": len(runs),
            "seconds_min": round(min(runs), 1),
            "seconds_median": round(statistics.median(runs), 1),
            "seconds_max": round(max(runs), 1),
        }
        print(json.dumps(summary))
    finally:
        if args.keep:
            print(f"DATA_DIR kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
