"""The audit log as stored: one row per event, and the signed checkpoints over it.

``body`` is the event's canonical JSON (without its sequence number) and ``leaf_hash`` the RFC 9162 leaf
hash of ``seq || body`` written at append time. The other columns are copies of body fields kept for
searching; ``broker audit verify`` rebuilds each event from those columns, so editing one is caught.
Both tables are append-only in the database (see ``migrations/versions/0004_audit.py``); on PostgreSQL
``seq`` comes from a sequence, and a number drawn and never committed becomes an ``audit.gap`` event at the
next checkpoint (``0009_audit_sequence.py``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, UtcDateTime


class AuditRecord(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(200), index=True)
    decision: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str | None] = mapped_column(String(64), index=True)
    agency: Mapped[str | None] = mapped_column(String(64), index=True)
    agreement_id: Mapped[str | None] = mapped_column(String(128), index=True)
    subjects: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    tree_size: Mapped[int] = mapped_column(BigInteger)

    @property
    def summary(self) -> dict[str, Any]:
        """The event as a dict (parsed from ``body``)."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class AuditCheckpoint(Base):
    """A signed C2SP checkpoint; ``frontier`` is the compact tree at ``size`` so the next one is cheap."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
