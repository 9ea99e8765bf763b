"""Point-in-time training sets: the plugin's offline store (ASOF join) against Feast's DuckDB join, side by side.

    .venv/bin/python benchmarks/training_sets.py --customers 100000 --days 90 --rows 145000

Writes ``--days`` daily exports of ``--customers`` customers (the real feature
columns and export types, as benchmarks/materialize.py builds them) into a
temporary DATA_DIR, applies the repo, and times ``get_historical_features(...)
.to_df()`` of the propensity feature service plus the life-cycle stage (what
``bankmkt.features.training_set`` asks for) for ``--rows`` entity rows at random
customers and times over the last ``--window-days`` days, through
``offline_store: bankmkt.feast_plugin.FastDuckDBOfflineStore`` and through
Feast's own ``duckdb`` store. The two frames are compared (equal, or the
benchmark fails). Wall and CPU seconds; the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from materialize import profile_settings, quietly, restamp, synthetic_partition, write_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90, help="exported days of history")
    parser.add_argument("--rows", type=int, default=145_000, help="entity rows (contacts) of the training set")
    parser.add_argument("--window-days", type=int, default=60, help="the entity rows' times: the last N days")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    from bankmkt import features

    workdir = Path(tempfile.mkdtemp(prefix="bankmkt-bench-training-"))
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; DATA_DIR {workdir}", flush=True)
    try:
        settings = profile_settings("sqlite", workdir, "bench_training")
        last = date(2024, 6, 30)
        base = synthetic_partition(args.customers, last)
        began = time.perf_counter()
        for back in range(args.days):
            day = last - timedelta(days=back)
            write_export(settings, restamp(base, day), day)
        print(
            f"exports: {args.days} days x {args.customers:,} customers in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        quietly(features.apply_feature_repo, settings)

        rng = np.random.default_rng(5)
        end = pd.Timestamp(last + timedelta(days=1), tz="UTC")
        entity_df = pd.DataFrame(
            {
                "customer_id": [f"C{i:07d}" for i in rng.integers(1, args.customers + 1, args.rows)],
                "event_timestamp": (end - pd.to_timedelta(rng.uniform(0, args.window_days, args.rows), unit="D")).floor(
                    "us"
                ),
                "contact_id": np.arange(args.rows),
            }
        )
        store = features.feature_store(settings)
        service = store.get_feature_service(features.FEATURE_SERVICE)
        refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
        refs.append("customer_segments:lifecycle_stage")

        frames, rows = {}, []
        for label, plain in (("plugin (ASOF)", False), ("Feast duckdb", True)):
            chosen = features.feature_store(settings, plain=plain)
            wall, cpu = time.perf_counter(), time.process_time()
            frames[label] = chosen.get_historical_features(entity_df=entity_df, features=refs).to_df()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append((label, wall, cpu))
            print(f"{label:<16}{args.rows:>10,} rows {wall:>8.1f} s wall {cpu:>8.1f} s CPU", flush=True)
        fast, plain = (f.sort_values("contact_id").reset_index(drop=True) for f in frames.values())
        pd.testing.assert_frame_equal(fast[sorted(plain.columns)], plain[sorted(plain.columns)], check_dtype=False)
        print(f"same training set: yes ({len(fast):,} rows x {len(fast.columns)} columns)")
        print(f"plugin / Feast: {rows[1][1] / rows[0][1]:.1f}x faster (wall), {rows[1][2] / rows[0][2]:.1f}x (CPU)")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
