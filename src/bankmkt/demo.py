"""`make demo`: a synthetic bank, then the closed campaign loop over simulated weeks, and a summary.

The bank's history is generated first (its own campaigns give the first training
labels). From its last day D0 on, each day the platform runs the daily DAG for D, the
bank (:mod:`bankmkt.generator.simulator`) executes the lists published for D and
simulates D + 1, whose landing files the next run reads: target, contact, respond,
measure, learn. Each day's training DAG retrains only the models a trigger names (no
champion, label surplus, drift, decay); the summary lists which fired on which day. The
DAGs first run for the day before D0 (history only), so that D0 already has champions. Marketing's catalogue for the loop is written once (campaign waves per
product, :func:`bankmkt.campaigns.wave_catalogue`) unless DATA_DIR already has one.
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

from bankmkt.runtime import apply_environment, progress


def run_demo(customers: int, days: int, start_date: date, seed: int, loop_days: int) -> None:
    from bankmkt.campaigns import wave_catalogue, write_catalogue
    from bankmkt.cli import run_days as run_dag_days
    from bankmkt.effectiveness import write_effectiveness_report
    from bankmkt.generator import generate_bank
    from bankmkt.generator.simulator import step

    settings = apply_environment()
    started = time.perf_counter()
    first_day = start_date + timedelta(days=days - 1)
    if any(settings.landing_dir.glob("*/dt=*")):
        print(f"[demo] landing files already in {settings.landing_dir}: keeping them (make clean to start over)")
        return _summary(settings, first_day, [], started, 0.0)
    print(
        f"[demo] generating a bank of {customers} customers over {days} days from {start_date}, "
        f"then {loop_days} days of closed loop",
        flush=True,
    )
    generate_bank(
        customers=customers,
        days=days,
        start_date=start_date,
        seed=seed,
        data_dir=settings.data_dir,
        loop_days=loop_days,
        progress=progress(days, "generating", unit="day") if sys.stderr.isatty() else None,
    )
    if not settings.campaign_catalogue_file.exists():
        capacity = max(10, customers // 150)
        write_catalogue(wave_catalogue(first_day, loop_days + 1, capacity), settings.campaign_catalogue_file)
        print(
            f"[demo] campaign catalogue: waves of 14 days per product, {capacity} contacts a day each "
            f"-> {settings.campaign_catalogue_file}",
            flush=True,
        )
    generated = time.perf_counter() - started
    print(
        f"[demo] {first_day - timedelta(days=1)}: the DAGs on history alone, to train the first champions", flush=True
    )
    timings = run_dag_days(first_day - timedelta(days=1), first_day - timedelta(days=1))
    for offset in range(loop_days + 1):
        day = first_day + timedelta(days=offset)
        timings += run_dag_days(day, day)
        if offset < loop_days:
            executed = step(day, settings)
            print(
                f"[loop] {day}'s lists executed on {executed['simulated_day']}: {executed['contacts']} contacts "
                f"({executed['delivered']} delivered), {executed['controls']} held out; responses that day "
                f"{executed['responses']}",
                flush=True,
            )
    report = write_effectiveness_report(first_day + timedelta(days=loop_days), settings)
    _summary(settings, first_day + timedelta(days=loop_days), timings, started, generated, report)


def _summary(settings, last_day: date, timings: list, started: float, generated: float, report=None) -> None:
    from bankmkt.cli import summary_text

    total = time.perf_counter() - started
    print("\n" + "=" * 78)
    if timings:
        per_day = sum(t["seconds"] for t in timings) / len(timings)
        print(
            f"Demo finished in {total:.0f}s (generator {generated:.0f}s, {len(timings)} daily runs, "
            f"{per_day:.0f}s a day on average)"
        )
    print(summary_text(last_day, settings))
    print(retraining_summary(settings))
    print(f"""
Where things are (DATA_DIR={settings.data_dir}):
  effectiveness      {report or settings.effectiveness_report_dir / "index.html"}   <- open this first
  campaign catalogue {settings.campaign_catalogue_file}
  landing files      {settings.landing_dir}
  warehouse          {settings.warehouse_path}
  data quality docs  {settings.data_docs_dir / "index.html"}
  quality summaries  {settings.quality_reports_dir}
  feature export     {settings.feature_export_dir}
  online store       {settings.feast_online_path}
  target lists       {settings.target_lists_dir}
  customer lookup    {settings.customer_lookup_root}   (customer_key -> customer number, owner only)
  churn risk         {settings.churn_risk_dir()}
  model reports      {settings.run_reports_dir}
  run records        {settings.runs_dir}
  simulator state    {settings.simulator_dir}

Open the UIs on this data:
  make airflow-ui    Airflow (airflow standalone) on http://localhost:8080
  make mlflow-ui     MLflow on http://localhost:5000
  make serve         online features over HTTP on http://127.0.0.1:6566 (OpenAPI at /docs)""")


def retraining_summary(settings) -> str:
    """One line per day: the models the training DAG retrained and the triggers that fired, or none needed."""
    import json

    lines = ["Retraining decided by data (bank_training DAG, one line per day):"]
    for path in sorted(settings.runs_dir.glob("dt=*/decide_retraining.json")):
        result = json.loads(path.read_text())["result"]
        day = path.parent.name.removeprefix("dt=")
        fired = [d for d in result["decisions"] if d["retrain"]]
        if not fired:
            lines.append(f"  {day}  none needed ({len(result['decisions'])} models checked, no trigger fired)")
            continue
        triggers = {}
        for decision in fired:
            for name in decision["fired"]:
                triggers.setdefault(name, []).append(decision["model_name"])
        lines.append(
            f"  {day}  training triggered for {len(fired)}: "
            + "; ".join(f"{name}: {', '.join(models)}" for name, models in triggers.items())
        )
    return "\n".join(lines) if len(lines) > 1 else "No retraining decision recorded yet."
