"""Holdouts that fit the data a model gets: by time when the labels span time, by customer when they don't.

* Contacts (propensity and uplift models): the last ``holdout_days`` of contacts
  are the holdout when both windows hold enough conversions. A campaign sent on
  one day (or a few) leaves no earlier window: then a fixed share of customers
  (:data:`HOLDOUT_SHARE`, by a hash of the customer number, so the same
  customers every day) is held out instead.
* Churn snapshots: the latest snapshot time(s) of the held-out customers are
  the holdout and earlier snapshots of the other customers train, so no
  holdout customer is ever seen in training. A single snapshot (a bank that
  delivers one attrition extract) is split by customer alone.

Every split says what it did (``kind`` and ``reason``), which the training run
logs as parameters and returns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

HOLDOUT_SHARE = 0.25  # of customers, when the split is by customer


@dataclass
class Split:
    train: pd.DataFrame
    holdout: pd.DataFrame
    kind: str  # "time", "customer" or "time_and_customer"
    cutoff: pd.Timestamp | None = None  # first holdout time (time splits)
    reason: str = ""
    params: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            "holdout_split": self.kind,
            "holdout_cutoff": None if self.cutoff is None else self.cutoff.isoformat(),
            "holdout_split_reason": self.reason,
        }


def held_out_customers(customer_ids: pd.Series, share: float = HOLDOUT_SHARE) -> np.ndarray:
    """True for the customers in the holdout share: a stable hash of the customer number."""

    def position(customer_id) -> float:
        digest = hashlib.sha256(f"holdout|{customer_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    unique = pd.Series(customer_ids.unique())
    chosen = dict(zip(unique, unique.map(position) < share))
    return customer_ids.map(chosen).to_numpy(dtype=bool)


def _positives(frame: pd.DataFrame) -> int:
    return int(frame["label"].sum())


def contact_split(rows: pd.DataFrame, holdout_days: int, min_positives: int) -> Split:
    """By time when both windows hold ``min_positives`` conversions, otherwise by customer when that does."""
    cutoff = rows["event_timestamp"].max() - pd.Timedelta(days=holdout_days)
    late = (rows["event_timestamp"] >= cutoff).to_numpy()
    by_time = Split(rows.loc[~late], rows.loc[late], "time", cutoff, "the contacts span time")
    if _positives(by_time.train) >= min_positives and _positives(by_time.holdout) >= min_positives:
        return by_time
    held = held_out_customers(rows["customer_id"])
    by_customer = Split(rows.loc[~held], rows.loc[held], "customer")
    span_days = (rows["event_timestamp"].max() - rows["event_timestamp"].min()).days
    if _positives(by_customer.train) >= min_positives and _positives(by_customer.holdout) >= min_positives:
        by_customer.reason = (
            f"the contacts span {span_days} day(s): the last {holdout_days} days left "
            f"{_positives(by_time.train)} conversion(s) before them, so {HOLDOUT_SHARE:.0%} of customers "
            "are held out instead"
        )
        return by_customer
    # Neither works: the caller's refusal names the window that is short; the reason says both were tried.
    by_time.reason = (
        f"the contacts span {span_days} day(s); neither the last {holdout_days} days "
        f"({_positives(by_time.train)} conversion(s) before them, {_positives(by_time.holdout)} in them) "
        f"nor {HOLDOUT_SHARE:.0%} of customers ({_positives(by_customer.train)} / "
        f"{_positives(by_customer.holdout)}) leave {min_positives} conversions on both sides"
    )
    return by_time


def snapshot_split(rows: pd.DataFrame, holdout_snapshots: int) -> Split:
    """Held-out customers' latest snapshot(s) against the other customers' earlier ones (no customer in both)."""
    times = rows["event_timestamp"].drop_duplicates().sort_values()
    held = held_out_customers(rows["customer_id"])
    if len(times) <= holdout_snapshots:
        return Split(
            rows.loc[~held],
            rows.loc[held],
            "customer",
            None,
            f"{len(times)} snapshot time(s): {HOLDOUT_SHARE:.0%} of customers are held out",
        )
    cutoff = times.iloc[-holdout_snapshots]
    late = (rows["event_timestamp"] >= cutoff).to_numpy()
    return Split(
        rows.loc[~late & ~held],
        rows.loc[late & held],
        "time_and_customer",
        cutoff,
        f"the latest {holdout_snapshots} snapshot(s) of {HOLDOUT_SHARE:.0%} of customers; "
        "earlier snapshots of the others train",
    )
