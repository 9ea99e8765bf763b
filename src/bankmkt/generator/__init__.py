"""The synthetic retail bank: daily landing files in the platform's contract, plus ground truth.

``generate_bank(...)`` is the entry point for code; ``python -m bankmkt.generator``
is the same for a person (see docs/synthetic_bank.md).
"""

from bankmkt.generator.run import DEFAULT_CONTACT_RATE, generate_bank

__all__ = ["DEFAULT_CONTACT_RATE", "generate_bank"]
