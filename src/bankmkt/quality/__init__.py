"""Great Expectations gate on the marts that leave the warehouse.

Four suites, one per published data set: ``customer_features`` (the run date's
rows), ``customer_segments`` (the run date's rows), ``training_labels`` (the
whole mart) and ``target_lists`` (the Parquet lists scoring wrote for the run
date). Each suite holds

* static expectations: completeness, keys, ranges, allowed values, freshness
  (the mart's newest date is the run date);
* comparisons with the previous passed run, turned into expectations with
  computed bounds (row count within +-X %, mean within k previous standard
  deviations, share of a value within +-p points). The bounds come from the
  small profile each run leaves at ``reports/quality/dt=D/<suite>.profile.json``.

Every expectation carries a severity (``meta.severity`` and GX's own
``severity``): ``failure`` stops the run, ``warning`` is reported only. Each
suite runs through a ValidationDefinition and a Checkpoint whose
UpdateDataDocsAction renders the result under ``reports/data_docs``; the GX file
context under ``gx/`` keeps every run's result, and
``reports/quality/dt=D/summary.{json,html}`` lists the run's suites with links to
their Data Docs pages. docs/quality.md has the table of checks.

Speed (docs/quality.md, benchmarks/gx_validation.py): GX runs on pandas (its
SQLAlchemy path on DuckDB has open bugs) over only the columns a suite names,
with integer columns widened to int64 (GX's pandas range check falls back to a
per-row Python function on int32) and result format BASIC (SUMMARY computes
unexpected-row index lists, each of which copies the whole frame); the
validation runs inside :mod:`bankmkt.gx_compat`'s version-checked workaround
for GX's per-row Decimal scan.

One module per job:

* :mod:`~bankmkt.quality.suites`: each data set's expectations, their severity, :data:`SUITES`;
* :mod:`~bankmkt.quality.drift`: the run's profile and the comparisons with the previous passed run;
* :mod:`~bankmkt.quality.reads`: the rows a suite validates (warehouse mart or target lists);
* :mod:`~bankmkt.quality.context`: the GX file context and its Data Docs site (offline pages);
* :mod:`~bankmkt.quality.validation`: one suite on one frame through a Checkpoint;
* :mod:`~bankmkt.quality.results`: outcomes, :class:`QualityGateFailed`, the line per failed expectation;
* :mod:`~bankmkt.quality.summary`: ``summary.json`` and ``summary.html``;
* :mod:`~bankmkt.quality.gate`: :func:`run_gate` and the ``gate_*`` functions the pipeline calls;
* ``__main__``: ``python -m bankmkt.quality --date D [--suite NAME]``.

The names below are re-exported for callers; a test or benchmark that replaces
one patches the module that looks it up (e.g. ``bankmkt.quality.validation.RESULT_FORMAT``).
"""

from bankmkt.quality.context import INDEX_RESULTS, SITE_NAME
from bankmkt.quality.drift import (
    DRIFT,
    Drift,
    drift_expectations,
    previous_profile,
    profile_frame,
    profile_path,
    quality_dir,
    same_run_expectations,
)
from bankmkt.quality.gate import gate_customer_features, gate_marts, gate_target_lists, run_gate
from bankmkt.quality.reads import MartMissing, needed_columns
from bankmkt.quality.results import GateReport, GateResult, QualityGateFailed, describe_failure
from bankmkt.quality.suites import (
    FAILURE,
    GATED_MARTS,
    LIFECYCLE_STAGES,
    SUITES,
    TARGET_LISTS,
    VALUE_TIERS,
    WARNING,
    Suite,
    customer_features_expectations,
    customer_segments_expectations,
    fail,
    target_lists_expectations,
    training_labels_expectations,
    warn,
)
from bankmkt.quality.summary import render_summary_html, write_summary
from bankmkt.quality.validation import RESULT_FORMAT, validate_frame

__all__ = [
    "DRIFT",
    "FAILURE",
    "GATED_MARTS",
    "INDEX_RESULTS",
    "LIFECYCLE_STAGES",
    "RESULT_FORMAT",
    "SITE_NAME",
    "SUITES",
    "TARGET_LISTS",
    "VALUE_TIERS",
    "WARNING",
    "Drift",
    "GateReport",
    "GateResult",
    "MartMissing",
    "QualityGateFailed",
    "Suite",
    "customer_features_expectations",
    "customer_segments_expectations",
    "describe_failure",
    "drift_expectations",
    "fail",
    "gate_customer_features",
    "gate_marts",
    "gate_target_lists",
    "needed_columns",
    "previous_profile",
    "profile_frame",
    "profile_path",
    "quality_dir",
    "render_summary_html",
    "run_gate",
    "same_run_expectations",
    "target_lists_expectations",
    "training_labels_expectations",
    "validate_frame",
    "warn",
    "write_summary",
]
