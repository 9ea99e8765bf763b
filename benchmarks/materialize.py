"""The platform's Feast plugin against Feast's plain stores and engine, side by side.

    .venv/bin/python benchmarks/materialize.py --customers 1000000 --store both --compare-plain 100000

Builds a synthetic partition of N customers with the real feature columns
(those of feature_repo's views, with the export's types), applies the repo into
a temporary DATA_DIR under a throw-away Feast project, and times:

* ``store.materialize`` through the repo's plugin (bankmkt.feast_plugin: batch
  engine + online store named in feature_store*.yaml) on all N customers: a
  first load into an empty store and a next-day update of every customer;
* the same and ``store.materialize`` with Feast's plain stores and local engine
  on the first ``--compare-plain`` customers of the same partition (same rows,
  same empty store), which gives the ratio; plain materialisation of N is
  extrapolated from that rate when it would take longer than ``--plain-cap``
  seconds (the report says so).

``--history-days`` writes that many earlier days of exports beside the
benchmark's (the offline store reads the whole export glob and keeps the
window): what a daily run finds after months of history.

Redis runs use the production profile's online store (REDIS_URL, default
127.0.0.1:6379) with a file registry, under their own project, whose keys are
deleted at the end. Times are wall clock; ``cpu`` is this process's CPU time
(for Redis, the server's CPU time is shown apart), which is steadier than wall
time on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def synthetic_partition(customers: int, feature_date: date, seed: int = 7) -> pa.Table:
    """One exported day of `customer_features` for ``customers`` customers, with the export's types."""
    rng = np.random.default_rng(seed)
    columns = {
        "customer_id": pa.array([f"C{i:07d}" for i in range(1, customers + 1)], pa.string()),
        "feature_date": pa.array(np.full(customers, np.datetime64(feature_date, "D")), pa.date32()),
        "event_timestamp": pa.array(
            np.full(customers, np.datetime64(feature_date + timedelta(days=1), "us")), pa.timestamp("us")
        ),
    }
    from feast.types import Float32, Float64

    from bankmkt.features import feature_columns

    for name, dtype in feature_columns().items():
        if dtype not in (Float32, Float64):
            high = 2 if name.startswith(("has_", "is_")) else 120
            columns[name] = pa.array(rng.integers(0, high, customers).astype(np.int32), pa.int32())
        else:
            values = np.round(rng.lognormal(7, 1.5, customers) * rng.choice([-1, 1], customers, p=[0.1, 0.9]), 2)
            missing = rng.random(customers) < (0.4 if name == "last_nps" else 0.03)
            columns[name] = pa.array(values, pa.float64(), mask=missing)
    from bankmkt.features import SEGMENT_COLUMNS

    labels = {
        "lifecycle_stage": ["new", "growing", "mature", "declining", "dormant", "churned"],
        "value_tier": ["platinum", "gold", "silver", "bronze"],
        "needs_segment": ["saver", "spender", "digital"],
    }
    for name in SEGMENT_COLUMNS:  # the segments view's string features
        columns[name] = pa.array(np.asarray(labels[name], dtype=object)[rng.integers(0, len(labels[name]), customers)])
    return pa.table(columns)


def restamp(table: pa.Table, feature_date: date) -> pa.Table:
    """The same rows as another feature date's export (its feature_date and event_timestamp)."""
    n = table.num_rows
    table = table.set_column(
        table.schema.get_field_index("feature_date"),
        "feature_date",
        pa.array(np.full(n, np.datetime64(feature_date, "D")), pa.date32()),
    )
    return table.set_column(
        table.schema.get_field_index("event_timestamp"),
        "event_timestamp",
        pa.array(np.full(n, np.datetime64(feature_date + timedelta(days=1), "us")), pa.timestamp("us")),
    )


def write_export(settings, table: pa.Table, feature_date: date) -> Path:
    path = settings.feature_export_file(feature_date)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def profile_settings(store_type: str, data_dir: Path, project: str):
    from bankmkt import features
    from bankmkt.runtime import apply_environment
    from bankmkt.settings import get_settings

    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["PLATFORM_ENV"] = "local" if store_type == "sqlite" else "prod"
    if store_type == "redis":  # the production profile refuses to start without its secrets: benchmark ones
        from bankmkt.settings import PRODUCTION_SECRETS

        for name in PRODUCTION_SECRETS:
            os.environ.setdefault(name, f"bench-{name.lower()}")
        os.environ.setdefault("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    settings = apply_environment(get_settings())
    return features.settings_for_project(project, data_dir / "feast_projects", settings, file_registry=True)


def quietly(function, *args):
    """Run without Feast's console output (apply lists every object, materialize draws progress bars)."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def redis_cpu(store) -> float:
    from bankmkt.feast_plugin import storage_kind

    if storage_kind(store.config) != "redis":
        return 0.0
    from bankmkt.feast_plugin import redis_client

    info = redis_client(store.config).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def timed_publish(settings, run, customers: int) -> dict:
    from bankmkt import features

    store = features.feature_store(settings)
    server_before = redis_cpu(store)
    wall, cpu = time.perf_counter(), time.process_time()
    quietly(run, store)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "customers": customers,
        "seconds": wall,
        "cpu": cpu,
        "server_cpu": redis_cpu(store) - server_before,
        "rate": customers / wall,
    }


def bench_store(store_type: str, args, workdir: Path) -> list[dict]:
    from bankmkt import features

    day = date(2024, 3, 15)
    token = uuid.uuid4().hex[:8]
    rows: list[dict] = []
    projects = []

    def fast(settings, feature_date):
        return lambda store: features.materialize_day(feature_date, settings, method="fast")

    def plain(settings, feature_date):
        return lambda store: features.materialize_day(feature_date, settings, method="plain")

    def history(settings, table):
        for back in range(1, args.history_days + 1):
            write_export(settings, restamp(table, day - timedelta(days=back)), day - timedelta(days=back))

    try:
        full = synthetic_partition(args.customers, day)
        if args.compare_plain:
            subset = min(args.compare_plain, args.customers)
            subset_dir = workdir / f"{store_type}-subset"
            for method in ("fast", "plain"):
                settings = profile_settings(store_type, subset_dir, f"bench_{method}_{token}")
                projects.append(settings)
                write_export(settings, full.slice(0, subset), day)
                history(settings, full.slice(0, subset))
                quietly(features.apply_feature_repo, settings)
                run = (fast if method == "fast" else plain)(settings, day)
                rows.append(
                    {"store": store_type, "method": method, "load": "first", **timed_publish(settings, run, subset)}
                )
                print(_row(rows[-1]), flush=True)

        settings = profile_settings(store_type, workdir / f"{store_type}-full", f"bench_full_{token}")
        projects.append(settings)
        write_export(settings, full, day)
        history(settings, full)
        quietly(features.apply_feature_repo, settings)
        rows.append(
            {
                "store": store_type,
                "method": "fast",
                "load": "first",
                **timed_publish(settings, fast(settings, day), args.customers),
            }
        )
        print(_row(rows[-1]), flush=True)
        next_day = day + timedelta(days=1)
        write_export(settings, synthetic_partition(args.customers, next_day, seed=8), next_day)
        rows.append(
            {
                "store": store_type,
                "method": "fast",
                "load": "update",
                **timed_publish(settings, fast(settings, next_day), args.customers),
            }
        )
        print(_row(rows[-1]), flush=True)

        if args.compare_plain:
            plain_rate = next(r["rate"] for r in rows if r["method"] == "plain")
            estimate = args.customers / plain_rate
            if args.customers > args.compare_plain and estimate > args.plain_cap:
                rows.append(
                    {
                        "store": store_type,
                        "method": "plain",
                        "load": "first (extrapolated)",
                        "customers": args.customers,
                        "seconds": estimate,
                        "cpu": float("nan"),
                        "server_cpu": float("nan"),
                        "rate": plain_rate,
                    }
                )
                print(
                    _row(rows[-1])
                    + f"  <- {estimate:.0f} s > {args.plain_cap:.0f} s cap: extrapolated from the subset rate",
                    flush=True,
                )
            elif args.customers > args.compare_plain:
                run_settings = profile_settings(store_type, workdir / f"{store_type}-full", f"bench_plain_{token}")
                projects.append(run_settings)
                quietly(features.apply_feature_repo, run_settings)
                rows.append(
                    {
                        "store": store_type,
                        "method": "plain",
                        "load": "first",
                        **timed_publish(run_settings, plain(run_settings, day), args.customers),
                    }
                )
                print(_row(rows[-1]), flush=True)
    finally:
        for settings in projects:
            try:
                quietly(features.remove_project, settings)
            except Exception as error:  # report, and go on cleaning the others
                print(f"cleanup of {settings.feature_store_yaml.name} failed: {error!r}", file=sys.stderr)
    return rows


def _row(r: dict) -> str:
    server = f"{r['server_cpu']:7.1f}" if r["server_cpu"] == r["server_cpu"] and r["store"] == "redis" else "      -"
    cpu = f"{r['cpu']:7.1f}" if r["cpu"] == r["cpu"] else "      -"
    return (
        f"{r['store']:<7}{r['method']:<7}{r['load']:<22}{r['customers']:>10,}"
        f"{r['seconds']:>10.1f}{cpu}{server}{r['rate']:>12,.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "redis", "both"), default="both")
    parser.add_argument(
        "--compare-plain",
        type=int,
        default=100_000,
        metavar="N",
        help="customers for the side-by-side run with store.materialize (0: skip)",
    )
    parser.add_argument(
        "--plain-cap",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="run plain on all customers only if the subset rate says it takes less",
    )
    parser.add_argument(
        "--history-days", type=int, default=0, metavar="N", help="earlier exported days beside the benchmark's"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bankmkt-bench-materialize-"))
    stores = ("sqlite", "redis") if args.store == "both" else (args.store,)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; DATA_DIR {workdir}")
    print(
        f"{'store':<7}{'method':<7}{'load':<22}{'customers':>10}{'seconds':>10}{'cpu':>7}{'server':>7}{'customers/s':>12}"
    )
    rows = []
    try:
        for store_type in stores:
            rows += bench_store(store_type, args, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    for store_type in stores:
        fast = [r for r in rows if r["store"] == store_type and r["method"] == "fast" and r["load"] == "first"]
        # Measured plain runs only (the subset, and all customers when that fitted under --plain-cap).
        for plain in [r for r in rows if r["store"] == store_type and r["method"] == "plain" and r["load"] == "first"]:
            same = [r for r in fast if r["customers"] == plain["customers"]]
            if same:
                print(
                    f"{store_type}: fast / plain on the same {plain['customers']:,} customers: "
                    f"{same[0]['rate'] / plain['rate']:.1f}x"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
