"""Batch scoring with reasons for every customer: `ml.scoring.score_customers` at N rows.

    .venv/bin/python benchmarks/scoring.py --rows 1000000 --repeat 3
    .venv/bin/python benchmarks/scoring.py --rows 1000000 --data-dir /tmp/bank --product credit_card
    .venv/bin/python benchmarks/scoring.py --rows 100000 --method treeshap    # LightGBM's TreeSHAP, for comparison

Gets a champion, builds a scoring frame of N customers with the model's 27
feature columns, then times the real call the daily run makes,
``score_customers(frame, product, features, D, settings)``: resolve and load
``models:/<name>@champion`` from MLflow, calibrated propensity, Saabas
contributions and the formatted top-3 reasons for every row. Each repeat
loads the champion again (nothing is cached between repeats).

The champion is either trained here, in a throw-away DATA_DIR, on a synthetic
contact history with a known signal (the platform's training code and
parameters, so its size is that of a real model), or (``--data-dir``) the
champion of ``--product`` in an existing DATA_DIR (e.g. a synthetic bank after
a run), whose latest exported feature partition is resampled to N rows.

Prints, per repeat, wall and CPU seconds of this process and rows per second,
then the min-max range. CPU time is steadier than wall time on a shared
machine; the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

RUN_DATE = "2024-03-15"


def synthetic_customers(rows: int, feature_columns: list[str], seed: int) -> pd.DataFrame:
    """Customers with plausible feature values; conversion driven by a few of them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in feature_columns})
    frame["age"] = rng.integers(18, 90, rows).astype(float)
    frame["tenure_days"] = rng.gamma(1.4, 2500, rows).round()
    frame["monthly_income"] = rng.lognormal(7.4, 0.5, rows).round(2)
    frame["balance_total"] = rng.lognormal(8.5, 1.5, rows).round(2)
    frame["digital_logins_30d"] = rng.poisson(6, rows).astype(float)
    frame["product_views_30d"] = rng.poisson(1.5, rows).astype(float)
    frame["txn_count_30d"] = rng.poisson(20, rows).astype(float)
    for flag in (
        "is_female",
        "has_marketing_consent",
        "has_credit_card",
        "has_personal_loan",
        "has_term_deposit",
        "has_wealth_management",
        "has_mortgage",
    ):
        frame[flag] = (rng.random(rows) < 0.4).astype(float)
    frame.loc[rng.random(rows) < 0.1, "last_nps"] = np.nan
    frame.insert(0, "customer_id", [f"C{i:07d}" for i in range(rows)])
    return frame


def train_synthetic_champion(product: str, feature_columns: list[str], contacts: int, seed: int, settings) -> dict:
    """Train and register ``product``'s champion on a synthetic contact history (platform code and parameters)."""
    from ml.training import train_and_register

    rng = np.random.default_rng(seed)
    frame = synthetic_customers(contacts, feature_columns, seed)
    z = lambda column: (frame[column] - frame[column].mean()) / frame[column].std()  # noqa: E731
    logit = (
        -2.6
        + 0.6 * z("digital_logins_30d")
        + 0.5 * z("product_views_30d")
        + 0.4 * np.log(frame["balance_total"]).sub(8.5)
        - 0.3 * z("age")
        + 0.3 * z("txn_count_30d")
    )
    frame["label"] = (rng.random(contacts) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["contact_id"] = [f"CT{i:09d}" for i in range(contacts)]
    frame["product_code"] = product
    frame["is_control"] = False
    frame["event_timestamp"] = pd.Timestamp(RUN_DATE, tz="UTC") - pd.to_timedelta(
        rng.uniform(0, 75, contacts), unit="D"
    )
    result = train_and_register(frame, product, RUN_DATE, feature_columns, settings)
    if result["status"] != "trained":
        raise SystemExit(f"training the benchmark champion failed: {result}")
    return result


def existing_customers(settings, rows: int, seed: int) -> pd.DataFrame:
    """The latest exported feature partition of ``settings``' DATA_DIR, resampled to ``rows`` customers."""
    partitions = sorted(settings.feature_export_dir.glob("dt=*/*.parquet"))
    if not partitions:
        raise SystemExit(f"no exported features under {settings.feature_export_dir}")
    base = pd.read_parquet(partitions[-1])
    picked = base.iloc[np.random.default_rng(seed).integers(0, len(base), rows)].reset_index(drop=True)
    picked["customer_id"] = [f"C{i:07d}" for i in range(rows)]
    print(f"customers resampled from {partitions[-1]} ({len(base):,} rows)", flush=True)
    return picked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--product", default="credit_card")
    parser.add_argument("--method", choices=("saabas", "treeshap"), default="saabas")
    parser.add_argument("--data-dir", type=Path, help="use this DATA_DIR's champion and features")
    parser.add_argument("--contacts", type=int, default=6000, help="synthetic training contacts (no --data-dir)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    scratch = None
    if args.data_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="scoring_bench_")
        os.environ["DATA_DIR"] = scratch.name
    else:
        os.environ["DATA_DIR"] = str(args.data_dir)
    os.environ.setdefault("PLATFORM_ENV", "local")

    from bankmkt.settings import get_settings
    from ml import DEFAULT_FEATURE_COLUMNS
    from ml.scoring import load_champion, score_customers

    settings = get_settings()
    feature_columns = list(DEFAULT_FEATURE_COLUMNS)
    if args.data_dir is None:
        started = time.perf_counter()
        train_synthetic_champion(args.product, feature_columns, args.contacts, args.seed, settings)
        print(f"trained a synthetic champion in {time.perf_counter() - started:.1f} s", flush=True)
        customers = synthetic_customers(args.rows, feature_columns, args.seed + 1)
    else:
        customers = existing_customers(settings, args.rows, args.seed)
    name, version, model = load_champion(args.product, settings)
    if model is None:
        raise SystemExit(f"{name} has no champion in {settings.data_dir}")
    feature_columns = model.feature_columns
    print(
        f"{name} v{version}: {model.booster.num_trees()} trees, "
        f"{model.booster.dump_model()['tree_info'][0]['num_leaves']} leaves in the first; "
        f"{args.rows:,} customers x {len(feature_columns)} features, reasons by {args.method}",
        flush=True,
    )

    reason_rows = None
    if args.method == "treeshap":
        # TreeSHAP explains only customers who can be offered the product: make everyone
        # eligible, so that both methods explain every row.
        reason_rows = args.rows
        customers = customers.assign(has_marketing_consent=1.0, **{f"has_{args.product}": 0.0})
    figures = []
    for attempt in range(1, args.repeat + 1):
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        scores = score_customers(
            customers,
            args.product,
            feature_columns,
            RUN_DATE,
            settings,
            reason_rows=reason_rows,
            reason_method=args.method,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        explained = scores["reason_1"].notna().mean()
        figures.append((wall, cpu))
        print(
            f"[{attempt}/{args.repeat}] {wall:6.1f} s wall, {cpu:6.1f} s cpu, "
            f"{args.rows / wall:10,.0f} rows/s; {explained:.1%} of rows with a first reason; "
            f"load average {load:.1f}",
            flush=True,
        )
    walls, cpus = [w for w, _ in figures], [c for _, c in figures]
    print(
        f"{args.rows:,} rows: {min(walls):.1f}-{max(walls):.1f} s wall "
        f"({args.rows / max(walls):,.0f}-{args.rows / min(walls):,.0f} rows/s), "
        f"{min(cpus):.1f}-{max(cpus):.1f} s cpu"
    )
    print("example:", scores.loc[0, ["propensity", "reason_1", "reason_2", "reason_3"]].to_dict())
    if scratch is not None:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
