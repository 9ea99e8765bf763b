"""Pseudonymous customer keys for what leaves the platform, and the lookup that maps them back.

The target lists go to marketing's tools and agencies; they carry ``customer_key``, not the bank's
customer number. ``customer_key`` is ``P`` + the first 20 hex digits of SHA-256 over the PII key
(``PII_HASH_KEY``, or the local DATA_DIR's own key), a domain label and the customer number: stable
for a customer while the key stays, and not computable without the key. Whoever must reach the
customer (the marketing tool that executes a list) maps the key back through the lookup written
beside each day's lists, under :attr:`~bankmkt.settings.Settings.customer_lookup_root`: a folder only
its owner can enter (mode 0700, files 0600), which ``CUSTOMER_LOOKUP_DIR`` can put on storage
that only the marketing tool mounts. The lookup of a day holds only that day's listed customers.

Inside the warehouse the same key is computed by dbt's ``customer_key`` macro (the contact history,
``int_customer_contacts_unioned``, maps the published lists back to customers;
tests/dbt/test_contact_history.py checks that both agree) and by :func:`customer_key_sql` (the
in-place migration of older lists, :func:`bankmkt.warehouse.migrate_target_lists`).
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pandas as pd

from bankmkt.runtime import write_atomically
from bankmkt.settings import Settings

__all__ = ["LookupMissing", "customer_key_sql", "customer_keys", "lookup_file", "read_lookup", "write_lookup"]

DOMAIN = "|customer_key|"
PREFIX = "P"
DIGITS = 20  # 80 bits: no collision in any bank's customer base


class LookupMissing(RuntimeError):
    """A day's lists have no lookup, or keys the lookup does not map."""


def _key(settings: Settings) -> str:
    settings.ensure_pii_key()  # local: DATA_DIR's own key, generated once
    key = settings.effective_pii_hash_key
    if not key:
        raise RuntimeError("no PII key to derive customer keys from: set PII_HASH_KEY")
    return key


def customer_keys(customer_ids: pd.Series, settings: Settings) -> pd.Series:
    """The pseudonymous ``customer_key`` of each customer number."""
    prefix = _key(settings) + DOMAIN
    return customer_ids.astype(str).map(
        lambda cid: PREFIX + hashlib.sha256((prefix + cid).encode()).hexdigest()[:DIGITS]
    )


def customer_key_sql(column: str, settings: Settings) -> tuple[str, dict]:
    """A DuckDB expression giving ``column``'s customer key, and its named parameter (the key)."""
    return (
        f"('{PREFIX}' || left(sha256($pseudonym_prefix || {column}), {DIGITS}))",
        {"pseudonym_prefix": _key(settings) + DOMAIN},
    )


def lookup_file(run_date: date, settings: Settings) -> Path:
    return settings.customer_lookup_root / f"dt={run_date.isoformat()}" / "customer_keys.parquet"


def _owner_only(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def write_lookup(customer_ids: pd.Series, keys: pd.Series, run_date: date, settings: Settings) -> Path:
    """Write D's lookup ``customer_key -> customer_id`` (owner-only folder and file)."""
    path = lookup_file(run_date, settings)
    _owner_only(settings.customer_lookup_root)
    _owner_only(path.parent)
    frame = pd.DataFrame({"customer_key": keys.to_numpy(), "customer_id": customer_ids.astype(str).to_numpy()})

    def write(partial: Path) -> None:
        partial.touch(mode=0o600)
        frame.drop_duplicates("customer_key").to_parquet(partial, index=False)

    write_atomically(path, write)
    return path


def read_lookup(run_date: date, settings: Settings) -> pd.DataFrame:
    """D's lookup (``customer_key``, ``customer_id``); :class:`LookupMissing` when D has none."""
    path = lookup_file(run_date, settings)
    if not path.exists():
        raise LookupMissing(
            f"{path}: no customer lookup for the lists of {run_date} (written with the lists; "
            "CUSTOMER_LOOKUP_DIR must point where the platform wrote it)"
        )
    return pd.read_parquet(path)
