"""Agreement versions (canonical JSON + digest + lifecycle status) and DPO approvals bound to the digest."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.database import Base, UtcDateTime


class AgreementVersion(Base):
    """One immutable-once-submitted version; ``document`` is the canonical JSON that approvals hash."""

    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "version", name="uq_agreement_versions_agreement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String(96), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), index=True)
    document: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(64))
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())

    approvals: Mapped[list[AgreementApproval]] = relationship(
        back_populates="agreement_version", order_by="AgreementApproval.id"
    )


class AgreementApproval(Base):
    """A controller DPO's approval of the exact bytes whose SHA-256 is ``digest``."""

    __tablename__ = "agreement_approvals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id"), index=True)
    party: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    agreement_version: Mapped[AgreementVersion] = relationship(back_populates="approvals")
