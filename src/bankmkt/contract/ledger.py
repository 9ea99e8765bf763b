"""Which landing days were accepted, with their file hashes, and a key cache.

* ``runs/landing_ledger.json``: ``{"accepted": {"YYYY-MM-DD": {"accepted_at", "files":
  {source: {"file", "sha256", "bytes", "rows"}}}}}``. It tells a rerun of an accepted
  day (same hashes) from a day that arrives after later days were accepted.
* ``runs/landing_keys/<source>/dt=YYYY-MM-DD.parquet``: the primary keys (and
  ``dt``) of an accepted day's file, for the sources whose keys are looked up on later days
  (event keys that must not repeat, keys that foreign keys point to). It is a
  cache: reading it keeps a day's check proportional to the keys, not to every
  earlier CSV; a day without it is read from its landing CSV instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path

from bankmkt.contract.schema import SourceContract, load_contract
from bankmkt.settings import Settings


def ledger_path(settings: Settings) -> Path:
    return settings.runs_dir / "landing_ledger.json"


def key_index_dir(settings: Settings) -> Path:
    return settings.runs_dir / "landing_keys"


def key_index_path(settings: Settings, source: str, day: date) -> Path:
    return key_index_dir(settings) / source / f"dt={day.isoformat()}.parquet"


def indexed_sources() -> list[SourceContract]:
    """Sources whose keys later days look up."""
    contracts = load_contract()
    referenced = {ref for c in contracts.values() for ref, _ in c.foreign_keys.values()}
    return [c for c in contracts.values() if c.keys_unique_across_days or c.source in referenced]


def read_ledger(settings: Settings) -> dict:
    path = ledger_path(settings)
    if not path.is_file():
        return {"accepted": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_ledger(settings: Settings, ledger: dict) -> None:
    path = ledger_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename so a crash never leaves half a ledger behind.
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(ledger, tmp, indent=2, sort_keys=True)
    os.replace(tmp.name, path)


def accepted_days(settings: Settings) -> dict[date, dict]:
    return {date.fromisoformat(d): entry for d, entry in read_ledger(settings)["accepted"].items()}


def record_accepted(settings: Settings, report, connection, table_name) -> None:
    """Add an accepted day (with its file hashes) to the ledger and cache its keys.

    ``connection`` holds the day's rows as views named ``table_name(source)``.
    """
    for contract in indexed_sources():
        summary = report.files.get(contract.source)
        if summary is None or not summary.exists:
            continue
        target = key_index_path(settings, contract.source, report.run_date)
        target.parent.mkdir(parents=True, exist_ok=True)
        keys = ", ".join('"' + k + '"' for k in contract.primary_key)
        connection.execute(
            f"COPY (SELECT {keys}, '{report.run_date.isoformat()}' AS dt FROM {table_name(contract.source)}) "
            f"TO '{_sql_path(target)}' (FORMAT parquet)"
        )
    ledger = read_ledger(settings)
    ledger["accepted"][report.run_date.isoformat()] = {
        "accepted_at": report.checked_at,
        "files": {
            source: {"file": s.file, "sha256": s.sha256, "bytes": s.bytes, "rows": s.rows}
            for source, s in report.files.items()
        },
    }
    _write_ledger(settings, ledger)


def forget_day(settings: Settings, day: date) -> None:
    """Drop a day from the ledger and the key cache (its files left landing)."""
    ledger = read_ledger(settings)
    if ledger["accepted"].pop(day.isoformat(), None) is not None:
        _write_ledger(settings, ledger)
    for contract in load_contract().values():
        key_index_path(settings, contract.source, day).unlink(missing_ok=True)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
