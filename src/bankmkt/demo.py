"""`make demo`: a synthetic bank, the daily DAG over its last days, and a summary."""

from __future__ import annotations

import time
from datetime import date, timedelta

from bankmkt.runtime import apply_environment


def run_demo(customers: int, days: int, start_date: date, seed: int, run_days: int) -> None:
    from bankmkt.cli import run_days as run_dag_days
    from bankmkt.cli import summary_text
    from bankmkt.generator import generate_bank

    settings = apply_environment()
    started = time.perf_counter()
    last_day = start_date + timedelta(days=days - 1)
    if any(settings.landing_dir.glob("*/dt=*")):
        print(f"[demo] landing files already in {settings.landing_dir}: keeping them (make clean to start over)")
    else:
        print(f"[demo] generating a bank of {customers} customers over {days} days from {start_date}", flush=True)
        generate_bank(customers=customers, days=days, start_date=start_date, seed=seed, data_dir=settings.data_dir)
    generated = time.perf_counter() - started
    first_run = last_day - timedelta(days=run_days - 1)
    timings = run_dag_days(first_run, last_day)
    total = time.perf_counter() - started

    print("\n" + "=" * 78)
    print(f"Demo finished in {total:.0f}s (generator {generated:.0f}s, "
          + ", ".join(f"{t['run_date']} {t['seconds']:.0f}s" for t in timings) + ")")
    print(summary_text(last_day, settings))
    print(f"""
Where things are (DATA_DIR={settings.data_dir}):
  landing files      {settings.landing_dir}
  warehouse          {settings.warehouse_path}
  data quality docs  {settings.data_docs_dir / 'index.html'}
  quality summaries  {settings.reports_dir / 'quality'}
  feature export     {settings.feature_export_dir}
  online store       {settings.feast_online_path}
  target lists       {settings.outputs_dir / 'target_lists'}
  churn risk         {settings.outputs_dir / 'churn_risk'}
  model reports      {settings.reports_dir / 'runs'}
  run records        {settings.runs_dir}

Open the UIs on this data:
  make airflow-ui    Airflow (airflow standalone) on http://localhost:8080
  make mlflow-ui     MLflow on http://localhost:5000
  make serve         online features over HTTP on http://127.0.0.1:6566 (OpenAPI at /docs)
  make run DATE={(last_day + timedelta(days=1)).isoformat()} would need that day's landing files first.""")
