"""The first build of a warehouse over a long history: one dbt build against monthly slices.

    .venv/bin/python benchmarks/first_load.py --customers 20000 --days 180 [--slice-months 0 1] [--keep]
    make bench-first-load

Generates one synthetic bank (``generate_bank``, seed 42) and copies its landing files into one
DATA_DIR per variant (sharing one PII key, so the warehouses can be compared row for row). Each
variant then runs the warehouse's first build at the history's last day exactly as the platform
does, `python -m bankmkt.warehouse build --date D` in a child process, with
``WAREHOUSE_SLICE_MONTHS`` set to the variant (0: one build over the whole history, the behaviour
before the slices; 1: month by month, the default). The variants run one after another in this
one process, so they are measured side by side on the same load.

Per variant: wall seconds, CPU seconds and peak resident memory of the build (``wait4`` of the
child: its own and its waited-for descendants', that is the largest process, dbt), the slices
built, and the rows of the day-by-customer tables. The benchmark fails if the warehouses'
customer_features, customer_features_extended, int_customer_lifecycle_signals or churn_labels
differ between variants (EXCEPT ALL both ways).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

COMPARED = ("customer_features", "customer_features_extended", "int_customer_lifecycle_signals", "churn_labels")


def build(data_dir: Path, day: date, slice_months: int) -> dict:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "PLATFORM_ENV": "local",
        "WAREHOUSE_SLICE_MONTHS": str(slice_months),
    }
    env.pop("PII_HASH_KEY", None)
    log = data_dir / "build.log"
    began = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "bankmkt.warehouse", "build", "--date", day.isoformat()],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the build with WAREHOUSE_SLICE_MONTHS={slice_months} failed; see {log}")
    slices = [line.strip() for line in log.read_text().splitlines() if line.startswith("slice ")]
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "slices": slices,
    }


def rows(data_dir: Path) -> dict[str, int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return {table: con.execute(f"select count(*) from {table}").fetchall()[0][0] for table in COMPARED}


def differences(left: Path, right: Path) -> dict[str, int]:
    con = duckdb.connect()
    con.execute(f"attach '{left}' as l (read_only)")
    con.execute(f"attach '{right}' as r (read_only)")
    found = {}
    for table in COMPARED:
        count = sum(
            con.execute(
                f"select count(*) from (select * from {a}.main.{table} except all select * from {b}.main.{table})"
            ).fetchall()[0][0]
            for a, b in (("l", "r"), ("r", "l"))
        )
        if count:
            found[table] = count
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--days", type=int, default=180, help="days of history (the first build is at the last)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--slice-months", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIRs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from bankmkt.generator import generate_bank

    root = Path(tempfile.mkdtemp(prefix="bench_first_load_"))
    bank = root / "bank"
    day = args.start + timedelta(days=args.days - 1)
    print(f"generating {args.customers:,} customers x {args.days} days ({args.start}..{day}) into {bank}", flush=True)
    began = time.perf_counter()
    summary = generate_bank(
        customers=args.customers,
        days=args.days,
        start_date=args.start,
        seed=args.seed,
        data_dir=bank,
        progress=lambda _line: None,
    )
    landing_rows = sum(summary["rows"].values())
    print(f"generated {landing_rows:,} landing rows in {time.perf_counter() - began:.0f} s", flush=True)
    load_before = os.getloadavg()
    results = {}
    for months in args.slice_months:
        data_dir = root / f"slice_months_{months}"
        shutil.copytree(bank / "landing", data_dir / "landing")
        (data_dir / "secrets").mkdir(mode=0o700, parents=True)
        (data_dir / "secrets" / "pii_hash_key").write_text("bench-first-load\n")
        print(f"WAREHOUSE_SLICE_MONTHS={months}: first build at {day} ...", flush=True)
        results[months] = {**build(data_dir, day, months), "rows": rows(data_dir), "data_dir": str(data_dir)}
        figures = results[months]
        print(
            f"  {figures['wall_s']:.0f} s wall, {figures['cpu_s']:.0f} s CPU, peak {figures['peak_mb']:,.0f} MB, "
            f"{len(figures['slices'])} slice(s) before the day's build",
            flush=True,
        )
    load_after = os.getloadavg()

    reference = args.slice_months[0]
    for months in args.slice_months[1:]:
        found = differences(
            Path(results[reference]["data_dir"]) / "warehouse.duckdb",
            Path(results[months]["data_dir"]) / "warehouse.duckdb",
        )
        if found:
            raise SystemExit(f"WAREHOUSE_SLICE_MONTHS={months} built other rows than {reference}: {found}")

    print()
    print(
        f"{args.customers:,} customers, {args.days} days of history, {landing_rows:,} landing rows; first build at {day}"
    )
    print(
        f"load average before {load_before[0]:.2f} / {load_before[1]:.2f}, after {load_after[0]:.2f} / {load_after[1]:.2f}"
    )
    print()
    print("| WAREHOUSE_SLICE_MONTHS | slices before the day | wall s | CPU s | peak RSS MB | customer_features rows |")
    print("|---|---:|---:|---:|---:|---:|")
    for months, figures in results.items():
        print(
            f"| {months}{' (one build)' if months == 0 else ''} | {len(figures['slices'])} | {figures['wall_s']:.1f} | "
            f"{figures['cpu_s']:.1f} | {figures['peak_mb']:,.0f} | {figures['rows']['customer_features']:,} |"
        )
    print(f"\nthe variants' {', '.join(COMPARED)} hold the same rows")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2, default=str))
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
