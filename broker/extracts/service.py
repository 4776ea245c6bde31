"""Submitting extracts: authorise, check, re-key to stage 2, link, store encrypted, index, receipt.

One submission is one database transaction: the receipt, the encrypted chunks, the indexes, the new
linkage state, the supersession of the previous extract and the audit event land together or not at
all (DESIGN §2.8: nothing half-stored). Refused extracts keep only their receipt (no payload, no
tokens), so a data officer can look it up again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import polars as pl
import pyarrow as pa
from polars._typing import PolarsDataType
from pydantic import ConfigDict
from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from agreements.model import Agreement, Dataset
from audit.event import AuditEvent, Decision
from broker.agencies.models import Role
from broker.agencies.service import Actor
from broker.agreements.service import authorize, get_active_agreement
from broker.audit.service import record, record_denial
from broker.database import Base
from broker.errors import Forbidden, Invalid, NotFound
from broker.extracts import index, storage
from broker.extracts.checks import (
    DIGEST_KEPT,
    FORMATS,
    MAX_PROBLEMS,
    Checked,
    ExtractRefused,
    Problem,
    read_and_check,
)
from broker.extracts.models import (
    Extract,
    ExtractChunk,
    ExtractIndexBucket,
    ExtractStatus,
    LinkageSegment,
    LinkageSnapshot,
    SubjectAlias,
)
from broker.keys.service import broker_key, linkage_key
from broker.linkage.engine import LinkageEngine, LinkageState
from pseudonymise.keymaterial import Purpose, derive_key
from pseudonymise.tokens import BrokerRekeyer

SUBMIT: Final = "extract.submit"
PURGE: Final = "extract.purge"
_INSERT_BATCH: Final = 20_000
#: linkage states of this engine version and later hold tokens as bytes, earlier ones as text
_BINARY_TOKENS_SINCE: Final = 4


@dataclass(frozen=True)
class Receipt:
    """What the data officer gets back. Counts, row numbers and rules only, never values."""

    # Also the HTTP response (FastAPI serialises the dataclass). Every field, the problems' row and column
    # included, is always sent, so /docs marks them all required, defaults or not.
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    extract_id: str
    agreement_id: str
    dataset: str
    status: str
    as_of: date
    received_at: datetime
    content_hash: str
    rows_total: int
    rows_accepted: int
    rows_rejected: int
    problems: list[Problem]
    supersedes: str | None
    duplicate: bool = False

    @classmethod
    def of(cls, extract: Extract, supersedes: str | None = None, duplicate: bool = False) -> Receipt:
        return cls(
            extract_id=extract.id,
            agreement_id=extract.agreement_id,
            dataset=extract.dataset_id,
            status=extract.status,
            as_of=extract.as_of,
            received_at=extract.received_at,
            content_hash=extract.content_hash,
            rows_total=extract.rows_total,
            rows_accepted=extract.rows_accepted,
            rows_rejected=extract.rows_rejected,
            problems=[Problem(**p) for p in extract.problems],
            supersedes=supersedes,
            duplicate=duplicate,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _role(actor: Actor) -> str:
    return ",".join(sorted(actor.roles))


def refuse(
    session: Session,
    actor: Actor,
    action: str,
    reason: str,
    detail: str,
    *,
    agreement_id: str,
    purpose: str | None = None,
    rule_id: str | None = None,
    case_reference: str | None = None,
) -> Forbidden:
    """Audit a refusal (committed although the request fails) and return the 403 to raise."""
    record_denial(
        session,
        AuditEvent(
            action=action,
            decision=Decision.deny,
            actor=str(actor.id),
            agency=actor.agency_id,
            role=_role(actor),
            reason=reason,
            agreement_id=agreement_id,
            rule_id=rule_id,
            purpose=purpose,
            case_reference=case_reference,
        ),
    )
    return Forbidden(detail, reason=reason)


def authorise_submission(
    session: Session,
    actor: Actor,
    agreement_id: str,
    dataset_id: str,
    purpose: str | None,
    at: datetime | None = None,
) -> tuple[Agreement, Dataset, str | None, str]:
    """The active agreement, its dataset, the deciding rule and purpose; a refusal is audited and raised.

    The API calls it before reading an upload, so a caller without the right never makes the broker
    spool a file; :func:`submit` calls it again at the moment of storing.
    """
    at = at or _now()
    if not actor.has(Role.data_officer):
        raise refuse(
            session,
            actor,
            SUBMIT,
            "role",
            "Only a data officer can submit extracts.",
            agreement_id=agreement_id,
            purpose=purpose,
        )
    try:
        agreement = get_active_agreement(session, agreement_id, at)
    except (NotFound, Forbidden) as exc:
        raise refuse(
            session,
            actor,
            SUBMIT,
            str(exc.extra.get("reason", "no_active_agreement")),
            exc.detail,
            agreement_id=agreement_id,
            purpose=purpose,
        ) from None
    try:
        dataset = agreement.dataset(dataset_id)
    except KeyError:
        raise refuse(
            session,
            actor,
            SUBMIT,
            "dataset",
            f"Agreement '{agreement_id}' has no dataset '{dataset_id}'.",
            agreement_id=agreement_id,
            purpose=purpose,
        ) from None
    if dataset.provider != actor.agency_id:
        raise refuse(
            session,
            actor,
            SUBMIT,
            "agency",
            f"Only the provider agency '{dataset.provider}' submits dataset '{dataset_id}'.",
            agreement_id=agreement_id,
            purpose=purpose,
        )
    purposes = [purpose] if purpose else [p.code for p in agreement.purposes]
    first = None
    for code in purposes:
        decision = authorize(
            session, actor, "submit_extract", agreement_id, dataset_id, dataset.field_names(), code, at
        )
        if decision.allowed:
            return agreement, dataset, decision.rule_id, code
        first = first or decision
    assert first is not None
    raise refuse(
        session,
        actor,
        SUBMIT,
        first.reason or "denied",
        first.detail,
        agreement_id=agreement_id,
        purpose=purpose,
    )


#: how the state's frames are stored (record numbers 32-bit, repeated names as dictionaries, so zstd
#: spends its time on the link tokens, random bytes and most of the blob) and how they are held
_STORED: Final = {"rec": pl.Int32, "dataset": pl.Categorical, "key_type": pl.Categorical}
_HELD: Final = {"rec": pl.Int64, "dataset": pl.String, "key_type": pl.String}


def _recast(frame: pl.DataFrame, types: Mapping[str, PolarsDataType]) -> pl.DataFrame:
    return frame.cast({c: t for c, t in types.items() if c in frame.columns})


#: meta key of a state row whose link tokens are in ``linkage_segments``, one row per extract
_SEGMENTED: Final = "token_segments"
_TOKENS_HELD: Final = {"rec": pl.Int64, "key_type": pl.String, "token": pl.Binary}


def _packed(*parts: pl.DataFrame | memoryview) -> bytes:
    """Length-prefixed parts in one blob: a frame as zstd Arrow IPC in its stored types, or raw bytes.

    Joined once at the end: a growing buffer would copy a segment's 150 MB token run two more times.
    """
    pieces: list[bytes | memoryview] = []
    for part in parts:
        if isinstance(part, pl.DataFrame):
            buffer = io.BytesIO()
            _recast(part, _STORED).write_ipc(buffer, compression="zstd")
            part = buffer.getbuffer()
        pieces += [struct.pack(">Q", part.nbytes), part]
    return b"".join(pieces)


def _parts(blob: bytes) -> list[memoryview]:
    view = memoryview(blob)
    parts: list[memoryview] = []
    offset = 0
    while offset < len(view):
        (size,) = struct.unpack_from(">Q", view, offset)
        parts.append(view[offset + 8 : offset + 8 + size])
        offset += 8 + size
    return parts


def _frame(part: memoryview) -> pl.DataFrame:
    return _recast(pl.read_ipc(io.BytesIO(part)), _HELD)


def _token_run(part: memoryview) -> pl.Series:
    """A run of 16-byte link tokens back into a Binary column (no copy per value)."""
    run = pa.py_buffer(part)
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(DIGEST_KEPT), len(run) // DIGEST_KEPT, [None, run])
    return pl.Series("token", fixed, dtype=pl.Binary)


def _pack_state(state: LinkageState) -> bytes:
    """The state row: JSON meta, records and aliases (Arrow IPC). The link tokens are not in it: each
    extract's are a :class:`LinkageSegment` (:func:`_save_engine`)."""
    meta = memoryview(json.dumps({**state.meta, _SEGMENTED: True}, sort_keys=True).encode())
    return _packed(meta, state.records, state.aliases)


def _pack_segment(tokens: pl.DataFrame) -> bytes:
    """One extract's link tokens (row: the record's place among the extract's records, key_type, token):
    row and key type as Arrow IPC, the tokens as one uncompressed run of 16-byte values (random bytes,
    on which zstd spent a second for nothing; a run needs no offsets)."""
    return _packed(
        tokens.select(pl.col("row").cast(pl.Int32), "key_type"),
        index.fixed_bytes(tokens["token"], DIGEST_KEPT).data,
    )


def _spans(records: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """Extract id -> (first record number, record count) in the linkage space. An extract's records are
    added together and removal keeps the order, so they are consecutive; anything else is a bug."""
    spans = (
        records.group_by(pl.col("record_id").str.extract(r"^([^:]*):", 1).alias("extract"))
        .agg(pl.col("rec").min().alias("first"), pl.col("rec").max().alias("last"), pl.len().alias("n"))
        .filter(pl.col("extract").is_not_null())
    )
    if (spans["last"] - spans["first"] + 1 != spans["n"]).any():
        raise RuntimeError("an extract's records are not consecutive in the linkage state")
    return {e: (first, n) for e, first, n in spans.select("extract", "first", "n").iter_rows()}


def _segment_tokens(records: pl.DataFrame, segments: Mapping[str, bytes]) -> pl.DataFrame:
    """The state's (rec, key_type, token) from its extracts' segments, in record order."""
    spans = _spans(records)
    frames = []
    for extract_id, blob in sorted(segments.items(), key=lambda item: spans.get(item[0], (-1, 0))[0]):
        if extract_id not in spans:
            raise RuntimeError("a linkage segment has no records in the linkage state")
        first, n = spans[extract_id]
        head, run = _parts(blob)
        tokens = _frame(head).with_columns(_token_run(run))
        if tokens.height and not 0 <= tokens["row"].min() <= tokens["row"].max() < n:  # type: ignore[operator]
            raise RuntimeError("a linkage segment points past its extract's records")
        frames.append(tokens.select((pl.col("row") + first).alias("rec"), "key_type", "token"))
    return pl.concat(frames).cast(_TOKENS_HELD) if frames else pl.DataFrame(schema=_TOKENS_HELD)  # type: ignore[arg-type]


def _unpack_state(blob: bytes, segments: Mapping[str, bytes] | None = None) -> LinkageState:
    """Inverse of :func:`_pack_state` with the agreement's segments (``None``: the tokens are not
    wanted). Older layouts still load: tokens inline in the row, as a run (5 parts) or in the tokens
    frame (4 parts), and before version 4 as text."""
    parts = _parts(blob)
    meta = json.loads(bytes(parts[0]))
    if meta.pop(_SEGMENTED, False):
        _, records, aliases = parts
        record_frame = _frame(records)
        tokens = (
            _segment_tokens(record_frame, segments)
            if segments is not None
            else pl.DataFrame(schema=_TOKENS_HELD)
        )
        return LinkageState(record_frame, tokens, pl.read_ipc(io.BytesIO(aliases)), meta)
    _, records, tokens_part, aliases, *run = parts
    token_frame = _frame(tokens_part)
    if run:
        token_frame = token_frame.with_columns(_token_run(run[0]))
    elif meta.get("version", 0) < _BINARY_TOKENS_SINCE:
        token_frame = token_frame.with_columns(_text_link_token(pl.col("token")))
    return LinkageState(_frame(records), token_frame, pl.read_ipc(io.BytesIO(aliases)), meta)


def load_engine(
    session: Session, master_key: bytes, agreement_id: str
) -> tuple[LinkageEngine, LinkageSnapshot]:
    """The agreement's linkage engine, its row locked on PostgreSQL so submissions link one at a time."""
    snapshot = session.scalars(
        select(LinkageSnapshot).where(LinkageSnapshot.agreement_id == agreement_id).with_for_update()
    ).one_or_none()
    key = derive_key(master_key, agreement_id, Purpose.SUBJECT, 1)
    if snapshot is None:
        snapshot = LinkageSnapshot(agreement_id=agreement_id, updated_at=_now(), records=0, state=b"")
        session.add(snapshot)
        return LinkageEngine(key), snapshot
    rows = session.execute(
        select(LinkageSegment.extract_id, LinkageSegment.tokens).where(
            LinkageSegment.agreement_id == agreement_id
        )
    )
    segments = {extract_id: tokens for extract_id, tokens in rows}
    return LinkageEngine.from_state(_unpack_state(snapshot.state, segments), key), snapshot


def _text_link_token(text: pl.Expr) -> pl.Expr:
    """The link token of a digest stored as padded base64url text (linkage states before version 4):
    its kept bytes, as an extract's digests are now."""
    return text.str.replace_many(["-", "_"], ["+", "/"]).str.decode("base64").bin.head(DIGEST_KEPT)


def _record_merges(session: Session, agreement_id: str, merged: dict[str, str]) -> None:
    """Retired subject ids -> survivor in the alias table, earlier aliases moved on: index blobs stay.

    Every alias points at a live subject (one hop), also when one batch retires a chain of ids.
    """

    def final(subject: str) -> str:
        while subject in merged:
            subject = merged[subject]
        return subject

    resolved = {retired: final(retired) for retired in merged}
    for retired, survivor in resolved.items():
        session.execute(
            update(SubjectAlias)
            .where(SubjectAlias.agreement_id == agreement_id, SubjectAlias.subject == retired)
            .values(subject=survivor)
        )
    _bulk_insert(
        session,
        SubjectAlias,
        ("agreement_id", "alias", "subject"),
        ((agreement_id, retired, survivor) for retired, survivor in resolved.items()),
    )


def _save_engine(session: Session, snapshot: LinkageSnapshot, state: LinkageState, packed: bytes) -> None:
    """Store ``state`` (``packed`` by :func:`_pack_state`): a segment for each extract in it that has
    none yet (also every extract of a state from before segments), none for extracts whose records
    have left, and the state row."""
    agreement_id = snapshot.agreement_id
    spans = _spans(state.records)
    stored = set(
        session.scalars(select(LinkageSegment.extract_id).where(LinkageSegment.agreement_id == agreement_id))
    )
    if stored - spans.keys():
        session.execute(
            delete(LinkageSegment).where(
                LinkageSegment.agreement_id == agreement_id,
                LinkageSegment.extract_id.in_(sorted(stored - spans.keys())),
            )
        )
    for extract_id in sorted(spans.keys() - stored):
        _insert_segment(session, agreement_id, extract_id, _cut_segment(state, *spans[extract_id]))
    snapshot.state = packed
    snapshot.records = state.records.height
    snapshot.updated_at = _now()


def _cut_segment(state: LinkageState, first: int, n: int) -> bytes:
    """The packed segment of the extract whose records are ``first`` .. ``first + n - 1``."""
    tokens = state.tokens.filter(pl.col("rec").is_between(first, first + n - 1))
    return _pack_segment(tokens.select((pl.col("rec") - first).alias("row"), "key_type", "token"))


def _insert_segment(session: Session, agreement_id: str, extract_id: str, packed: bytes) -> None:
    _bulk_insert(
        session,
        LinkageSegment,
        ("agreement_id", "extract_id", "tokens"),
        [(agreement_id, extract_id, packed)],
    )


def _records_of(extract: Extract) -> str:
    """The record-id prefix of an extract's rows in the linkage space (the colon keeps e1 from e10)."""
    return f"{extract.id}:"


@dataclass(frozen=True)
class _Batch:
    """An extract's rows as linkage takes them: one record per row that carries tokens (``rows``, in
    order, named in ``records``), and the tokens pointing at their record's line (``tokens``: row,
    key_type, token); ``line`` maps a row number that carries tokens to its line."""

    rows: pl.Series
    records: pl.DataFrame
    tokens: pl.DataFrame
    line: np.ndarray


def _batch(dataset_id: str, prefix: str, tokens: pl.DataFrame) -> _Batch:
    token_rows = tokens.get_column("_row").to_numpy()
    carries = np.zeros(int(token_rows.max(initial=-1)) + 1, dtype=bool)
    carries[token_rows] = True
    rows = pl.Series("_row", np.flatnonzero(carries))
    line = np.cumsum(carries) - 1  # row number -> its line among the rows with tokens
    return _Batch(
        rows,
        pl.DataFrame({"dataset": dataset_id, "record_id": prefix + rows.cast(pl.String)}),
        tokens.select(
            pl.lit(pl.Series(line)).gather(pl.col("_row")).alias("row"),
            pl.col("key_type"),
            pl.col("digest").alias("token"),
        ),
        line,
    )


@dataclass(frozen=True)
class _Linked:
    """What linking an extract's batch gives: (_row, subject) for its rows, the subject ids it retired
    (-> survivor), and the new linkage state."""

    subjects: pl.DataFrame
    merged: dict[str, str]
    state: LinkageState


def _link(engine: LinkageEngine, batch: _Batch, superseded: tuple[str, str] | None) -> _Linked:
    """Add an extract's batch to the agreement's linkage space.

    It runs on a worker thread beside the database work, so it is given plain values, never ORM
    objects (reading an expired attribute would use the session from two threads). The superseded
    extract (dataset, record-id prefix) leaves the linkage space after the new records joined it, so
    the children keep their subject pseudonyms (clusters never split) and stale tokens stop linking.
    """
    report = engine.add_rows(batch.records, batch.tokens)
    if report.records_added != batch.records.height:  # its segment was written as all new records'
        raise RuntimeError("an extract's records were already in the linkage space")
    if superseded is not None:
        engine.remove(superseded[0], prefix=superseded[1])
    subjects = pl.DataFrame({"_row": batch.rows, "subject": report.assignments["subject_id"]})
    return _Linked(subjects, report.merged, engine.to_state())


def _bulk_insert(
    session: Session, model: type[Base], columns: tuple[str, ...], rows: Iterable[tuple[object, ...]]
) -> None:
    """Insert many rows in the caller's transaction: binary COPY on PostgreSQL, executemany elsewhere."""
    table = cast(Table, model.__table__)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        assert driver is not None
        # binary COPY: bytea travels as is instead of hex-escaped text (a third of the time)
        types = [re.sub(r"\(.*\)", "", table.c[c].type.compile(connection.dialect)).lower() for c in columns]
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        return
    # SQLite: the driver's executemany with positional parameters, without per-row compilation
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _INSERT_BATCH:
            connection.exec_driver_sql(statement, batch)
            batch = []
    if batch:
        connection.exec_driver_sql(statement, batch)


def _lay_out_tokens(tokens: pl.DataFrame, line: np.ndarray) -> index.Layout:
    """The token index laid out before linkage names the subjects (on the second thread while the rows
    are linked): the subjects will come one per line of the batch (``_Batch.line``)."""
    indexed = tokens.filter(pl.col("key_type").is_in([k.value for k in index.INDEXED_KEYS]))
    digests = index.fixed_bytes(indexed["digest"], DIGEST_KEPT)
    return index.token_layout(digests, subject_of=line[indexed["_row"].to_numpy()])


@dataclass(frozen=True)
class _Index:
    """An extract's index buckets, ready to insert, and the bucket bits the extract row records."""

    token_bits: int
    subject_bits: int
    rows: list[tuple[int, int, memoryview]]


def _build_index(tokens: index.Layout, subjects: pl.DataFrame) -> _Index:
    """The extract's token -> subject and subject -> row buckets (``broker.extracts.index``)."""
    raw = index.subject_bytes(subjects["subject"])
    subject_bits, subject_buckets = index.subject_buckets(raw, subjects["_row"].to_numpy())
    token_bits, token_buckets = index.complete(tokens, (raw,))
    return _Index(
        token_bits,
        subject_bits,
        [
            (int(kind), bucket, blob)
            for kind, buckets in ((index.Kind.TOKEN, token_buckets), (index.Kind.SUBJECT, subject_buckets))
            for bucket, blob in buckets
        ],
    )


def _seal(
    data_key: bytes, extract_id: str, checked: Checked, good: pl.DataFrame
) -> list[tuple[int, int, bytes]]:
    """The accepted payload in row order, sealed in chunks (only rejected rows need taking out)."""
    payload = (
        checked.payload.join(good, on="_row", how="semi").sort("_row")
        if checked.bad_rows
        else checked.payload
    )
    return list(storage.seal_chunks(data_key, extract_id, payload))


def _store(
    session: Session,
    master_key: bytes,
    extract: Extract,
    checked: Checked,
    good: pl.DataFrame,
    superseded: Extract | None,
) -> None:
    """Encrypt the accepted payload, write the indexes and link; all inside the caller's transaction.

    The work is split so that the database writes overlap the computing: linking, laying out the token
    index (its digests need no subjects), packing the extract's linkage segment (its link tokens, known
    before linking), sealing, then completing the index buckets and packing the linkage state run on
    two worker threads (polars, numpy, AES-GCM and sqlite3 let go of the GIL), while this thread,
    the only one using the session, writes each result as soon as it is ready.
    """
    tokens = checked.tokens.join(good, on="_row", how="semi") if checked.bad_rows else checked.tokens
    data_key = storage.new_data_key()
    extract.wrapped_key = storage.wrap_key(master_key, extract.id, data_key)
    engine, snapshot = load_engine(session, master_key, extract.agreement_id)
    batch = _batch(extract.dataset_id, _records_of(extract), tokens)
    held = engine.held_tokens(batch.tokens)  # this extract's segment, known before linking
    with ThreadPoolExecutor(max_workers=2) as pool:
        linking = pool.submit(
            _link,
            engine,
            batch,
            None if superseded is None else (superseded.dataset_id, _records_of(superseded)),
        )
        segment = pool.submit(_pack_segment, held)
        indexing = pool.submit(_lay_out_tokens, tokens, batch.line)
        sealing = pool.submit(_seal, data_key, extract.id, checked, good)
        # queued now, so that they start the moment linking ends, whatever this thread is writing then;
        # the index first: its rows are the larger write, and packing the state is not in its way
        building = pool.submit(lambda: _build_index(indexing.result(), linking.result().subjects))
        packing = pool.submit(lambda: _pack_state(linking.result().state))
        session.flush()  # the extract row exists before the rows that refer to it
        _insert_segment(session, extract.agreement_id, extract.id, segment.result())
        _bulk_insert(
            session,
            ExtractChunk,
            ("extract_id", "seq", "first_row", "sealed"),
            ((extract.id, seq, first, sealed) for seq, first, sealed in sealing.result()),
        )
        built = building.result()
        extract.token_bits, extract.subject_bits = built.token_bits, built.subject_bits
        _bulk_insert(
            session,
            ExtractIndexBucket,
            ("extract_id", "kind", "bucket", "entries"),
            ((extract.id, kind, bucket, blob) for kind, bucket, blob in built.rows),
        )
        linked = linking.result()
        if linked.merged:
            _record_merges(session, extract.agreement_id, linked.merged)
        _save_engine(session, snapshot, linked.state, packing.result())
        session.flush()


def is_current(agreement_id: str) -> list[ColumnElement[bool]]:
    """Conditions for the extracts lookups and frames read: accepted, not superseded, not shredded."""
    return [
        Extract.agreement_id == agreement_id,
        Extract.status == ExtractStatus.accepted,
        Extract.superseded_by.is_(None),
        Extract.shredded_at.is_(None),
    ]


def current_extract(session: Session, agreement_id: str, dataset_id: str) -> Extract | None:
    """The current extract of one dataset."""
    return session.scalars(
        select(Extract).where(Extract.dataset_id == dataset_id, *is_current(agreement_id))
    ).one_or_none()


def _problems(problems: list[Problem]) -> list[dict[str, object]]:
    ordered = sorted(problems, key=lambda p: (p.row or 0, p.column or "", p.rule))
    return [p.as_dict() for p in ordered[:MAX_PROBLEMS]]


def submit(
    session: Session,
    master_key: bytes,
    actor: Actor,
    agreement_id: str,
    dataset_id: str,
    path: Path,
    file_format: str,
    as_of: date,
    *,
    purpose: str | None = None,
    content_hash: str | None = None,
    at: datetime | None = None,
) -> Receipt:
    """Check and store one extract; idempotent by content hash (a resubmission returns the first receipt)."""
    now = at or _now()
    if file_format not in FORMATS:
        raise Invalid(f"Unsupported format '{file_format}': send csv or parquet.")
    if as_of > now.date() + timedelta(days=1):  # a day's grace for the sender's time zone
        raise Invalid("as_of is in the future: give the date the extract describes (ISO 8601, YYYY-MM-DD).")
    agreement, dataset, rule_id, purpose_code = authorise_submission(
        session, actor, agreement_id, dataset_id, purpose, now
    )
    link_key = linkage_key(session, agreement_id, master_key=master_key)
    stage2_key = broker_key(session, agreement_id, master_key=master_key)
    rekeyer = BrokerRekeyer(stage2_key)
    # Without a hash from the upload, the file is hashed beside the checks (hashlib lets go of the GIL);
    # a resubmitted file is then read once for nothing, which is rare and stores nothing.
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(lambda: content_hash or sha256_file(path))
        try:
            outcome: Checked | ExtractRefused = read_and_check(
                path, file_format, dataset, rekeyer, link_key.version
            )
        except ExtractRefused as refused:
            outcome = refused
        digest = hashing.result()
    existing = session.scalars(
        select(Extract).where(
            Extract.agreement_id == agreement_id,
            Extract.dataset_id == dataset_id,
            Extract.content_hash == digest,
        )
    ).one_or_none()
    event = AuditEvent(
        action=SUBMIT,
        decision=Decision.allow,
        actor=str(actor.id),
        agency=actor.agency_id,
        role=_role(actor),
        agreement_id=agreement_id,
        agreement_version=agreement.version,
        rule_id=rule_id,
        purpose=purpose_code,
    )
    if existing is not None:
        record(
            session,
            replace(
                event,
                result={
                    "extract_id": existing.id,
                    "dataset": dataset_id,
                    "status": existing.status,
                    "duplicate": True,
                },
            ),
        )
        return Receipt.of(existing, duplicate=True)

    extract = Extract(
        id=uuid.uuid4().hex,
        agreement_id=agreement_id,
        agreement_version=agreement.version,
        dataset_id=dataset_id,
        provider=dataset.provider,
        submitted_by=actor.id,
        as_of=as_of,
        received_at=now,
        content_hash=digest,
        file_format=file_format,
        rows_total=0,
        rows_accepted=0,
        rows_rejected=0,
        problems=[],
        link_key_version=link_key.version,
        broker_key_version=stage2_key.version,
        retain_until=dataset.retention_duration().add_to(now),
    )
    previous = None
    prior = current_extract(session, agreement_id, dataset_id)
    if isinstance(outcome, ExtractRefused):
        extract.status = outcome.status
        extract.rows_total = outcome.rows_total
        extract.rows_rejected = outcome.rows_total
        extract.problems = _problems(outcome.problems)
        session.add(extract)
    else:
        checked = outcome
        extract.rows_total = checked.rows_total
        extract.rows_rejected = len(checked.bad_rows)
        extract.rows_accepted = checked.rows_total - extract.rows_rejected
        extract.problems = _problems([p for ps in checked.bad_rows.values() for p in ps])
        extract.status = ExtractStatus.accepted if extract.rows_accepted else ExtractStatus.rejected
        session.add(extract)
        session.flush()
        if extract.rows_accepted:
            good = checked.good()
            if prior is not None:
                prior.superseded_by = extract.id
                previous = prior.id
            _store(session, master_key, extract, checked, good, prior)
    session.flush()
    record(
        session,
        replace(
            event,
            result={
                "extract_id": extract.id,
                "dataset": dataset_id,
                "status": extract.status,
                "rows_accepted": extract.rows_accepted,
                "rows_rejected": extract.rows_rejected,
            },
        ),
    )
    return Receipt.of(extract, supersedes=previous)


def get_receipt(
    session: Session, actor: Actor, agreement_id: str, dataset_id: str, extract_id: str
) -> Receipt:
    """A receipt again, for its provider agency (or the operator)."""
    extract = session.get(Extract, extract_id)
    if extract is None or extract.agreement_id != agreement_id or extract.dataset_id != dataset_id:
        raise NotFound(f"No extract '{extract_id}' for dataset '{dataset_id}' under '{agreement_id}'.")
    if extract.provider != actor.agency_id and not actor.has(Role.operator):
        raise NotFound(f"No extract '{extract_id}' for dataset '{dataset_id}' under '{agreement_id}'.")
    return Receipt.of(extract)


def history(session: Session, actor: Actor, agreement_id: str, dataset_id: str) -> list[Receipt]:
    """Every extract of a dataset, newest first, for its provider agency (or the operator)."""
    rows = session.scalars(
        select(Extract)
        .where(Extract.agreement_id == agreement_id, Extract.dataset_id == dataset_id)
        .order_by(Extract.received_at.desc())
    ).all()
    return [Receipt.of(e) for e in rows if e.provider == actor.agency_id or actor.has(Role.operator)]


@dataclass(frozen=True)
class PurgeReport:
    extracts: int
    index_rows: int


def purge_expired(session: Session, master_key: bytes, at: datetime | None = None) -> PurgeReport:
    """Crypto-shred extracts past retention: destroy the wrapped data key, drop the index buckets and
    the extract's records and tokens from the linkage space.

    The sealed chunks stay (unreadable without the key) so nothing needs a bulk delete of payload;
    the receipt stays as history. Each purge is audited.
    """
    now = at or _now()
    due = session.scalars(
        select(Extract).where(
            Extract.retain_until <= now,
            Extract.shredded_at.is_(None),
            Extract.status == ExtractStatus.accepted,
        )
    ).all()
    removed = 0
    for agreement_id in sorted({e.agreement_id for e in due}):
        engine, snapshot = load_engine(session, master_key, agreement_id)
        for extract in (e for e in due if e.agreement_id == agreement_id):
            engine.remove(extract.dataset_id, prefix=_records_of(extract))
        state = engine.to_state()
        _save_engine(session, snapshot, state, _pack_state(state))
    for extract in due:
        deleted = session.execute(
            delete(ExtractIndexBucket).where(ExtractIndexBucket.extract_id == extract.id)
        )
        removed += cast(CursorResult[Any], deleted).rowcount
        extract.wrapped_key = None
        extract.shredded_at = now
        record(
            session,
            AuditEvent(
                action=PURGE,
                decision=Decision.allow,
                agreement_id=extract.agreement_id,
                agreement_version=extract.agreement_version,
                reason="retention",
                result={"extract_id": extract.id, "dataset": extract.dataset_id},
            ),
            at=now,
        )
    return PurgeReport(extracts=len(due), index_rows=removed)


def retired_pseudonyms(session: Session, agreement_id: str, subject: str) -> list[str]:
    """Earlier pseudonyms of ``subject`` (clusters merged into it), so a subject access report is complete:
    the alias table, kept one hop, by its (agreement, subject) index."""
    return sorted(
        session.scalars(
            select(SubjectAlias.alias).where(
                SubjectAlias.agreement_id == agreement_id, SubjectAlias.subject == subject
            )
        )
    )
