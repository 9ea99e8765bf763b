"""How the landing contract check scales with history: first load of N days on a fresh DATA_DIR.

    .venv/bin/python benchmarks/contract_check.py --customers 3000 --days 120
    .venv/bin/python benchmarks/contract_check.py --berka [--berka-dir P]
    .venv/bin/python benchmarks/contract_check.py --landing P/landing   # landing files made earlier

Gets a landing history (the synthetic bank's generator, the Berka adapter, or
an existing ``landing`` folder; ``--keep P`` keeps the generated one in ``P`` and
reuses it on the next run), links it into a throw-away DATA_DIR with nothing
accepted, then checks every day in date order exactly as the daily run's first
task does on a new DATA_DIR (``bankmkt.pipeline.check_landing``: one
``enforce_landing_contract`` call per landed day, oldest first, each recorded in
the ledger and the key index before the next). Generating or converting the
landing files is not timed.

Prints the cost of a day at the start and at the end of the history (mean of
the ``--window`` days after the first, whose check also pays the process's
one-time imports, and of the last ``--window`` days; wall and CPU time of this
process and its threads, CPU being steadier on a shared machine), their ratio
(about 1 or below when the cost is flat), the slowest day and the total. ``--pipeline`` times the real
``bankmkt.pipeline.check_landing(last day)`` instead (total only). ``--json P``
writes every day's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.append(str(ROOT / "src"))  # after PYTHONPATH, so another checkout can be measured


def generate(customers: int, days: int, start: date, seed: int, data_dir: Path) -> Path:
    from bankmkt.generator.run import generate_bank

    summary = generate_bank(
        customers=customers, days=days, start_date=start, seed=seed, data_dir=data_dir, write_truth=False
    )
    print(f"generated {days} days of {customers} customers in {summary['seconds']:.1f} s", flush=True)
    return data_dir / "landing"


def convert_berka(berka_dir: str | None, data_dir: Path) -> Path:
    from bankmkt.adapters.berka import convert_berka

    summary = convert_berka(berka_dir, data_dir)
    print(f"converted Berka: {summary['days']} days in {summary['seconds']:.1f} s", flush=True)
    return data_dir / "landing"


def link_tree(source: Path, target: Path) -> None:
    """Hard-link (or copy, across file systems) every file of ``source`` into ``target``."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


def landed(settings) -> list[date]:
    from bankmkt.contract.schema import landed_days, load_contract

    days: set[date] = set()
    for source in load_contract():
        days |= set(landed_days(settings, source))
    return sorted(days)


def check_all(settings, days: list[date], progress_every: int) -> list[dict]:
    """``enforce_landing_contract`` on every day, oldest first, as the pipeline calls it."""
    from bankmkt.contract import enforce_landing_contract

    figures = []
    for number, day in enumerate(days, start=1):
        wall, cpu = time.perf_counter(), time.process_time()
        report = enforce_landing_contract(day, settings)
        figures.append(
            {
                "day": day.isoformat(),
                "wall": time.perf_counter() - wall,
                "cpu": time.process_time() - cpu,
                "rows": sum(report.rows_per_source.values()),
            }
        )
        if progress_every and number % progress_every == 0:
            print(f"  day {number}/{len(days)} {day}: {figures[-1]['wall']:.3f} s", flush=True)
    return figures


def summarise(figures: list[dict], window: int, total_wall: float) -> str:
    """Day 1 apart (it pays the process's one-time imports), then the next and the last ``window`` days."""
    later = figures[1:] or figures
    window = max(1, min(window, len(later) // 2 or 1))
    head, tail = later[:window], later[-window:]

    def mean(rows: list[dict], key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    slowest = max(later, key=lambda r: r["wall"])
    lines = [
        f"days checked          {len(figures)} ({figures[0]['day']} .. {figures[-1]['day']}), "
        f"{sum(r['rows'] for r in figures):,} rows",
        f"day 1 (imports)       wall {figures[0]['wall']:.3f} s  cpu {figures[0]['cpu']:.3f} s",
        f"days 2-{window + 1}, per day    wall {mean(head, 'wall'):.3f} s  cpu {mean(head, 'cpu'):.3f} s",
        f"last {window} days, per day  wall {mean(tail, 'wall'):.3f} s  cpu {mean(tail, 'cpu'):.3f} s",
        f"end / start           wall x{mean(tail, 'wall') / mean(head, 'wall'):.2f}  "
        f"cpu x{mean(tail, 'cpu') / max(mean(head, 'cpu'), 1e-9):.2f}",
        f"median day            wall {statistics.median(r['wall'] for r in figures):.3f} s",
        f"slowest later day     {slowest['day']}: {slowest['wall']:.3f} s ({slowest['rows']:,} rows)",
        f"total                 wall {total_wall:.1f} s  cpu {sum(r['cpu'] for r in figures):.1f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--berka", action="store_true", help="the Berka bank (454 days) instead of the generator")
    what.add_argument("--landing", type=Path, help="an existing landing folder to check (it is not changed)")
    parser.add_argument("--berka-dir", default=None, help="folder of Berka's .asc files (default: the setting)")
    parser.add_argument("--customers", type=int, default=3000, help="generator: customers on the first day")
    parser.add_argument("--days", type=int, default=120, help="generator: days of history")
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2024, 1, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the generated/converted landing files in this folder and reuse them next time",
    )
    parser.add_argument("--window", type=int, default=20, help="days averaged at the start and at the end")
    parser.add_argument(
        "--pipeline", action="store_true", help="time bankmkt.pipeline.check_landing(last day) (total only)"
    )
    parser.add_argument("--progress", type=int, default=0, help="print every Nth day")
    parser.add_argument("--json", type=Path, default=None, help="write every day's figures here")
    args = parser.parse_args(argv)

    from bankmkt.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="bankmkt-contract-bench-") as scratch:
        scratch = Path(scratch)
        if args.landing:
            landing = args.landing.resolve()
        elif args.keep and (args.keep / "landing").is_dir():
            landing = (args.keep / "landing").resolve()
            print(f"reusing {landing}", flush=True)
        else:
            store = args.keep.resolve() if args.keep else scratch / "source"
            if args.berka:
                landing = convert_berka(args.berka_dir, store)
            else:
                landing = generate(args.customers, args.days, args.start_date, args.seed, store)

        data_dir = scratch / "data"
        settings = replace(get_settings(), data_dir=data_dir)
        settings.ensure_dirs()
        settings.landing_dir.rmdir()
        link_tree(landing, settings.landing_dir)
        days = landed(settings)
        print(f"checking {len(days)} days on a fresh DATA_DIR ({data_dir})", flush=True)

        if args.pipeline:
            os.environ["DATA_DIR"] = str(data_dir)
            from bankmkt import pipeline

            started = time.perf_counter()
            result = pipeline.check_landing(days[-1])
            print(f"pipeline.check_landing: {result} in {time.perf_counter() - started:.1f} s")
            return 0

        started = time.perf_counter()
        figures = check_all(settings, days, args.progress)
        total = time.perf_counter() - started
        print(summarise(figures, args.window, total))
        if args.json:
            args.json.write_text(json.dumps({"total_wall": total, "days": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
