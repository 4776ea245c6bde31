"""The one interface through which every decision reaches the audit log, and the log's read side.

``record`` appends inside the caller's transaction, so an allowed action and its audit event land
together or not at all. ``record_denial`` discards the request's pending work, appends the denial and
commits it, so a refused request is audited even though it fails. Either raises ``AuditUnavailable`` if
the append fails: the request then fails too (fail closed).

On PostgreSQL the append is one call to the SECURITY DEFINER function ``audit_append``, which takes the
advisory lock ``LOCK_KEY`` shared, draws the sequence number from a sequence and hashes the event in SQL;
the application role cannot write the table or touch the sequence. The shared lock lasts until the
transaction ends, so ``record`` only queues the event in the session and the appends run as the
transaction's last statements (a ``before_commit`` hook); a failed append fails the commit. Appenders do
not wait for each other, so their commits can land out of sequence order, and a transaction that drew a
number and then did not commit leaves a hole. Whatever needs a settled prefix takes the lock exclusive
(``settled_size``, ``create_checkpoint``): that waits for every append in flight, so below the committed
maximum nothing can still arrive. ``create_checkpoint`` files an ``audit.gap`` event at each hole above
the latest checkpoint before signing; ``verify`` reports a hole it finds as a failure.

On SQLite (one writer at a time anyway) the row is computed and added at once, and an insert guard admits
only the next sequence number, so there are no holes.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, cast, event, func, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from audit.canonical import canonical_bytes, format_time, leaf_bytes, parse_time
from audit.checkpoint import Checkpoint
from audit.event import AuditEvent, Decision
from audit.merkle import HASH_SIZE, CompactTree, MerkleTree, leaf_hash
from audit.note import NoteSigner, NoteVerifier
from audit.verify import LogEntry, VerifyReport, open_checkpoints, verify_log
from broker.audit.models import AuditCheckpoint, AuditRecord
from broker.database import UtcDateTime
from broker.errors import NotFound, ProblemError
from broker.logs import request_id_var
from broker.secrets import Secrets

ORIGIN = "broker/audit"
"""The checkpoint origin line and the signing key's note name."""

LOCK_KEY = 0x62726B61756474
"""PostgreSQL advisory lock (migrations 0004 and 0009): appenders take it shared, settling takes it
exclusive."""

GAP_ACTION = "audit.gap"

_FIELD_DEFAULTS: dict[str, Any] = {
    "time": None,
    "action": None,
    "decision": None,
    "actor": None,
    "agency": None,
    "agreement_id": None,
    "subjects": [],
}


class AuditUnavailable(ProblemError):
    status = 503
    title = "Audit log unavailable"


def event_body(event: AuditEvent, at: datetime) -> bytes:
    """The canonical bytes of an event as logged: its fields plus the time, without the sequence number."""
    return canonical_bytes({**event.to_dict(), "time": at})


_APPEND = "SELECT audit_append(%s)"

_PENDING = "broker.audit.pending"
"""``session.info`` key: bodies recorded in the open transaction, appended just before it commits."""


def record(session: Session, event: AuditEvent, at: datetime | None = None) -> None:
    """Append ``event`` in the caller's transaction: in the log if, and only if, the caller commits."""
    if event.request_id is None and request_id_var.get():
        event = replace(event, request_id=request_id_var.get())
    body = event_body(event, at or datetime.now(UTC))
    if session.get_bind().dialect.name == "postgresql":
        session.info.setdefault(_PENDING, []).append(body)
        return
    try:
        _sqlite_append(session, body)
    except SQLAlchemyError as exc:
        raise AuditUnavailable("The audit log could not be written, so the request was not done.") from exc


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    """The transaction's events go in as its last statements, so the lock is held briefly.

    Not at a savepoint's commit: a savepoint rolled back later would take appended events with it.
    """
    if not session.in_nested_transaction():
        _append_pending(session)


def _append_pending(session: Session) -> None:
    """Append the events ``record`` queued in this session, in order (PostgreSQL; a no-op elsewhere).

    The session's other pending changes are flushed first, so the lock is not held while they are. The
    call goes to the DBAPI cursor directly: SQLAlchemy's statement handling (even ``exec_driver_sql``)
    cost 150 of an append's 920 microseconds of client CPU. A driver error fails the commit as
    ``AuditUnavailable`` just as an SQLAlchemy one does.
    """
    if not session.info.get(_PENDING):
        return
    session.flush()  # outside the try: the caller's own errors are not the audit log's
    bodies = session.info.pop(_PENDING)
    driver_error = session.get_bind().dialect.loaded_dbapi.Error
    try:
        cursor = session.connection().connection.cursor()
        try:
            for body in bodies:
                cursor.execute(_APPEND, (body.decode(),))
        finally:
            cursor.close()
    except (SQLAlchemyError, driver_error) as exc:
        raise AuditUnavailable("The audit log could not be written, so the request was not done.") from exc


@event.listens_for(Session, "after_transaction_end")
def _drop_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    """Events of a transaction that ended without committing were never appended: forget them."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _next_seq(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(AuditRecord.seq), -1) + 1)).scalar_one())


_SQLITE_APPEND = text(
    """INSERT INTO audit_events (seq, at, action, decision, actor, agency, agreement_id, subjects, body,
                                 leaf_hash, tree_size)
       SELECT n, :at, :action, :decision, :actor, :agency, :agreement_id, :subjects, :body,
              audit_leaf_hash(n, :body), n + 1
       FROM (SELECT coalesce(max(seq), -1) + 1 AS n FROM audit_events)"""
).bindparams(bindparam("at", type_=UtcDateTime()))
"""One statement, so the number is drawn under the write lock: SQLite takes it when a writing statement
starts, before the statement reads. Read first in a statement of its own, the number could be taken by
another connection's commit in between, and the insert guard would refuse the append. The leaf hash is
computed in SQL too, as PostgreSQL's append function does (``audit_leaf_hash``: every SQLite connection
gets it, see ``broker.database``)."""


def _sqlite_append(session: Session, body: bytes) -> None:
    fields = json.loads(body)
    session.execute(
        _SQLITE_APPEND,
        {
            "at": parse_time(fields["time"]),
            "action": fields["action"],
            "decision": fields["decision"],
            "actor": fields.get("actor"),
            "agency": fields.get("agency"),
            "agreement_id": fields.get("agreement_id"),
            "subjects": json.dumps(fields.get("subjects", [])),
            "body": body.decode(),
        },
    )


def record_denial(session: Session, event: AuditEvent) -> None:
    """Discard the caller's pending work and commit the denial in a transaction of its own.

    Its own session, so it works whether or not the caller is inside ``session.begin()``.
    """
    if event.decision is not Decision.deny:
        raise ValueError("record_denial takes deny events only")
    session.rollback()
    session.info.pop(_PENDING, None)  # rolled back too, also if no SQL had begun a transaction
    with Session(bind=session.get_bind()) as own, own.begin():
        record(own, event)


# --- keys -------------------------------------------------------------------------------------------


def signer(secrets: Secrets) -> NoteSigner:
    """The checkpoint signer: the broker's Ed25519 signing key under the note name ``ORIGIN``."""
    return NoteSigner(ORIGIN, secrets.signing_key.seed)


def verifier_key(secrets: Secrets) -> str:
    """The public verifier key string to hand to DPOs and witnesses."""
    return signer(secrets).verifier().to_string()


# --- checkpoints ----------------------------------------------------------------------------------


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)).first()


def log_size(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(AuditRecord.tree_size), 0))).scalar_one())


def _settle(session: Session) -> None:
    """Take the append lock exclusive (PostgreSQL): wait until every append in flight has committed or
    rolled back, and hold new ones off until this transaction (or savepoint) ends."""
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def settled_size(session: Session) -> int:
    """One past the highest committed sequence number, at a moment when no append was in flight, so every
    number below it is either in the log or was abandoned (a hole). On PostgreSQL the exclusive lock is
    taken in a savepoint and let go with it at once: appends wait only for this one query."""
    if session.get_bind().dialect.name != "postgresql":
        return _next_seq(session)
    savepoint = session.begin_nested()
    try:
        _settle(session)
        return _next_seq(session)
    finally:
        savepoint.rollback()


def _leaves(session: Session, start: int, stop: int) -> Iterator[tuple[int, bytes]]:
    query = (
        select(AuditRecord.seq, AuditRecord.leaf_hash)
        .where(AuditRecord.seq >= start, AuditRecord.seq < stop)
        .order_by(AuditRecord.seq)
        .execution_options(yield_per=20_000)
    )
    for seq, h in session.execute(query):
        yield seq, bytes(h)


def _leaf_hashes(session: Session, start: int, stop: int) -> Iterator[bytes]:
    return (h for _, h in _leaves(session, start, stop))


def _frontier(checkpoint: AuditCheckpoint | None) -> CompactTree:
    """The compact tree saved with a checkpoint, or an empty one if it is missing or does not add up."""
    if checkpoint is None:
        return CompactTree()
    raw = bytes(checkpoint.frontier)
    hashes = [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
    try:
        tree = CompactTree(checkpoint.size, hashes)
    except ValueError:
        return CompactTree()
    return tree if tree.root() == bytes(checkpoint.root) else CompactTree()


def gap_body(seq: int, at: datetime) -> bytes:
    """The event filed at a hole: hashed like any other, so a DPO sees it and a checkpoint seals it."""
    event = AuditEvent(
        action=GAP_ACTION,
        decision=Decision.allow,
        reason=f"sequence number {seq} was drawn by a transaction that did not commit",
        result={"seq": seq},
    )
    return event_body(event, at)


def create_checkpoint(session: Session, key: NoteSigner) -> AuditCheckpoint:
    """Sign the settled log, the caller's own recorded events included; extends the last checkpoint's
    compact tree instead of rehashing.

    On PostgreSQL the exclusive lock is held until the caller's transaction ends (the gap events and the
    checkpoint are stored under it), so commit soon after. A hole above the latest checkpoint gets an
    ``audit.gap`` event. One below it is a deletion and is never filled: the new checkpoint extends the
    sealed frontier (or, if that is unusable too, fails), and ``verify`` names the hole.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        _settle(session)
    _append_pending(session)
    previous = latest_checkpoint(session)
    size = log_size(session)
    if previous is not None and previous.size == size:
        return previous
    tree = _frontier(previous)
    sealed = previous.size if previous is not None else 0
    at = datetime.now(UTC)
    gaps: list[str] = []
    for seq, h in _leaves(session, tree.size, size):
        while tree.size < seq:
            if not postgres or tree.size < sealed:
                raise AuditUnavailable(
                    f"Sequence number {tree.size} is missing from the log; run 'broker audit verify'."
                )
            body = gap_body(tree.size, at)
            gaps.append(body.decode())
            tree.append(leaf_hash(leaf_bytes(tree.size, body)))
        tree.append(h)
    note = Checkpoint(ORIGIN, size, tree.root()).sign(key)
    frontier = b"".join(tree.hashes)
    try:
        if postgres:
            session.execute(
                text("SELECT audit_add_checkpoint(:size, :root, :frontier, :note, CAST(:gaps AS text[]))"),
                {"size": size, "root": tree.root(), "frontier": frontier, "note": note, "gaps": gaps},
            )
        else:
            session.add(
                AuditCheckpoint(
                    size=size, root=tree.root(), frontier=frontier, note=note, created_at=datetime.now(UTC)
                )
            )
            session.flush()
    except SQLAlchemyError as exc:
        raise AuditUnavailable("The checkpoint could not be stored.") from exc
    stored = session.get(AuditCheckpoint, size)
    if stored is None:
        raise AuditUnavailable("The checkpoint could not be read back.")
    return stored


# --- verification ---------------------------------------------------------------------------------


def _row_fields(row: Any) -> dict[str, Any]:
    return {
        "time": format_time(row.at),
        "action": row.action,
        "decision": row.decision,
        "actor": row.actor,
        "agency": row.agency,
        "agreement_id": row.agreement_id,
        "subjects": json.loads(row.subjects),
    }


def rebuild_leaf(row: Any) -> bytes:
    """The leaf bytes re-serialised from a stored row: ``body`` with every searchable column laid over it,
    so a column edited apart from the body changes the leaf."""
    fields = json.loads(row.body)
    for key, value in _row_fields(row).items():
        if fields.get(key, _FIELD_DEFAULTS[key]) != value:
            fields[key] = value
    return leaf_bytes(row.seq, canonical_bytes(fields))


def _entries(session: Session, stop: int) -> Iterator[LogEntry]:
    columns = (
        AuditRecord.seq,
        AuditRecord.at,
        AuditRecord.action,
        AuditRecord.decision,
        AuditRecord.actor,
        AuditRecord.agency,
        AuditRecord.agreement_id,
        AuditRecord.subjects,
        AuditRecord.body,
        AuditRecord.leaf_hash,
        AuditRecord.tree_size,
    )
    query = (
        select(*columns)
        .where(AuditRecord.seq < stop)
        .order_by(AuditRecord.seq)
        .execution_options(yield_per=20_000)
    )
    for row in session.execute(query):
        yield LogEntry(row.seq, rebuild_leaf(row), bytes(row.leaf_hash), row.tree_size)


def verify(session: Session, verifiers: Sequence[NoteVerifier]) -> VerifyReport:
    """Recompute the tree from the stored rows and hold it against every stored checkpoint.

    Only the settled prefix is read (``settled_size``, taken after the checkpoints, which it therefore
    covers): an append still in flight is neither a hole nor part of the run, and appends are not held
    up while the rows are hashed.
    """
    notes = session.scalars(select(AuditCheckpoint.note).order_by(AuditCheckpoint.size)).all()
    checkpoints, problem = open_checkpoints(notes, verifiers, ORIGIN)
    if problem is not None:
        return VerifyReport(False, 0, len(checkpoints), b"", None, problem)
    return verify_log(_entries(session, settled_size(session)), checkpoints)


# --- proofs ---------------------------------------------------------------------------------------


class _TreeCache:
    """One full tree per database, extended with new leaves on demand, so a proof costs O(log² n)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: dict[str, MerkleTree] = {}

    def tree(self, session: Session, size: int, root: bytes) -> MerkleTree:
        """The tree over the first ``size`` stored leaves, checked against the signed ``root``."""
        bind = session.get_bind()
        key = bind.engine.url.render_as_string(hide_password=True)
        with self._lock:
            tree = self._trees.get(key) or MerkleTree()
            if tree.size > size and tree.root(size) != root:
                tree = MerkleTree()
            tree.extend(_leaf_hashes(session, tree.size, size))
            if tree.root(size) != root:
                tree = MerkleTree(_leaf_hashes(session, 0, size))
                if tree.root(size) != root:
                    raise AuditUnavailable(
                        "The stored log does not match its signed checkpoint; run 'broker audit verify'."
                    )
            self._trees[key] = tree
            return tree


_trees = _TreeCache()


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    body: str
    leaf_hash: bytes
    checkpoint: AuditCheckpoint
    proof: list[bytes]


def checkpoint_covering(session: Session, size: int, key: NoteSigner) -> AuditCheckpoint:
    """The latest checkpoint if it covers ``size`` entries, else a fresh one."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.size >= size:
        return latest
    return create_checkpoint(session, key)


def inclusion_proof(session: Session, seq: int, checkpoint: AuditCheckpoint) -> InclusionProof:
    """Event ``seq``'s proof against ``checkpoint`` (from ``checkpoint_covering``: commit a new one
    first, so appends are not held off while the tree is built)."""
    row = session.get(AuditRecord, seq)
    if row is None or seq >= checkpoint.size:
        raise NotFound(f"No audit event with sequence number {seq} under this checkpoint.")
    tree = _trees.tree(session, checkpoint.size, bytes(checkpoint.root))
    return InclusionProof(
        seq, row.body, bytes(row.leaf_hash), checkpoint, tree.inclusion_proof(seq, checkpoint.size)
    )


def consistency_proof(session: Session, old_size: int, checkpoint: AuditCheckpoint) -> list[bytes]:
    if not 0 < old_size <= checkpoint.size:
        raise NotFound(f"No tree of size {old_size} below the latest checkpoint.")
    tree = _trees.tree(session, checkpoint.size, bytes(checkpoint.root))
    return tree.consistency_proof(old_size, checkpoint.size)


# --- search ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """DPO search criteria; every field narrows the result. ``after`` is the keyset cursor (a seq)."""

    agreement_id: str | None = None
    actor: str | None = None
    agency: str | None = None
    action: str | None = None
    decision: Decision | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Scope:
    """Which events a reader may see: all (the operator), one agency's, or one agreement's."""

    agency: str | None = None
    agreement_id: str | None = None


BROKER_WIDE = Scope()


def _names_subject(subject: str, dialect: str) -> ColumnElement[bool]:
    """The event's subjects include ``subject``: a GIN-indexed jsonb lookup on PostgreSQL (migration
    0008), a match of the quoted pseudonym in the JSON text on SQLite (the demo's scale)."""
    if dialect == "postgresql":
        return cast(AuditRecord.subjects, JSONB).op("?", is_comparison=True)(subject)
    return AuditRecord.subjects.like(f'%"{_like_escape(subject)}"%', escape="\\")


def conditions(flt: EventFilter, scope: Scope, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE clause of a search, for ``dialect`` (the subject match differs)."""
    out: list[ColumnElement[bool]] = []
    for column, value in (
        (AuditRecord.agreement_id, flt.agreement_id),
        (AuditRecord.actor, flt.actor),
        (AuditRecord.agency, flt.agency),
        (AuditRecord.action, flt.action),
        (AuditRecord.decision, str(flt.decision) if flt.decision else None),
    ):
        if value is not None:
            out.append(column == value)
    within = ((AuditRecord.agency, scope.agency), (AuditRecord.agreement_id, scope.agreement_id))
    scoped = [column == value for column, value in within if value is not None]
    if scoped:  # a lost sequence number may have been anyone's, so every reader sees its gap event
        out.append(or_(and_(*scoped), AuditRecord.action == GAP_ACTION))
    if flt.subject is not None:
        out.append(_names_subject(flt.subject, dialect))
    if flt.since is not None:
        out.append(AuditRecord.at >= flt.since)
    if flt.until is not None:
        out.append(AuditRecord.at < flt.until)
    if flt.after is not None:
        out.append(AuditRecord.seq > flt.after)
    return out


def search(session: Session, flt: EventFilter, scope: Scope, *, limit: int) -> list[AuditRecord]:
    """Events matching ``flt`` within ``scope``, in sequence order, at most ``limit`` of them."""
    where = conditions(flt, scope, session.get_bind().dialect.name)
    query = select(AuditRecord).where(*where).order_by(AuditRecord.seq).limit(limit)
    return list(session.scalars(query))


def event_view(row: AuditRecord) -> dict[str, Any]:
    """A stored event as the API shows it: the logged fields plus its seq and the tree size it made."""
    return {"seq": row.seq, **row.summary, "tree_size": row.tree_size}


# --- export ---------------------------------------------------------------------------------------


def export_lines(
    session: Session, key: NoteSigner, flt: EventFilter, scope: Scope = BROKER_WIDE
) -> Iterator[str]:
    """JSON lines for an outside party: the checkpoint (with the verifier key) first, then every matching
    event it covers with its body, leaf hash and inclusion proof against that checkpoint."""
    checkpoint = checkpoint_covering(session, log_size(session), key)
    b64 = base64.b64encode
    yield json.dumps(
        {
            "type": "checkpoint",
            "origin": ORIGIN,
            "size": checkpoint.size,
            "root": b64(bytes(checkpoint.root)).decode(),
            "note": checkpoint.note,
            "verifier_key": key.verifier().to_string(),
        }
    )
    tree = _trees.tree(session, checkpoint.size, bytes(checkpoint.root))
    after = flt.after
    while True:
        rows = search(session, replace(flt, after=after), scope, limit=1000)
        for row in rows:
            if row.seq >= checkpoint.size:
                return
            yield json.dumps(
                {
                    "type": "event",
                    "seq": row.seq,
                    "body": row.body,
                    "leaf_hash": b64(bytes(row.leaf_hash)).decode(),
                    "proof": [b64(h).decode() for h in tree.inclusion_proof(row.seq, checkpoint.size)],
                }
            )
        if len(rows) < 1000:
            return
        after = rows[-1].seq
