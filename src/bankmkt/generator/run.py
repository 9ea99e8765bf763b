"""Generate the synthetic bank's landing files (and its ground truth) for a span of days."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bankmkt.generator.bank import SyntheticBank
from bankmkt.generator.catalogue import SOURCES
from bankmkt.generator.landing import write_landing_csv
from bankmkt.runtime import parse_run_date
from bankmkt.settings import Settings, get_settings

DEFAULT_CONTACT_RATE = 0.01


def _settings_for(data_dir: Path | str | None) -> Settings:
    """The platform settings, pointed at another data directory when one is given."""
    settings = get_settings()
    if data_dir is None:
        return settings
    return dataclasses.replace(settings, data_dir=Path(data_dir).expanduser().resolve())


def generate_bank(
    customers: int,
    days: int,
    start_date: dt.date | str,
    seed: int,
    data_dir: Path | str | None = None,
    contact_rate: float = DEFAULT_CONTACT_RATE,
    write_truth: bool = True,
    control_share: float | None = None,
    progress: Callable[[str], None] | None = None,
    loop_days: int = 0,
) -> dict:
    """Simulate ``days`` days of a bank of ``customers`` customers and land every delivery.

    Writes ``landing/<source>/dt=YYYY-MM-DD/<source>.csv`` for every source and
    day under the data directory (``settings.landing_dir``; files of the same
    days are overwritten), and with ``write_truth`` the ground truth Parquet files
    under ``settings.truth_dir``. The same arguments give byte-identical landing
    files. ``control_share`` defaults to the platform setting (0.1).
    ``progress`` receives one line per simulated day. Returns a summary: the
    period, rows per source, conversion rates and the seconds taken.

    With ``loop_days`` the bank goes on as the closed loop's simulator: it runs no
    campaigns of its own after ``days`` and keeps its state under
    ``settings.simulator_dir``, so that :func:`bankmkt.generator.simulator.step` can
    execute the platform's published lists for up to ``loop_days`` more days.
    """
    started = time.perf_counter()
    start_date = parse_run_date(start_date)
    settings = _settings_for(data_dir)
    share = settings.control_share if control_share is None else control_share
    if loop_days < 0:
        raise ValueError(f"loop_days={loop_days} must be >= 0")
    bank = SyntheticBank(
        customers,
        days + loop_days,
        start_date,
        seed,
        contact_rate=contact_rate,
        control_share=share,
        platform_from=days,
    )
    rows = dict.fromkeys(SOURCES, 0)

    # Files are written on a second thread (Arrow releases the GIL) while the next day simulates.
    pending: list[Future] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing") as writer:
        for day in range(days):
            date = start_date + dt.timedelta(days=day)
            deliveries = bank.simulate_day(day)
            for source, table in deliveries.items():
                rows[source] += table.num_rows
            for future in pending:
                future.result()
            pending = [writer.submit(_write_day, deliveries, settings.landing_dir, date)]
            if progress:
                progress(
                    f"{date.isoformat()}  day {day + 1:>4}/{days}  "
                    f"{sum(t.num_rows for t in deliveries.values()):>9,} rows  "
                    f"{time.perf_counter() - started:7.1f}s"
                )
        for future in pending:
            future.result()

    end_date = start_date + dt.timedelta(days=days - 1)
    contact_truth = bank.contact_truth()
    treated = ~np.asarray(contact_truth["is_control"])
    converted = np.asarray(contact_truth["converted"])
    summary = {
        "customers": int(bank.n),
        "initial_customers": customers,
        "days": days,
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "seed": seed,
        "contact_rate": contact_rate,
        "control_share": share,
        "landing_dir": str(settings.landing_dir),
        "truth_dir": str(settings.truth_dir) if write_truth else None,
        "rows": rows,
        "treatment_conversion_rate": float(converted[treated].mean()) if treated.any() else None,
        "control_conversion_rate": float(converted[~treated].mean()) if (~treated).any() else None,
    }
    if write_truth:
        write_truth_files(bank, days - 1, settings)
    if loop_days:
        from bankmkt.generator.simulator import save_state

        summary["simulator_state"] = str(save_state(bank, days - 1, settings))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def write_truth_files(bank: SyntheticBank, last_day: int, settings: Settings) -> None:
    """The ground truth as of ``last_day`` (0-based): every contact so far, every customer."""
    settings.truth_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(bank.contact_truth(), settings.contact_truth_path)
    pq.write_table(bank.customer_truth(last_day), settings.customer_truth_path)


def _write_day(deliveries: dict, landing_dir: Path, date: dt.date) -> None:
    for source, table in deliveries.items():
        write_landing_csv(table, landing_dir, source, date)
