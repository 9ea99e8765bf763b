"""Comparisons with the previous passed run: each run's profile and the expectations built from it.

A run leaves ``reports/quality/dt=D/<suite>.profile.json`` (rows, means and
standard deviations, shares); the next run turns the tolerances of
:data:`DRIFT` around the newest passed profile into ordinary expectations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from bankmkt.quality.suites import FAILURE, TARGET_LISTS, WARNING, Suite, fail, gx_expectations, warn
from bankmkt.settings import Settings


@dataclass(frozen=True)
class Drift:
    """A comparison with the previous passed run; a tolerance of None skips that level.

    kind ``rows``: row count within +-tolerance (relative, at least ``floor`` rows);
    ``rows_kept``: at least the previous row count (failure tolerance = share that may go);
    ``mean``: mean within tolerance x the previous standard deviation;
    ``share``: each value's share within +-tolerance (absolute, 0.05 = 5 points).
    """

    kind: str
    column: str | None
    warning: float | None
    failure: float | None
    floor: int = 5


DRIFT: dict[str, tuple[Drift, ...]] = {
    "customer_features": (
        Drift("rows", None, 0.10, 0.50),
        *(
            Drift("mean", c, 0.25, 1.0)
            for c in ("age", "monthly_income", "balance_total", "spend_30d", "txn_count_30d", "digital_logins_30d")
        ),
        Drift("share", "has_marketing_consent", 0.05, 0.20),
        *(
            Drift("share", c, 0.05, None)
            for c in ("has_credit_card", "has_personal_loan", "has_term_deposit", "has_wealth_management")
        ),
    ),
    "customer_segments": (
        Drift("rows", None, 0.10, 0.50),
        Drift("share", "lifecycle_stage", 0.05, 0.20),
        Drift("share", "value_tier", 0.05, 0.20),
        Drift("share", "needs_segment", 0.05, None),
    ),
    "training_labels": (
        Drift("rows_kept", None, None, 0.0),
        Drift("rows", None, 0.50, None, floor=50),
        Drift("share", "label", 0.05, 0.25),
        Drift("share", "is_control", 0.05, None),
    ),
    TARGET_LISTS: (
        # Warning only: campaigns start, fill and end, so a list's volume moves for good reasons.
        Drift("rows", None, 0.50, None),
        Drift("mean", "propensity", 0.5, None),
        Drift("share", "product_code", 0.10, None),
        Drift("share", "is_control", 0.05, None),
    ),
}


def _is_flag(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    return pd.api.types.is_numeric_dtype(series) and set(series.dropna().unique()) <= {0, 1}


def profile_frame(suite: str, frame: pd.DataFrame, run_date: date) -> dict:
    """The facts of a run the next run compares with: rows, means and standard deviations, shares."""
    profile: dict = {
        "suite": suite,
        "run_date": run_date.isoformat(),
        "rows": int(len(frame)),
        "means": {},
        "shares": {},
    }
    for drift in DRIFT.get(suite, ()):
        if drift.column is None or drift.column not in frame.columns:
            continue
        values = frame[drift.column]
        if drift.kind == "mean":
            numbers = pd.to_numeric(values, errors="coerce")
            profile["means"][drift.column] = {"mean": _number(numbers.mean()), "std": _number(numbers.std())}
        elif drift.kind == "share":
            counts = values.dropna().value_counts(normalize=True)
            kind = "flag" if _is_flag(values) else "category"
            profile["shares"][drift.column] = {
                "kind": kind,
                "values": {_key(v): round(float(s), 6) for v, s in counts.items()},
            }
    return profile


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 6)


def _key(value) -> str:
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def drift_expectations(suite: str, previous: dict | None) -> list:
    """Expectations whose bounds come from the previous passed run's profile (none on the first run)."""
    if previous is None:
        return []
    E = gx_expectations()
    since = previous["run_date"]
    out = []
    for drift in DRIFT.get(suite, ()):
        for level, tolerance in ((WARNING, drift.warning), (FAILURE, drift.failure)):
            if tolerance is None:
                continue
            tag = fail if level == FAILURE else warn
            if drift.kind in ("rows", "rows_kept"):
                rows = previous["rows"]
                if drift.kind == "rows_kept":
                    low, high = math.floor(rows * (1 - tolerance)), None
                    note = f"previous run {since}: {rows} rows; rows may not disappear"
                else:
                    slack = max(rows * tolerance, drift.floor)
                    low, high = max(0, math.floor(rows - slack)), math.ceil(rows + slack)
                    note = (
                        f"previous run {since}: {rows} rows, allowed change +-{tolerance:.0%} "
                        f"(at least {drift.floor} rows)"
                    )
                out.append(
                    tag(
                        E.ExpectTableRowCountToBeBetween(min_value=low, max_value=high),
                        check=f"row count change ({level})",
                        comparison=note,
                    )
                )
            elif drift.kind == "mean":
                stats = previous["means"].get(drift.column)
                if not stats or stats["mean"] is None or not stats["std"]:
                    continue
                width = tolerance * stats["std"]
                out.append(
                    tag(
                        E.ExpectColumnMeanToBeBetween(
                            column=drift.column,
                            min_value=round(stats["mean"] - width, 6),
                            max_value=round(stats["mean"] + width, 6),
                        ),
                        check=f"mean shift ({level})",
                        comparison=f"previous run {since}: mean {stats['mean']:.4g}, allowed +-{tolerance:g} sd "
                        f"({stats['std']:.4g})",
                    )
                )
            elif drift.kind == "share":
                shares = previous["shares"].get(drift.column)
                if not shares:
                    continue
                out += _share_expectations(drift.column, shares, tolerance, level, since)
    return out


def _share_expectations(column: str, shares: dict, tolerance: float, level: str, since: str) -> list:
    E = gx_expectations()
    tag = fail if level == FAILURE else warn
    if shares["kind"] == "flag":
        share = shares["values"].get("1", 0.0)
        return [
            tag(
                E.ExpectColumnMeanToBeBetween(
                    column=column,
                    min_value=round(max(0.0, share - tolerance), 6),
                    max_value=round(min(1.0, share + tolerance), 6),
                ),
                check=f"share shift ({level})",
                comparison=f"previous run {since}: share {share:.1%}, allowed +-{tolerance * 100:g} points",
            )
        ]
    out = []
    for value, share in sorted(shares["values"].items()):
        note = f"previous run {since}: {value} {share:.1%}, allowed +-{tolerance * 100:g} points"
        low, high = share - tolerance, share + tolerance
        if low > 0:  # at least `low` of the rows hold the value
            out.append(
                tag(
                    E.ExpectColumnValuesToBeInSet(column=column, value_set=[value], mostly=round(low, 6)),
                    check=f"share of {value} at least {low:.1%} ({level})",
                    comparison=note,
                )
            )
        if high < 1:  # at most `high` of the rows hold it
            out.append(
                tag(
                    E.ExpectColumnValuesToNotBeInSet(column=column, value_set=[value], mostly=round(1 - high, 6)),
                    check=f"share of {value} at most {high:.1%} ({level})",
                    comparison=note,
                )
            )
    known = sorted(shares["values"])
    # A value the previous run did not have: any share warns, more than the tolerance fails.
    mostly = 1.0 if level == WARNING else round(1 - tolerance, 6)
    out.append(
        tag(
            E.ExpectColumnValuesToBeInSet(column=column, value_set=known, mostly=mostly),
            check=f"values the previous run did not have: at most {1 - mostly:.0%} ({level})",
            comparison=f"previous run {since}: {', '.join(known)}",
        )
    )
    return out


def same_run_expectations(suite: Suite, run_date: date, settings: Settings) -> list:
    """One row per customer in both marts: the row count of the run's other suite, when it ran."""
    path = profile_path(settings, suite.same_rows_as, run_date) if suite.same_rows_as else None
    if path is None or not path.exists():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [
        warn(
            gx_expectations().ExpectTableRowCountToEqual(value=rows),
            check=f"one row per customer, as in {suite.same_rows_as}",
            comparison=f"{suite.same_rows_as} of {run_date}: {rows} rows",
        )
    ]


def quality_dir(settings: Settings, run_date: date) -> Path:
    """Per-run quality reports: profiles, summary.json and summary.html."""
    return settings.quality_reports_dir / f"dt={run_date.isoformat()}"


def profile_path(settings: Settings, suite: str, run_date: date) -> Path:
    return quality_dir(settings, run_date) / f"{suite}.profile.json"


def previous_profile(suite: str, run_date: date, settings: Settings) -> dict | None:
    """The newest profile of a passed run before the run date (a failed run is no baseline)."""
    folder = settings.quality_reports_dir
    candidates = sorted(
        (p for p in folder.glob(f"dt=*/{suite}.profile.json") if p.parent.name[3:] < run_date.isoformat()),
        reverse=True,
    )
    for path in candidates:
        profile = json.loads(path.read_text())
        if profile.get("passed"):
            return profile
    return None
