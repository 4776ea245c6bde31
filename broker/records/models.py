"""Linked-record lookups as counted for ``max_requests_per_day``: who, under which agreement, when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, UtcDateTime


class LookupRequest(Base):
    """One allowed lookup. No tokens, identifiers or subjects: those live only in the audit event."""

    __tablename__ = "lookup_requests"
    __table_args__ = (Index("ix_lookup_requests_quota", "principal_id", "agreement_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal_id: Mapped[int] = mapped_column(Integer)
    agreement_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
