"""Pseudonymisation: identifier normalisation, match keys, keyed tokens and residual-PII scanning.

A plain domain library: no web framework, no database, nothing from ``broker``.
"""
