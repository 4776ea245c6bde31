"""Extracts as stored: receipts, encrypted payload chunks, the token and row indexes, linkage state.

Payload and tokens never share a table (DESIGN §2.1): ``extract_chunks`` holds AES-256-GCM ciphertext
of the payload columns only; ``extract_index`` holds the bucketed token -> subject and subject -> row
indexes (``broker.extracts.index``); ``subject_aliases`` maps subject ids retired by a linkage merge to
their survivor. Destroying ``Extract.wrapped_key`` makes the chunks unreadable.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.database import Base, UtcDateTime


class ExtractStatus(StrEnum):
    accepted = "accepted"
    quarantined = "quarantined"
    rejected = "rejected"


class Extract(Base):
    """One submission and its receipt. Immutable once written, except supersession and shredding."""

    __tablename__ = "extracts"
    __table_args__ = (
        UniqueConstraint("agreement_id", "dataset_id", "content_hash", name="uq_extracts_content"),
        Index("ix_extracts_current", "agreement_id", "dataset_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(128))
    agreement_version: Mapped[int] = mapped_column(Integer)
    dataset_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    content_hash: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_accepted: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    #: what was wrong: [{"row": n | null, "column": name | null, "rule": id, "detail": text}]
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    link_key_version: Mapped[int | None] = mapped_column(Integer)
    broker_key_version: Mapped[int | None] = mapped_column(Integer)
    superseded_by: Mapped[str | None] = mapped_column(String(32))
    retain_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    shredded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: bucket-number bits of the token and subject indexes (``broker.extracts.index.bucket_bits``)
    token_bits: Mapped[int | None] = mapped_column(Integer)
    subject_bits: Mapped[int | None] = mapped_column(Integer)


class ExtractChunk(Base):
    """AES-256-GCM ciphertext of a run of rows (Arrow IPC), so a lookup decrypts one chunk, not a file."""

    __tablename__ = "extract_chunks"

    extract_id: Mapped[str] = mapped_column(ForeignKey("extracts.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_row: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class ExtractIndexBucket(Base):
    """One bucket of an extract's token or subject index: packed entries sorted by key, read by key."""

    __tablename__ = "extract_index"

    extract_id: Mapped[str] = mapped_column(ForeignKey("extracts.id"), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[bytes] = mapped_column(LargeBinary)


class SubjectAlias(Base):
    """A subject id retired by a linkage merge -> the id that survived (kept resolved: one hop)."""

    __tablename__ = "subject_aliases"
    __table_args__ = (Index("ix_subject_aliases_subject", "agreement_id", "subject"),)

    agreement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    alias: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(32))


class LinkageSnapshot(Base):
    """The linkage engine's state for one agreement (stage-2 token digests only), replaced per extract;
    its link tokens are in :class:`LinkageSegment` rows, one per extract."""

    __tablename__ = "linkage_states"

    agreement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    records: Mapped[int] = mapped_column(Integer)
    state: Mapped[bytes] = mapped_column(LargeBinary)


class LinkageSegment(Base):
    """The link tokens one extract's records hold in its agreement's linkage space: written once when
    the extract is linked and deleted when its records leave (supersession, retention), so a
    submission writes its own tokens, not every extract's again."""

    __tablename__ = "linkage_segments"

    agreement_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    extract_id: Mapped[str] = mapped_column(ForeignKey("extracts.id"), primary_key=True)
    tokens: Mapped[bytes] = mapped_column(LargeBinary)
