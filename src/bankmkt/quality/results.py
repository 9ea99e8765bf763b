"""What a gate run found: the outcome of a suite and of a run, the gate's exception, and the line a user
reads for each failed expectation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd


class QualityGateFailed(RuntimeError):
    """A failure-level expectation did not hold; nothing may be published."""

    # The name a failed task's traceback prints (``bankmkt.quality.QualityGateFailed: ...``): the package's.
    __module__ = "bankmkt.quality"


@dataclass
class GateResult:
    """The outcome of one suite on one run date."""

    suite: str
    run_date: date
    rows: int
    evaluated: int
    failed_failures: list[str] = field(default_factory=list)
    failed_warnings: list[str] = field(default_factory=list)
    data_docs: str | None = None  # the Data Docs index
    status: str = "passed"  # passed | failed | skipped
    note: str | None = None
    data_docs_page: str | None = None  # this run's validation page
    previous_run: str | None = None
    profile: str | None = None
    summary: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status != "failed"

    def as_dict(self) -> dict:
        return {
            "suite": self.suite,
            "run_date": self.run_date.isoformat(),
            "status": self.status,
            "rows": self.rows,
            "expectations": self.evaluated,
            "success": self.success,
            "failed": self.failed_failures,
            "warnings": self.failed_warnings,
            "data_docs": self.data_docs,
            "data_docs_page": self.data_docs_page,
            "previous_run": self.previous_run,
            "profile": self.profile,
            "summary": self.summary,
            "note": self.note,
            "seconds": self.seconds,
            **({"reason": self.note} if self.status == "skipped" else {}),
        }

    def message(self) -> str:
        """What a user reads when the suite failed: one line per failed failure-level expectation."""
        if not self.evaluated:  # the data set could not be read (a required mart is missing)
            return f"{self.suite}: not validated: {self.note}"
        lines = [f"{self.suite}: {len(self.failed_failures)} failure-level expectation(s) failed"]
        lines += [f"  - {line}" for line in self.failed_failures]
        return "\n".join(lines)


@dataclass
class GateReport:
    """The outcome of several suites on one run date (what a pipeline stage records)."""

    run_date: date
    results: dict[str, GateResult]
    summary: str | None = None

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results.values())

    def as_dict(self) -> dict:
        ran = [r for r in self.results.values() if r.status != "skipped"]
        return {
            "run_date": self.run_date.isoformat(),
            "success": self.success,
            "expectations": sum(r.evaluated for r in ran),
            "rows": sum(r.rows for r in ran),
            "failed": [f"{r.suite}: {line}" for r in ran for line in r.failed_failures],
            "warnings": [f"{r.suite}: {line}" for r in ran for line in r.failed_warnings],
            "skipped": {r.suite: r.note for r in self.results.values() if r.status == "skipped"},
            "data_docs": next((r.data_docs for r in ran if r.data_docs), None),
            "summary": self.summary,
            "marts": {name: r.as_dict() for name, r in self.results.items()},
        }


def describe_failure(item) -> str:
    """``<column>: <expectation> <bounds>: <what was observed> (<comparison>)``, one line."""
    config = item.expectation_config
    kwargs = config.kwargs
    meta = config.meta or {}
    if kwargs.get("column"):
        subject = kwargs["column"]
    elif kwargs.get("column_A"):
        subject = f"{kwargs['column_A']} vs {kwargs['column_B']}"
    elif kwargs.get("column_list"):
        subject = "(" + ", ".join(kwargs["column_list"]) + ")"
    else:
        subject = "table"
    bounds = ""
    if "value_set" in kwargs:
        bounds = f" {list(kwargs['value_set'])}"
    elif kwargs.get("min_value") is not None or kwargs.get("max_value") is not None:
        bounds = f" [{_show(kwargs.get('min_value'))}, {_show(kwargs.get('max_value'))}]"
    if kwargs.get("mostly") not in (None, 1, 1.0):
        bounds += f" for at least {kwargs['mostly']:.1%} of rows"
    found = item.result or {}
    info = item.exception_info or {}
    raised = info.get("raised_exception") or any(
        isinstance(v, dict) and v.get("raised_exception") for v in info.values()
    )
    if raised:
        messages = [info.get("exception_message")] + [
            v.get("exception_message") for v in info.values() if isinstance(v, dict)
        ]
        observed = "error: " + "; ".join(m for m in messages if m)[:300]
    elif found.get("unexpected_count") is not None:
        sample = _sample(found.get("partial_unexpected_list"))
        observed = (
            f"{found['unexpected_count']} of {found.get('element_count')} rows unexpected "
            f"({found.get('unexpected_percent') or 0:.2f}%), e.g. {sample}"
        )
    else:
        observed = f"observed {_show(found.get('observed_value'))}"
    line = f"{subject}: {config.type}{bounds}: {observed}"
    if meta.get("comparison"):
        line += f" ({meta['comparison']})"
    return line


def _sample(values) -> str:
    """``[124, 'diamond', 2024-03-20 00:00:00]``: the values as a user would type them."""
    return "[" + ", ".join(str(v) if isinstance(v, (date, pd.Timestamp)) else repr(v) for v in values or []) + "]"


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)
