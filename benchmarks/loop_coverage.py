"""Measured uplift against the simulator's true uplift, over simulated weeks of campaigns.

    .venv/bin/python benchmarks/loop_coverage.py                           # 20,000 customers, 8 weeks
    .venv/bin/python benchmarks/loop_coverage.py --customers 5000 --loop-days 42 --capacity 100

A bank is generated into a throw-away DATA_DIR with ``loop_days``; marketing's catalogue
gets campaign waves (``bankmkt.campaigns.wave_catalogue``); every day a random policy
publishes lists through the platform's own targeting and the simulator executes them
(``bankmkt.generator.policies.run_policy_loop``); the warehouse is then built once with
dbt and ``campaign_effectiveness`` is compared with the truth
(``bankmkt.effectiveness.truth_comparison``). Prints measured and true uplift per
campaign, and per grain the share of cells whose 95% interval covers the true uplift.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--history-days", type=int, default=40)
    parser.add_argument("--loop-days", type=int, default=56)
    parser.add_argument("--capacity", type=int, default=400, help="contacts a day per campaign (all channels)")
    parser.add_argument("--control-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", default=None, help="DATA_DIR to use and keep (default: a temporary one)")
    args = parser.parse_args()

    from bankmkt import warehouse
    from bankmkt.campaigns import wave_catalogue, write_catalogue
    from bankmkt.effectiveness import truth_comparison
    from bankmkt.generator import generate_bank
    from bankmkt.generator.policies import run_policy_loop
    from bankmkt.settings import get_settings

    root = Path(args.keep or tempfile.mkdtemp(prefix="bench-loop-"))
    settings = dataclasses.replace(get_settings(), platform_env="local", data_dir=root)
    start = date(2024, 1, 1)
    first = start + timedelta(days=args.history_days - 1)
    last = first + timedelta(days=args.loop_days)
    began = time.perf_counter()
    generate_bank(
        customers=args.customers,
        days=args.history_days,
        start_date=start,
        seed=args.seed,
        data_dir=root,
        loop_days=args.loop_days,
    )
    write_catalogue(
        wave_catalogue(first, args.loop_days, args.capacity, control_share=args.control_share),
        settings.campaign_catalogue_file,
    )
    print(
        f"bank of {args.customers:,} customers generated in {time.perf_counter() - began:.0f}s; "
        f"{args.loop_days} days of loop from {first} in {root}",
        flush=True,
    )
    began = time.perf_counter()
    run_policy_loop(
        settings, first, args.loop_days, seed=args.seed, progress=lambda line: print("  " + line, flush=True)
    )
    print(f"loop simulated in {time.perf_counter() - began:.0f}s", flush=True)
    began = time.perf_counter()
    saved = dict(os.environ)
    summary = warehouse.build_warehouse(last, full_refresh=True, settings=settings)
    os.environ.clear()
    os.environ.update(saved)
    if summary["failures"]:
        print(f"dbt failed: {summary['failures']}")
        return 1
    print(f"warehouse built in {time.perf_counter() - began:.0f}s; load average {os.getloadavg()[0]:.1f}\n")

    campaigns = truth_comparison(settings, grain="campaign")
    print("Per campaign (percentage points; contacts whose response window closed):")
    print(f"{'campaign':<16} {'contacted':>9} {'control':>8} {'measured':>9} {'95% interval':>17} {'true':>7}  covers")
    for row in campaigns.itertuples():
        print(
            f"{row.campaign_id:<16} {row.treated_contacts:>9,} {row.control_contacts:>8,} {row.uplift * 100:>+9.2f} "
            f"[{row.uplift_ci_low * 100:>+6.2f}, {row.uplift_ci_high * 100:>+6.2f}] {row.true_uplift * 100:>+7.2f}  "
            f"{'yes' if row.covered else 'NO'}"
        )
    print("\nCoverage of the 95% intervals (share of cells whose interval holds the true uplift):")
    for grain in ("campaign", "campaign_segment", "campaign_channel", "campaign_week"):
        cells = truth_comparison(settings, grain=grain)
        width = (cells["uplift_ci_high"] - cells["uplift_ci_low"]).median() * 100
        print(
            f"  {grain:<18} {cells['covered'].mean() * 100:5.1f}% of {len(cells):>4} cells "
            f"(median interval width {width:.1f} points)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
