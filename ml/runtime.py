"""Run-time helpers with no platform dependency: the one run-date parser and the one atomic writer.

The lowest layer of the code: ``ml`` and the platform package both use these (the platform's
``runtime`` module hands them on), so each exists once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path


def parse_run_date(value: date | datetime | str) -> date:
    """``value`` as a date: a date as it is, a datetime's (or a pandas Timestamp's) date, or an ISO
    date or timestamp as text (``YYYY-MM-DD``, Airflow's ``ds``, ``2024-01-31T00:00:00+00:00``).

    Anything else raises ``ValueError`` naming the value.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError as error:
        raise ValueError(f"run date {value!r} is not a date of the form YYYY-MM-DD") from error


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(partial_path)`` then rename onto ``path``: readers (marketing tools, the
    simulator, dbt) never see a half-written file, and a crash never leaves half a file behind.

    ``write`` writes the file whole, as text or bytes (``partial.write_text``, ``frame.to_parquet``,
    an Arrow sink); the partial file is a hidden sibling of ``path``, so the rename stays on one
    file system.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")  # concurrent writers each rename their own
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
