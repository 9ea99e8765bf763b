"""Which landing days were accepted, with their file hashes (and the key index that follows them).

* ``runs/landing_ledger.json``: ``{"accepted": {"YYYY-MM-DD": {"accepted_at", "files":
  {source: {"file", "sha256", "bytes", "rows"}}}}}``, one line per accepted day. It tells
  a rerun of an accepted day (same hashes) from a day that arrives after later days
  were accepted, and gives the hashes of earlier files to the ``duplicate_file`` rule.
* ``runs/landing_keys.duckdb``: the keys of the accepted days, looked up by later
  days' checks (:mod:`bankmkt.contract.index`). A cache of the ledger's days, kept
  in line with it before every enforcing check.

A process keeps the ledger it last read or wrote (and each day's encoded line) and
re-reads the file only when it changed on disk, so checking day after day does not
parse the whole history again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bankmkt.contract.index import forget_in_index, indexed_sources, key_index_path, legacy_key_dir
from bankmkt.runtime import parse_run_date, write_atomically
from bankmkt.settings import Settings

__all__ = [
    "LandingChanged",
    "accepted_days",
    "forget_day",
    "indexed_sources",
    "key_index_path",
    "ledger_path",
    "legacy_key_dir",
    "read_ledger",
    "record_accepted",
    "verify_accepted_files",
]


@dataclass
class _Cached:
    signature: tuple[int, int, int]
    ledger: dict
    accepted: dict[date, dict]
    lines: dict[str, tuple[dict, str]] = field(default_factory=dict)  # day -> (entry, its JSON)


_cache: dict[Path, _Cached] = {}


def ledger_path(settings: Settings) -> Path:
    return settings.landing_ledger_path


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _load(settings: Settings) -> _Cached:
    path = ledger_path(settings)
    signature = _signature(path)
    cached = _cache.get(path)
    if cached is not None and cached.signature == signature:
        return cached
    ledger = json.loads(path.read_text(encoding="utf-8")) if signature else {"accepted": {}}
    ledger.setdefault("accepted", {})
    cached = _Cached(signature or (0, 0, 0), ledger, {parse_run_date(d): e for d, e in ledger["accepted"].items()})
    _cache[path] = cached
    return cached


def read_ledger(settings: Settings) -> dict:
    """The ledger as a dict (shared with this process's cache: change it only through this module)."""
    return _load(settings).ledger


def accepted_days(settings: Settings) -> dict[date, dict]:
    return dict(_load(settings).accepted)


def _write(settings: Settings, cached: _Cached) -> None:
    """Write the ledger, one line per day (lines of unchanged days are reused), then rename."""
    path = ledger_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for day in sorted(cached.ledger["accepted"]):
        entry = cached.ledger["accepted"][day]
        known = cached.lines.get(day)
        if known is None or known[0] is not entry:
            known = (entry, f"    {json.dumps(day)}: {json.dumps(entry, sort_keys=True)}")
            cached.lines[day] = known
        lines.append(known[1])
    for day in set(cached.lines) - set(cached.ledger["accepted"]):
        del cached.lines[day]
    others = "".join(
        f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)},\n"
        for key, value in sorted(cached.ledger.items())
        if key != "accepted"
    )
    body = ",\n".join(lines)
    text = "{\n" + others + '  "accepted": {' + (f"\n{body}\n  " if lines else "") + "}\n}\n"
    write_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"))
    cached.signature = _signature(path)
    _cache[path] = cached


def record_accepted(settings: Settings, report) -> None:
    """Add an accepted day, with its file hashes, to the ledger (its keys go to the index first)."""
    cached = _load(settings)
    day = report.run_date
    entry = {
        "accepted_at": report.checked_at,
        "files": {
            source: {"file": s.file, "sha256": s.sha256, "bytes": s.bytes, "rows": s.rows}
            for source, s in report.files.items()
            if s.exists  # an optional file (corrections) may be absent
        },
    }
    if getattr(report, "bands", None):  # what the next days' plausibility is judged by
        entry["bands"] = report.bands
    try:
        cached.ledger["accepted"][day.isoformat()] = entry
        cached.accepted[day] = entry
        _write(settings, cached)
    except BaseException:
        _cache.pop(ledger_path(settings), None)
        raise


def forget_day(settings: Settings, day: date) -> None:
    """Drop a day from the ledger and the key index (its files left landing)."""
    cached = _load(settings)
    try:
        if cached.ledger["accepted"].pop(day.isoformat(), None) is not None:
            cached.accepted.pop(day, None)
            _write(settings, cached)
    except BaseException:
        _cache.pop(ledger_path(settings), None)
        raise
    forget_in_index(settings, day)


# ---- accepted files never change ----------------------------------------------------------


class LandingChanged(RuntimeError):
    """A landing file accepted earlier is not the file that was accepted; the message names each."""


def _stat_cache_path(settings: Settings) -> Path:
    return settings.landing_file_stats_path


def verify_accepted_files(settings: Settings) -> dict:
    """Check that every accepted day's files are still byte for byte what was accepted.

    A file is hashed again when its size, modification time, change time or inode differ from
    those of its last verification (the change time moves with any write to the file and cannot
    be set back by tools such as ``touch``), so a daily run re-hashes only what was touched, and
    a copied DATA_DIR once. Raises :class:`LandingChanged` naming each changed or missing file
    with its accepted and current SHA-256.
    """
    import hashlib

    cache_path = _stat_cache_path(settings)
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    changed, hashed, updated = [], 0, False
    for day, entry in sorted(accepted_days(settings).items()):
        for _source, accepted in sorted(entry["files"].items()):
            if not accepted.get("sha256"):
                continue
            path = settings.data_dir / accepted["file"]
            try:
                stat = path.stat()
            except FileNotFoundError:
                changed.append((day, accepted, entry, None))
                continue
            key = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, accepted["sha256"]]
            if cache.get(accepted["file"]) == key:
                continue
            hashed += 1
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != accepted["sha256"]:
                changed.append((day, accepted, entry, digest.hexdigest()))
                continue
            cache[accepted["file"]] = key
            updated = True
    if updated:
        write_atomically(cache_path, lambda partial: partial.write_text(json.dumps(cache, sort_keys=True)))
    if changed:
        lines = [f"{len(changed)} accepted landing file(s) changed after they were accepted; nothing was run:"]
        for day, accepted, entry, now in changed:
            state = f"now {now}" if now else "now missing"
            lines.append(
                f"  - {accepted['file']} (accepted {entry.get('accepted_at', '?')} for {day}): "
                f"accepted sha256 {accepted['sha256']}, {state}"
            )
        lines.append(
            "Accepted landing files never change. Restore each file as it was accepted (the source system's "
            "archive has it; the checksum above identifies it). A correction is a new delivery in a later day's "
            "batch: corrected contacts and responses in landing/<source>_corrections/dt=D/<source>_corrections.csv "
            "with a correction_reason; customers, accounts and product holdings as a new version (a later "
            "updated_at); transactions as a reversing entry. The warehouse applies it and the ledger records it "
            "with that day (docs/landing_contract.md, Corrections)."
        )
        raise LandingChanged("\n".join(lines))
    return {"files_hashed": hashed}
