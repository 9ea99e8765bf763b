"""Propensity models against the truth: holdout AUC / oracle AUC on synthetic banks.

    .venv/bin/python benchmarks/oracle_ratio.py                      # the six banks of docs/models.md
    .venv/bin/python benchmarks/oracle_ratio.py --banks 5000:0.01:101 3000:0.03:102
    .venv/bin/python benchmarks/oracle_ratio.py --cache /tmp/oracle_banks --json /tmp/after.json

Each bank (``customers:contact_rate:seed``, 75 days from 2024-01-01) is
generated with ``bankmkt.generator.generate_bank`` into a throw-away DATA_DIR,
then run through the platform's stages for run date 2024-03-15 as a first run
does: ``check_landing`` (the whole history), a full-refresh ``dbt build``,
``publish_features`` and ``train_models``, which trains every product on the
Feast service ``propensity_v2`` and records ``oracle_comparison`` (the model's
and the true probabilities' AUC on the same holdout contacts). Each bank runs
in its own child process, one after the other (one heavy job at a time).

``--cache DIR`` keeps the generated landing files and truth in DIR and copies
them into each fresh DATA_DIR, so a before/after comparison measures the same
banks without generating them again (the generator is deterministic anyway).
Prints one row per bank and product and the mean ratio per product; the load
average is printed beside the timings, which move with it.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

START = "2024-01-01"
DAYS = 75
RUN_DATE = "2024-03-15"
DEFAULT_BANKS = (
    "5000:0.01:101",
    "3000:0.03:102",
    "4000:0.02:103",
    "3500:0.015:104",
    "4000:0.03:105",
    "5000:0.02:106",
)


def run_bank(spec: str, cache: Path | None) -> dict:
    """Generate (or copy from the cache) one bank into DATA_DIR, run the stages, return the oracle rows."""
    from bankmkt import pipeline, warehouse
    from bankmkt.generator import generate_bank
    from bankmkt.runtime import apply_environment, parse_run_date

    customers, contact_rate, seed = spec.split(":")
    settings = apply_environment()
    timings = {}
    started = time.perf_counter()
    cached = cache / spec.replace(":", "_") if cache else None
    if cached and (cached / "landing").exists():
        shutil.copytree(cached / "landing", settings.landing_dir, dirs_exist_ok=True)
        shutil.copytree(cached / "truth", settings.truth_dir, dirs_exist_ok=True)
    else:
        generate_bank(
            customers=int(customers),
            days=DAYS,
            start_date=START,
            seed=int(seed),
            data_dir=settings.data_dir,
            contact_rate=float(contact_rate),
        )
        if cached:
            shutil.copytree(settings.landing_dir, cached / "landing", dirs_exist_ok=True)
            shutil.copytree(settings.truth_dir, cached / "truth", dirs_exist_ok=True)
    timings["generate"] = time.perf_counter() - started
    day = parse_run_date(RUN_DATE)
    for stage, call in (
        ("check_landing", lambda: pipeline.check_landing(day)),
        ("build_warehouse", lambda: warehouse.build_warehouse(day, full_refresh=True, settings=settings)),
        ("publish_features", lambda: pipeline.publish_features(day)),
        ("train_models", lambda: pipeline.train_models(day)),
    ):
        started = time.perf_counter()
        result = call()
        timings[stage] = time.perf_counter() - started
    return {
        "bank": spec,
        "oracle": result["oracle"],
        "training_rows": result["training_rows"],
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--banks", nargs="+", default=list(DEFAULT_BANKS), help="customers:contact_rate:seed per bank")
    parser.add_argument("--cache", type=Path, help="keep generated landing files and truth here")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--one-bank", help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args(argv)

    if args.one_bank:
        print("RESULT " + json.dumps(run_bank(args.one_bank, args.cache), default=str), flush=True)
        return 0

    rows = []
    for spec in args.banks:
        with tempfile.TemporaryDirectory(prefix="oracle_bank_") as data_dir:
            command = [sys.executable, __file__, "--one-bank", spec]
            if args.cache:
                command += ["--cache", str(args.cache)]
            completed = subprocess.run(
                command, env={**os.environ, "DATA_DIR": data_dir}, capture_output=True, text=True
            )
            lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
            if completed.returncode != 0 or not lines:
                print(completed.stdout[-3000:], completed.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"bank {spec} failed")
            bank = json.loads(lines[-1].removeprefix("RESULT "))
        print(
            f"bank {spec}: {bank['training_rows']} training contacts, seconds {bank['seconds']}, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for row in bank["oracle"]:
            rows.append({"bank": spec, **row})
            if row["auc_ratio"] is None:  # e.g. too few conversions to train or to compare
                print(f"  {row['product_code']:<18} {row['note']}", flush=True)
                continue
            print(
                f"  {row['product_code']:<18} holdout {row['holdout_rows']:.0f} "
                f"({row['holdout_positives']:.0f} conv)  model {row['model_roc_auc']:.3f}  "
                f"oracle {row['oracle_roc_auc']:.3f}  ratio {row['auc_ratio']:.3f}",
                flush=True,
            )

    print("\nmean AUC / oracle AUC over the banks:")
    products = dict.fromkeys(row["product_code"] for row in rows)
    for product in products:
        ratios = [row["auc_ratio"] for row in rows if row["product_code"] == product and row["auc_ratio"] is not None]
        if not ratios:
            continue
        print(f"  {product:<18} {sum(ratios) / len(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
