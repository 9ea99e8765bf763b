"""The synthetic bank as the closed loop's outside world: it executes the platform's lists.

After the history that :func:`bankmkt.generator.generate_bank` simulated with
``loop_days``, the bank runs no campaigns of its own. Each :func:`step` for run date D
takes the target lists the platform published for D
(``outputs/target_lists/dt=D/target_list_*.parquet``) and simulates D + 1: every
treated row is contacted through its channel (delivered or failed), every control row
is recorded as held out, each contact naming its list row; customers then respond over
the campaign's response window from the ground truth (``propensity.contact_effect``:
some buy anyway, some only if contacted, some are put off). D + 1's landing files go
where a real extract would, and the truth files grow by the new contacts.

The bank's state between steps is one pickle under ``settings.simulator_dir`` with the
last simulated day; a step for any other day is refused, so a day is never simulated
twice or skipped.

Command line: ``python -m bankmkt.generator.simulator step --date D``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pickle
import sys
import time
from pathlib import Path

import pandas as pd

from bankmkt.pseudonyms import LookupMissing, read_lookup
from bankmkt.runtime import parse_run_date, write_atomically
from bankmkt.settings import Settings, get_settings

STATE_FILE = "bank.pkl"
LIST_COLUMNS = ("list_row_id", "campaign_id", "product_code", "channel", "customer_key", "is_control")


class SimulatorError(RuntimeError):
    """The simulator cannot step: no state, the wrong day, or lists it cannot execute."""


def save_state(bank, last_day: int, settings: Settings) -> Path:
    """Keep the bank and the index of its last simulated day (atomically)."""
    folder = settings.simulator_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    write_atomically(path, lambda partial: partial.write_bytes(pickle.dumps({"bank": bank, "last_day": last_day})))
    return path


def load_state(settings: Settings) -> tuple[object, int]:
    path = settings.simulator_dir / STATE_FILE
    if not path.exists():
        raise SimulatorError(
            f"no simulator state in {settings.simulator_dir}: generate the bank with loop days first "
            "(generate_bank(..., loop_days=N), or make demo)"
        )
    state = pickle.loads(path.read_bytes())
    return state["bank"], state["last_day"]


def published_lists(run_date: dt.date, settings: Settings) -> pd.DataFrame:
    """Every row of the lists published for ``run_date`` (empty when none were)."""
    files = sorted(settings.target_list_dir(run_date).glob("target_list_*.parquet"))
    if not files:
        return pd.DataFrame(columns=[*LIST_COLUMNS, "customer_id"])
    lists = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    missing = [c for c in LIST_COLUMNS if c not in lists.columns]
    if missing:
        raise SimulatorError(f"{settings.target_list_dir(run_date)}: the lists lack column(s) {missing}")
    # Like a bank's marketing tool, the simulator reaches customers by their number: it maps the
    # lists' pseudonyms back through the day's access-controlled lookup.
    try:
        lookup = read_lookup(run_date, settings)
    except LookupMissing as error:
        raise SimulatorError(str(error)) from None
    lists = lists.merge(lookup, on="customer_key", how="left")
    unknown = lists["customer_id"].isna()
    if unknown.any():
        raise SimulatorError(
            f"{settings.target_list_dir(run_date)}: {int(unknown.sum())} list row(s) name a "
            f"customer_key the day's lookup does not map (first: {lists.loc[unknown, 'customer_key'].iloc[0]})"
        )
    return lists


def step(run_date: dt.date | str, settings: Settings | None = None) -> dict:
    """Execute the lists published for D and simulate day D + 1; write its landing files and the truth."""
    from bankmkt.campaigns import load_catalogue
    from bankmkt.generator.run import _write_day, write_truth_files

    started = time.perf_counter()
    settings = settings or get_settings()
    run_date = parse_run_date(run_date)
    bank, last_day = load_state(settings)
    day = (run_date - bank.start_date).days + 1
    last_date = bank.start_date + dt.timedelta(days=last_day)
    if day != last_day + 1:
        raise SimulatorError(
            f"the simulator's last day is {last_date}: it can execute the lists of {last_date} next, "
            f"not those of {run_date}"
        )
    if day >= bank.days:
        raise SimulatorError(f"the simulator was set up for days up to {bank.start_date + dt.timedelta(bank.days - 1)}")
    lists = published_lists(run_date, settings)
    catalogue = {}
    if len(lists):
        campaigns = load_catalogue(settings.campaign_catalogue_file)
        catalogue = {
            cid: {
                "campaign_name": c.campaign_name,
                "product_code": c.product_code,
                "start_date": c.start_date,
                "end_date": c.end_date,
                "response_window_days": c.response_window_days,
            }
            for cid, c in campaigns.items()
        }
    deliveries = bank.simulate_day(day, lists=lists, catalogue=catalogue)
    next_date = run_date + dt.timedelta(days=1)
    _write_day(deliveries, settings.landing_dir, next_date)
    write_truth_files(bank, day, settings)
    save_state(bank, day, settings)
    contacts = deliveries["campaign_contacts"].to_pandas()
    responses = deliveries["campaign_responses"].to_pandas()
    return {
        "executed_lists_of": run_date.isoformat(),
        "simulated_day": next_date.isoformat(),
        "list_rows": len(lists),
        "contacts": int((~contacts["is_control"]).sum()),
        "delivered": int((contacts["delivery_status"] == "delivered").sum()),
        "controls": int(contacts["is_control"].sum()),
        "responses": responses["response_type"].value_counts().to_dict(),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.generator.simulator",
        description="Execute the platform's published lists in the synthetic bank.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("step", help="execute the lists published for --date and simulate the next day")
    run.add_argument("--date", type=dt.date.fromisoformat, required=True, help="run date whose lists to execute")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(step(args.date), indent=2))
    except SimulatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
