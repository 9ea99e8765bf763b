"""Every workaround the platform applies to Great Expectations, in one place.

Each workaround names the Great Expectations versions whose code it was read
and tested against (:data:`CHECKED_VERSIONS`). On any other version it is not
applied: a warning is logged once and GX behaves as it ships, because patching
code nobody has read could change results silently. Workarounds are scoped:
context managers that the platform enters only around its own validation calls
and that restore the library afterwards.

When Great Expectations is upgraded: read the functions named below in the new
version, run ``tests/quality/test_gx_compat.py`` and
``benchmarks/gx_validation.py``, and add the version to the list (or drop the
workaround when the library fixed the cause).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# Versions whose great_expectations.util.does_ndarray_contain_decimal_dtype (and its one
# caller, convert_pandas_series_decimal_to_float_dtype, which looks it up as a module
# global) were read and tested with the workaround below.
CHECKED_VERSIONS = frozenset({"1.24.1"})

_lock = threading.Lock()
_depth = 0  # nested or concurrent blocks share one replacement
_original = None
_warned: set[str] = set()


def gx_version() -> str:
    import great_expectations

    return great_expectations.__version__


def workarounds_apply() -> bool:
    """Whether the installed Great Expectations is one the workarounds were checked against.

    Logs a warning (once per version and process) when it is not.
    """
    version = gx_version()
    if version in CHECKED_VERSIONS:
        return True
    if version not in _warned:
        _warned.add(version)
        log.warning(
            "Great Expectations %s is not among the versions bankmkt.gx_compat was checked against (%s): "
            "its workarounds are off and validation runs at the library's own speed",
            version,
            ", ".join(sorted(CHECKED_VERSIONS)),
        )
    return False


def _numeric_arrays_skipped(scan):
    def contains_decimal(data) -> bool:
        # Only an object array can hold a decimal.Decimal: a numeric one cannot.
        if getattr(data, "dtype", None) is not None and data.dtype != object:
            return False
        return scan(data=data)

    contains_decimal.skips_numeric_arrays = True
    return contains_decimal


@contextmanager
def numeric_columns_skip_decimal_scan() -> Iterator[bool]:
    """Inside the block, GX's pandas mean, sum and standard deviation metrics skip their
    per-row ``decimal.Decimal`` scan on numeric columns; yields whether the workaround is on.

    Before those metrics, GX 1.24 checks every value of the column for a Decimal
    with a Python loop (0.05 s per metric at 1M rows whatever the dtype; 0.6 s of
    the 1M-row ``customer_features`` gate). The scan still runs on object columns,
    so results are unchanged. The original
    function is back in place when the last open block exits.
    """
    global _depth, _original
    if not workarounds_apply():
        yield False
        return
    import great_expectations.util as gx_util

    with _lock:
        if _depth == 0:
            _original = gx_util.does_ndarray_contain_decimal_dtype
            gx_util.does_ndarray_contain_decimal_dtype = _numeric_arrays_skipped(_original)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gx_util.does_ndarray_contain_decimal_dtype = _original
                _original = None
