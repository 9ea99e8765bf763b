"""Scheduler-driven days of the production profile: LocalExecutor against Celery workers, side by side.

For each executor: a synthetic bank in a DATA_DIR of its own, databases of its own on the local
PostgreSQL, the services started as processes (bankmkt.stack, the compose file's commands), then
the first day (full load) and the incremental days after it triggered through the REST API; each
daily run's monitoring asset schedules the training DAG, which the benchmark waits for too.

    python benchmarks/scheduler_day.py --customers 3000 --days 80 --incremental-days 2 --workers 2

Prints the wall seconds of each day (bank_daily, bank_training) and of the start-up, per executor.
Needs PostgreSQL and Redis on 127.0.0.1 (trust auth, as on the CI machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path


def run_executor(label: str, workers: int, args, root: Path) -> list[dict]:
    from bankmkt.generator import generate_bank
    from bankmkt.stack import ServiceStack, drop_databases, trial_environment

    data_dir = root / label
    start = date.fromisoformat(args.start_date)
    history = args.days - args.incremental_days
    print(f"[{label}] generating {args.customers} customers x {args.days} days into {data_dir}", flush=True)
    generate_bank(
        customers=args.customers, days=args.days, start_date=start, seed=11, data_dir=data_dir, contact_rate=0.15
    )
    prefix = f"bankmkt_bench_{label}_{os.getpid()}"
    env = trial_environment(data_dir, prefix, online_db=6 + bool(workers), broker_db=8)
    stack = ServiceStack(env, data_dir / "service-logs", celery_workers=workers, worker_concurrency=args.concurrency)
    rows = []
    clock = time.perf_counter()
    try:
        stack.start()
        rows.append(
            {
                "executor": label,
                "day": "start-up (init + services healthy)",
                "daily_s": round(time.perf_counter() - clock, 1),
                "training_s": None,
            }
        )
        for number in range(args.incremental_days + 1):
            day = start + timedelta(days=history - 1 + number)
            clock = time.perf_counter()
            daily = stack.wait_for_run("bank_daily", stack.trigger("bank_daily", day), timeout=3600)
            if daily["state"] != "success":
                raise SystemExit(f"[{label}] bank_daily failed for {day}; logs in {stack.log_dir}")
            training = stack.wait_for_triggered_run("bank_training", after=number, timeout=3600)
            rows.append(
                {
                    "executor": label,
                    "day": f"{day} ({'first load' if number == 0 else 'incremental'})",
                    "daily_s": round(stack.seconds(daily), 1),
                    "training_s": round(stack.seconds(training), 1),
                    "wall_s": round(time.perf_counter() - clock, 1),
                    "training_state": training["state"],
                }
            )
            print(f"[{label}] {rows[-1]}", flush=True)
    finally:
        stack.stop()
        import redis

        redis.Redis(db=6 + bool(workers)).flushdb()
        redis.Redis(db=8).flushdb()
        drop_databases(stack.settings)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=80)
    parser.add_argument("--incremental-days", type=int, default=2)
    parser.add_argument("--start-date", default="2024-01-01")
    parser.add_argument(
        "--workers", type=int, default=2, help="Celery workers (the first also takes the warehouse queue)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="task slots per Celery worker")
    parser.add_argument("--executors", nargs="+", choices=("local", "celery"), default=["local", "celery"])
    parser.add_argument("--keep", action="store_true", help="keep the DATA_DIRs (their service logs)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-scheduler-"))
    rows = []
    failed = False
    try:
        for executor in args.executors:
            rows += run_executor(executor, args.workers if executor == "celery" else 0, args, root)
    except BaseException:
        failed = True
        raise
    finally:
        if failed or args.keep:
            print(f"DATA_DIRs and service logs kept in {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    load = os.getloadavg()
    print(f"\n{args.customers} customers, {args.days} days; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("| executor | day | bank_daily s | bank_training s | day wall s |\n|---|---|---|---|---|")
    for row in rows:
        label = row["executor"] if row["executor"] == "local" else f"celery x{args.workers}"
        print(
            f"| {label} | {row['day']} | {row['daily_s']} | {row.get('training_s') or ''} | {row.get('wall_s') or ''} |"
        )


if __name__ == "__main__":
    main()
