"""Command line: ``python -m bankmkt.generator --customers N --days D --start-date YYYY-MM-DD --seed S``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from bankmkt.generator.run import DEFAULT_CONTACT_RATE, generate_bank
from bankmkt.runtime import progress


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.generator",
        description="Simulate a retail bank day by day and write its landing files "
        "(and, by default, the ground truth) under the data directory.",
    )
    parser.add_argument("--customers", type=int, required=True, help="customers on the first day")
    parser.add_argument("--days", type=int, required=True, help="number of days to simulate")
    parser.add_argument(
        "--start-date", type=dt.date.fromisoformat, required=True, help="first simulated day, YYYY-MM-DD"
    )
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--contact-rate",
        type=float,
        default=DEFAULT_CONTACT_RATE,
        help=f"share of eligible customers each active campaign selects per day (default {DEFAULT_CONTACT_RATE})",
    )
    parser.add_argument(
        "--truth",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the ground truth Parquet files under <data-dir>/truth (default on)",
    )
    parser.add_argument("--data-dir", default=None, help="root of the platform's state (default: the DATA_DIR setting)")
    args = parser.parse_args(argv)
    summary = generate_bank(
        customers=args.customers,
        days=args.days,
        start_date=args.start_date,
        seed=args.seed,
        data_dir=args.data_dir,
        contact_rate=args.contact_rate,
        write_truth=args.truth,
        progress=progress(args.days, "generating", unit="day"),
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
