"""Aggregate queries under an agreement: the privacy-budget ledger, releases and their CSV downloads."""
