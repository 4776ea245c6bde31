"""Audit trail domain: events, canonical form, RFC 9162 Merkle log, signed checkpoints, verification."""
