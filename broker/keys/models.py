"""Sealed key material, one row per (agreement, purpose, version)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, UtcDateTime


class KeyringEntry(Base):
    """``sealed`` is AES-256-GCM under the keyring wrapping key, bound to (agreement, purpose, version)."""

    __tablename__ = "keyring"
    __table_args__ = (
        UniqueConstraint("agreement_id", "purpose", "version", name="uq_keyring_agreement_purpose_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String(96), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(64))
