"""The privacy-budget ledger and the stored releases.

The ledger is the broker's own, persistent and transactional account of epsilon per agreement x
consumer agency x period (OpenDP's in-memory odometer is not the ledger). Spend only ever grows.
A release stores the already disclosure-controlled table, so a CSV download never re-runs a query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, UtcDateTime


class PrivacyBudget(Base):
    """Epsilon budget and spend of one consumer agency under one agreement in one period."""

    __tablename__ = "privacy_budgets"
    __table_args__ = (
        UniqueConstraint("agreement_id", "agency_id", "period_start", name="uq_privacy_budgets_period"),
        CheckConstraint("epsilon_spent >= 0", name="spent_nonnegative"),
        CheckConstraint("epsilon_spent <= epsilon_budget", name="within_budget"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String(128))
    agency_id: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime())
    period_end: Mapped[datetime] = mapped_column(UtcDateTime())
    epsilon_budget: Mapped[float] = mapped_column(Float)
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0)
    queries: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class QueryRelease(Base):
    """One released query: who, under which agreement version, what it cost and the released table."""

    __tablename__ = "query_releases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(128), index=True)
    agreement_version: Mapped[int] = mapped_column(Integer)
    agency_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    epsilon: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime())
    spec: Mapped[dict[str, Any]] = mapped_column()
    #: the released result (table rows, flags, accuracy, warnings): already disclosure-controlled
    result: Mapped[dict[str, Any]] = mapped_column()
