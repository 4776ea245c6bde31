"""Aggregate frames: the current extracts of an agreement, decrypted once, one row per subject.

Extracts are immutable, so a decrypted payload frame is cached per extract id; the subject of each
row can change when linkage merges two clusters (the extract's subject index keeps the ids it was
stored with, resolved through the alias table), so the row -> subject map is cached per extract and
linkage-state time. Both caches are small LRUs in process memory (never written anywhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.agreements.service import get_active_agreement
from broker.cache import Lru
from broker.errors import NotFound
from broker.extracts import index, storage
from broker.extracts.models import Extract, ExtractChunk, ExtractIndexBucket, LinkageSnapshot, SubjectAlias
from broker.extracts.service import current_extract

CACHE_SIZE: Final = 32
SUBJECT: Final = "subject"


_payloads: Lru[str, pl.DataFrame] = Lru(CACHE_SIZE)
_subjects: Lru[tuple[str, datetime | None], pl.DataFrame] = Lru(CACHE_SIZE)


def payload_frame(session: Session, master_key: bytes, extract: Extract) -> pl.DataFrame:
    """The whole decrypted payload of one extract (``_row`` + its value columns), cached."""
    cached = _payloads.get(extract.id)
    if cached is not None:
        return cached
    if extract.wrapped_key is None:
        raise NotFound(f"Extract '{extract.id}' has been destroyed under retention.")
    data_key = storage.unwrap_key(master_key, extract.id, extract.wrapped_key)
    chunks = session.execute(
        select(ExtractChunk.seq, ExtractChunk.sealed)
        .where(ExtractChunk.extract_id == extract.id)
        .order_by(ExtractChunk.seq)
    ).all()
    frame = pl.concat([storage.open_chunk(data_key, extract.id, seq, sealed) for seq, sealed in chunks])
    _payloads.put(extract.id, frame)
    return frame


def _subject_map(session: Session, extract: Extract, version: datetime | None) -> pl.DataFrame:
    key = (extract.id, version)
    cached = _subjects.get(key)
    if cached is not None:
        return cached
    blobs = session.scalars(
        select(ExtractIndexBucket.entries)
        .where(ExtractIndexBucket.extract_id == extract.id, ExtractIndexBucket.kind == index.Kind.SUBJECT)
        .order_by(ExtractIndexBucket.bucket)
    ).all()
    aliases = pl.DataFrame(
        session.execute(
            select(SubjectAlias.alias, SubjectAlias.subject).where(
                SubjectAlias.agreement_id == extract.agreement_id
            )
        ).all(),
        schema={SUBJECT: pl.String, "survivor": pl.String},
        orient="row",
    )
    frame = (
        index.all_subject_rows(blobs)
        .join(aliases, on=SUBJECT, how="left")
        .select(storage.ROW_COLUMN, pl.coalesce("survivor", SUBJECT).alias(SUBJECT))
    )
    _subjects.put(key, frame)
    return frame


def linked_frame(
    session: Session, agreement_id: str, datasets: Iterable[str], at: datetime, *, master_key: bytes
) -> pl.DataFrame:
    """One row per linked subject with the datasets' value columns, named ``<dataset>.<field>``.

    Reads each dataset's current extract (accepted, not superseded, not shredded). A subject with
    several rows in one dataset keeps its first row, so the frame holds exactly one row per child, as
    OpenDP needs. A subject missing from a dataset gets nulls there (full outer join). Free-text
    columns are never part of a frame. The agreement must be active at ``at``.
    """
    agreement = get_active_agreement(session, agreement_id, at)
    version = session.scalar(
        select(LinkageSnapshot.updated_at).where(LinkageSnapshot.agreement_id == agreement_id)
    )
    result: pl.DataFrame | None = None
    for dataset_id in datasets:
        extract = current_extract(session, agreement_id, dataset_id)
        if extract is None:
            raise NotFound(f"Dataset '{dataset_id}' under '{agreement_id}' has no current extract.")
        payload = payload_frame(session, master_key, extract)
        wanted = agreement.dataset(dataset_id).field_names("payload", "geography")
        values = [c for c in payload.columns if c in wanted]
        per_subject = (
            payload.join(_subject_map(session, extract, version), on=storage.ROW_COLUMN)
            .sort(storage.ROW_COLUMN)
            .unique(subset=[SUBJECT], keep="first", maintain_order=True)
            .select(SUBJECT, *[pl.col(c).alias(f"{dataset_id}.{c}") for c in values])
        )
        result = (
            per_subject if result is None else result.join(per_subject, on=SUBJECT, how="full", coalesce=True)
        )
    if result is None:
        raise NotFound("Name at least one dataset.")
    return result.sort(SUBJECT)
