"""Agencies, the people who act for them, and their bearer tokens (stored only as SHA-256 hashes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.database import Base, UtcDateTime


class AgencyKind(StrEnum):
    education = "education"
    health = "health"
    social_work = "social-work"
    housing = "housing"
    justice = "justice"
    social_security = "social-security"
    other = "other"


class Role(StrEnum):
    operator = "operator"
    dpo = "dpo"
    data_officer = "data_officer"
    analyst = "analyst"
    practitioner = "practitioner"


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    council_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    principals: Mapped[list[Principal]] = relationship(back_populates="agency")


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[str]]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    agency: Mapped[Agency] = relationship(back_populates="principals")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="principal")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("principals.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    principal: Mapped[Principal] = relationship(back_populates="tokens")
