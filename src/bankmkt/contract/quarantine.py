"""Move a failed landing day out of the way, keep every attempt, and bring good files back.

``quarantine/dt=YYYY-MM-DD/<UTC attempt stamp>/`` holds, per attempt:
``<source>/<file>`` for every file the day had in landing, ``report.json``
(machine-readable) and ``report.md`` (readable). Attempts are never overwritten.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from bankmkt.contract.ledger import forget_day
from bankmkt.contract.schema import landing_sources
from bankmkt.runtime import parse_run_date
from bankmkt.settings import Settings, get_settings


def quarantine_dir_for(settings: Settings, day: date) -> Path:
    return settings.quarantine_dir / f"dt={day.isoformat()}"


def quarantine_batch(run_date: date | str, report, settings: Settings | None = None) -> Path:
    """Move every source's files of day D from landing into a new quarantine attempt.

    Writes ``report.json`` and ``report.md`` beside the files, forgets D in the
    ledger (its files have left landing) and returns the attempt folder.
    """
    settings = settings or get_settings()
    day = parse_run_date(run_date)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    attempt = quarantine_dir_for(settings, day) / stamp
    suffix = 2
    while attempt.exists():  # two attempts within one second keep separate folders
        attempt = attempt.with_name(f"{stamp}-{suffix}")
        suffix += 1
    attempt.mkdir(parents=True)

    moved: dict[str, list[str]] = {}
    for source in landing_sources():
        day_dir = settings.landing_dir / source / f"dt={day.isoformat()}"
        if not day_dir.is_dir():
            continue
        for path in sorted(p for p in day_dir.iterdir() if p.is_file()):
            target = attempt / source / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved.setdefault(source, []).append(target.relative_to(attempt).as_posix())
        if not any(day_dir.iterdir()):
            day_dir.rmdir()
    forget_day(settings, day)

    document = report.to_dict()
    document["quarantine"] = {"attempt": attempt.name, "folder": str(attempt), "moved": moved}
    (attempt / "report.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    recovery = [
        "## Quarantined files",
        "",
        *(f"- `{name}`" for names in moved.values() for name in names),
        "" if moved else "No file of this day was in landing.",
        "",
        "## To recover",
        "",
        f"Deliver the corrected files to `landing/<source>/dt={day}/`, bring back the files "
        f"that passed with `python -m bankmkt.contract restore --date {day}`, then rerun "
        f"`python -m bankmkt.contract check --date {day}`.",
        "",
    ]
    (attempt / "report.md").write_text(report.to_markdown() + "\n" + "\n".join(recovery), encoding="utf-8")
    return attempt


def latest_attempt(run_date: date | str, settings: Settings | None = None) -> Path | None:
    """The newest quarantine attempt folder of day D, if any."""
    settings = settings or get_settings()
    attempts = list(quarantine_dir_for(settings, parse_run_date(run_date)).glob("*/report.json"))

    def order(report: Path) -> tuple[str, int]:
        stamp, _, suffix = report.parent.name.partition("-")  # 20240105T101502Z[-2]
        return stamp, int(suffix or 1)

    newest = max(attempts, key=order, default=None)
    return newest.parent if newest else None


def restore_quarantined(
    run_date: date | str, settings: Settings | None = None, attempt: Path | None = None
) -> list[Path]:
    """Copy back to landing the files of a quarantine attempt that broke no rule.

    For the usual recovery: the sender re-delivers only the corrected file, the
    day's other files come back from quarantine. Files already in landing win;
    the quarantine keeps its copy. Returns the landing paths written.
    """
    settings = settings or get_settings()
    day = parse_run_date(run_date)
    attempt = attempt or latest_attempt(day, settings)
    if attempt is None:
        return []
    document = json.loads((attempt / "report.json").read_text(encoding="utf-8"))
    failing = {v["source"] for v in document["violations"] if v.get("source")}
    restored = []
    for source, names in document["quarantine"]["moved"].items():
        if source in failing:
            continue
        for name in names:
            target = settings.landing_dir / source / f"dt={day.isoformat()}" / Path(name).name
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(attempt / name, target)
            restored.append(target)
    return restored
