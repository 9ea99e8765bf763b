"""The landing contract: what every source file must look like, and its enforcement.

``schemas/<source>.json`` is the contract. :func:`enforce_landing_contract`
checks day D's files before the warehouse sees them; a failing day goes to
quarantine with a readable report and the run stops with
:class:`ContractViolation`. docs/landing_contract.md is generated from the
schemas (``python -m bankmkt.contract docs``).
"""

from bankmkt.contract.check import (
    check_landing_batch,
    enforce_landing_contract,
)
from bankmkt.contract.quarantine import quarantine_batch, restore_quarantined
from bankmkt.contract.report import RULES, BatchReport, ContractViolation, Violation
from bankmkt.contract.schema import SourceContract, landing_sources, load_contract, load_corrections

__all__ = [
    "RULES",
    "BatchReport",
    "ContractViolation",
    "SourceContract",
    "Violation",
    "check_landing_batch",
    "enforce_landing_contract",
    "landing_sources",
    "load_contract",
    "load_corrections",
    "quarantine_batch",
    "restore_quarantined",
]
