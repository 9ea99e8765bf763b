"""Adapters that turn real data sets into the landing contract.

``bankmkt.adapters.berka``: the PKDD'99 Berka bank (``python -m bankmkt.adapters.berka``).
The package imports nothing on purpose, so that ``python -m`` runs a module without
importing it twice.
"""
