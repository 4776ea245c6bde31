"""The linked child record: one child's permitted fields across datasets, found by token, never by name.

Identifiers in a request are normalised and tokenised at once (stage 1 with the agreement's current
linkage key, then stage 2), and only the stage-2 digests go to the database; they are neither stored
nor logged. A lookup reads the token index and the few sealed chunks holding the child's rows: it
never scans an extract.

The index buckets and the chunk layout of an extract never change, so their bytes and the unwrapped
data key are cached per extract (bounded); so are the policy's grants per enforcer and agreement version.
Which extracts are current, the aliases, which policy is live, the constraints and the audit are
decided afresh on every request.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import Annotated, Final, TypeVar

import polars as pl
from pydantic import Field
from sqlalchemy import Integer, String, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.selectable import ScalarSelect

from agreements.model import Agreement
from audit.event import AuditEvent, Decision
from broker.agencies.service import Actor
from broker.agreements.service import decide, get_active_agreement, policy_enforcer
from broker.audit.service import record, record_denial
from broker.cache import Lru
from broker.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests
from broker.extracts import index, storage
from broker.extracts.models import Extract, ExtractChunk, ExtractIndexBucket, SubjectAlias
from broker.extracts.service import is_current, refuse
from broker.keys.models import KeyringEntry
from broker.keys.service import broker_key, linkage_key
from broker.records.models import LookupRequest
from policies.decision import Decision as PolicyDecision
from policies.decision import Request
from policies.enforcer import PolicyEnforcer
from pseudonymise.keymaterial import Purpose
from pseudonymise.matchkeys import STRONG_KEYS, KeyType, compute_keys
from pseudonymise.tokens import BrokerRekeyer, Token, TokenError, Tokeniser

LOOKUP: Final = "record.lookup"
ACTION: Final = "linked_record_request"
MIN_WEAK_KEYS: Final = 2
T = TypeVar("T")
KeyVersions = tuple[int | None, int | None]
"""An agreement's newest stage-1 and stage-2 key versions (None: no such key)."""
BUCKET_CACHE: Final = 4096
EXTRACT_CACHE: Final = 64
GRANT_CACHE: Final = 1024

_buckets: Lru[tuple[str, int, int], bytes] = Lru(BUCKET_CACHE)
_layouts: Lru[str, tuple[bytes, list[int], list[int]]] = Lru(EXTRACT_CACHE)
_keys: Lru[tuple[bytes, str, int | None, int | None], tuple[Tokeniser, BrokerRekeyer, int]] = Lru(
    EXTRACT_CACHE
)


@dataclass(frozen=True)
class Grant:
    """What the caller may see of one dataset: the fields, and the rule that granted them."""

    dataset: str
    fields: tuple[str, ...]
    rule_id: str | None
    max_per_day: int | None
    case_reference_required: bool


@dataclass(frozen=True)
class DatasetRecord:
    dataset: str
    provider: str
    as_of: date
    received_at: datetime
    extract_id: str
    fields: dict[str, object]


# The lookup's HTTP response as is (FastAPI serialises the dataclass): descriptions are for /docs.
@dataclass(frozen=True)
class LinkedRecord:
    subject: Annotated[str, Field(description="The child's pseudonym within this agreement.")]
    agreement_id: str
    agreement_version: int
    records: list[DatasetRecord]


def _now() -> datetime:
    return datetime.now(UTC)


Granted = tuple[tuple[Grant, ...], PolicyDecision | None]
GrantKey = tuple[str, str, frozenset[str], str, bool]


class _GrantCache:
    """Grants as one enforcer answered them; the next live enforcer starts afresh (and frees the old)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._enforcer: PolicyEnforcer | None = None
        self._items: Lru[GrantKey, Granted] = Lru(GRANT_CACHE)

    def of(self, enforcer: PolicyEnforcer) -> Lru[GrantKey, Granted]:
        with self._lock:
            if self._enforcer is not enforcer:
                self._enforcer, self._items = enforcer, Lru(GRANT_CACHE)
            return self._items


_granted = _GrantCache()


def active(session: Session, agreement_id: str, at: datetime) -> tuple[PolicyEnforcer, Agreement]:
    """The live policy and the agreement version it holds as active at ``at``, from one read.

    Only when that version is missing or out of its validity is the agreement read again, to raise the
    exact refusal (``NotFound`` or ``Forbidden`` with its reason).
    """
    enforcer = policy_enforcer(session)
    agreement = enforcer.active_agreement(agreement_id)
    if agreement is None or not agreement.validity.covers(at):
        agreement = get_active_agreement(session, agreement_id, at)
    return enforcer, agreement


def grants(
    enforcer: PolicyEnforcer, actor: Actor, agreement: Agreement, purpose: str, at: datetime
) -> Granted:
    """Per dataset, the fields the policy grants (prohibited ones dropped); else the telling denial.

    Asks the policy engine directly, once or twice per dataset, and leaves the auditing to the one
    lookup event, which carries the deciding rules or the denial reason. Every compiled rule's time
    window is its agreement's validity, so for the version the enforcer holds as active the answer
    depends on ``at`` only through whether that validity covers it: it is cached per enforcer (which
    is immutable) on that, the agreement, the caller's agency and roles and the purpose.
    """

    def ask() -> Granted:
        return _grants(enforcer, actor, agreement, purpose, at)

    if enforcer.active_agreement(agreement.id) is not agreement:  # a version activated since: ask
        return ask()
    key = (agreement.id, actor.agency_id, actor.roles, purpose, agreement.validity.covers(at))
    return _granted.of(enforcer).get_or_build(key, ask)


def _grants(
    enforcer: PolicyEnforcer, actor: Actor, agreement: Agreement, purpose: str, at: datetime
) -> Granted:
    out: list[Grant] = []
    denials: list[PolicyDecision] = []
    for dataset in agreement.datasets:
        wanted = dataset.field_names("payload", "geography", "free_text")

        def ask(fields: frozenset[str], dataset_id: str = dataset.id) -> PolicyDecision:
            request = Request(
                role="",
                agency=actor.agency_id,
                action=ACTION,
                agreement_id=agreement.id,
                purpose=purpose,
                at=at,
                dataset=dataset_id,
                fields=fields,
            )
            return decide(enforcer, actor.roles, request)[1]

        decision = ask(wanted)
        if not decision.allowed and decision.reason == "field" and decision.denied_fields:
            wanted = wanted - frozenset(decision.denied_fields)
            if wanted:
                decision = ask(wanted)
        if decision.allowed and wanted:
            constraints = decision.constraints
            out.append(
                Grant(
                    dataset=dataset.id,
                    fields=tuple(sorted(wanted)),
                    rule_id=decision.rule_id,
                    max_per_day=constraints.max_requests_per_day if constraints else None,
                    case_reference_required=bool(constraints and constraints.case_reference_required),
                )
            )
        else:
            denials.append(decision)
    if out:
        return tuple(out), None
    # a dataset outside every grant is expected; another reason (role, purpose...) says more
    telling = [d for d in denials if d.reason != "dataset"] or denials
    return (), telling[0] if telling else None


_AGREEMENT: Final = bindparam("agreement", type_=String())


def _newest_keys() -> tuple[ScalarSelect[int], ScalarSelect[int]]:
    """The newest stage-1 and stage-2 key versions of agreement ``:agreement``, for any statement."""

    def newest(purpose: Purpose) -> ScalarSelect[int]:
        return (
            select(func.max(KeyringEntry.version))
            .where(KeyringEntry.agreement_id == _AGREEMENT, KeyringEntry.purpose == purpose.value)
            .scalar_subquery()
        )

    return newest(Purpose.LINK), newest(Purpose.BROKER)


def _admission(limited: bool) -> ReturningInsert[int, int]:
    """Insert one lookup (``:principal``, ``:agreement``, ``:at``), if ``limited`` only while fewer than
    ``:limit`` are counted since ``:day``; return the agreement's newest key versions."""
    row = select(
        bindparam("principal", type_=LookupRequest.principal_id.type),
        _AGREEMENT,
        bindparam("at", type_=LookupRequest.at.type),
    )
    if limited:
        used = (
            select(func.count())
            .select_from(LookupRequest)
            .where(
                LookupRequest.principal_id == bindparam("principal"),
                LookupRequest.agreement_id == _AGREEMENT,
                LookupRequest.at >= bindparam("day", type_=LookupRequest.at.type),
            )
            .scalar_subquery()
        )
        row = row.where(used < bindparam("limit", type_=Integer()))
    return (
        insert(LookupRequest)
        .from_select(["principal_id", "agreement_id", "at"], row)
        .returning(*_newest_keys())
    )


# Built once: constructing a statement costs more CPU than running it (SQLAlchemy caches the SQL only).
_NEWEST_KEYS: Final = select(*_newest_keys())
_ADMIT: Final = {limited: _admission(limited) for limited in (False, True)}
_QUOTA_LOCK: Final = text("SELECT pg_advisory_xact_lock(hashtext(:k))")


def _current_keys(
    session: Session, master_key: bytes, agreement_id: str, versions: KeyVersions | None = None
) -> tuple[Tokeniser, BrokerRekeyer, int]:
    """The agreement's current stage-1 and stage-2 keys, ready to use.

    Which versions are current is read on every request, so a rotation takes effect at once: here,
    unless the caller read them already (``versions``). The material of a version never changes, so it
    is unsealed once per process and version.
    """
    if versions is None:
        link, stage2 = session.execute(_NEWEST_KEYS, {"agreement": agreement_id}).one()
        versions = (link, stage2)
    wanted = (master_key, agreement_id, *versions)
    cached = _keys.get(wanted)
    if cached is not None:
        return cached
    link_key = linkage_key(session, agreement_id, master_key=master_key)
    stage2_key = broker_key(session, agreement_id, master_key=master_key)
    keyed = (Tokeniser(link_key), BrokerRekeyer(stage2_key), link_key.version)
    _keys.put((master_key, agreement_id, link_key.version, stage2_key.version), keyed)
    return keyed


def probe_digests(
    session: Session,
    master_key: bytes,
    agreement: Agreement,
    identifiers: Mapping[str, str] | None,
    tokens: Mapping[str, str] | None,
    versions: KeyVersions | None = None,
) -> dict[bytes, KeyType]:
    """Stage-2 digests of the probe; identifiers are tokenised here and go no further."""
    tokeniser, rekeyer, link_version = _current_keys(session, master_key, agreement.id, versions)
    stage1: list[Token] = []
    if identifiers:
        key_types = {KeyType(k) for d in agreement.datasets for k in d.match_keys} or set(KeyType)
        formed = compute_keys(identifiers, sorted(key_types))
        if formed.invalid:
            kinds = ", ".join(sorted(k.value for k in formed.invalid))
            raise Invalid(
                f"These identifiers are not valid: {kinds}.", fields=sorted(k.value for k in formed.invalid)
            )
        stage1 += [tokeniser.tokenise(kt, value) for kt, value in formed.keys.items()]
    for column, text_value in (tokens or {}).items():
        try:
            stage1.append(Token.parse(text_value, stage=1, link_version=link_version))
        except TokenError as exc:
            raise Invalid(f"Token '{column}' refused: {exc.reason.value}.", rule=exc.reason.value) from None
    if not stage1:
        raise Invalid("Give identifiers that form at least one match key, or a stage-1 token.")
    return {rekeyer.stage2(t).digest: t.key_type for t in stage1}


def read_buckets(
    session: Session, kind: index.Kind, extracts: Iterable[tuple[str, int | None]], keys: Mapping[T, int]
) -> dict[tuple[str, T], bytes]:
    """For each (extract id, bucket bits) and each item's 64-bit key, the bucket holding it (if any).

    Buckets are read by primary key and cached per extract; extracts without an index are skipped.
    """
    place = {
        (extract_id, item): index.bucket_of(key, bits)
        for extract_id, bits in extracts
        if bits is not None
        for item, key in keys.items()
    }
    found: dict[tuple[str, int], bytes] = {}
    missing: dict[str, set[int]] = {}
    for (extract_id, _), bucket in place.items():
        blob = _buckets.get((extract_id, kind, bucket))
        if blob is None:
            missing.setdefault(extract_id, set()).add(bucket)
        else:
            found[(extract_id, bucket)] = blob
    if missing:
        rows = session.execute(
            select(
                ExtractIndexBucket.extract_id, ExtractIndexBucket.bucket, ExtractIndexBucket.entries
            ).where(
                ExtractIndexBucket.kind == kind,
                or_(
                    *(
                        and_(ExtractIndexBucket.extract_id == e, ExtractIndexBucket.bucket.in_(sorted(b)))
                        for e, b in missing.items()
                    )
                ),
            )
        ).all()
        for extract_id, bucket, blob in rows:
            _buckets.put((extract_id, kind, bucket), blob)
            found[(extract_id, bucket)] = blob
    return {at: found[(at[0], bucket)] for at, bucket in place.items() if (at[0], bucket) in found}


def _resolve(session: Session, agreement_id: str, subjects: set[str]) -> dict[str, str]:
    """Each subject id as it stands now: a retired id maps to its survivor, others to themselves."""
    if not subjects:
        return {}
    aliases = dict(
        session.execute(
            select(SubjectAlias.alias, SubjectAlias.subject).where(
                SubjectAlias.agreement_id == agreement_id, SubjectAlias.alias.in_(sorted(subjects))
            )
        ).all()
    )
    return {s: aliases.get(s, s) for s in subjects}


def find_subject(session: Session, agreement_id: str, digests: Mapping[bytes, KeyType]) -> str:
    """The one subject the probe points to: by a strong key, else by at least two agreeing weak keys
    that include the date of birth."""
    current = session.execute(select(Extract.id, Extract.token_bits).where(*is_current(agreement_id))).all()
    usable = {d: index.digest_key(d) for d, key_type in digests.items() if key_type in index.INDEXED_KEYS}
    blobs = read_buckets(session, index.Kind.TOKEN, current, usable)
    found = [
        (digest, subject)
        for (_, digest), blob in blobs.items()
        for subject in index.token_subjects(blob, digest)
    ]
    now = _resolve(session, agreement_id, {s for _, s in found})
    hits = [(token, now[subject]) for token, subject in found]
    strong = {subject for token, subject in hits if digests[token] in STRONG_KEYS}
    if len(strong) > 1:
        raise Conflict("The identifiers point to more than one child; check them or add another identifier.")
    if strong:
        return strong.pop()
    weak: defaultdict[str, set[KeyType]] = defaultdict(set)
    for token, subject in hits:
        if digests[token] in index.DOB_KEYS:
            weak[subject].add(digests[token])
    best = max((len(v) for v in weak.values()), default=0)
    leaders = [s for s, v in weak.items() if len(v) == best]
    if best >= MIN_WEAK_KEYS and len(leaders) == 1:
        return leaders[0]
    if len(leaders) > 1 and best >= MIN_WEAK_KEYS:
        raise Conflict("The identifiers match more than one child equally well; add a strong identifier.")
    raise NotFound("No linked record matches these identifiers under this agreement.")


def _layout(session: Session, master_key: bytes, extract: Extract) -> tuple[bytes, list[int], list[int]]:
    """The extract's data key and its chunks' (seq, first row), sorted: fixed once the extract is stored."""
    cached = _layouts.get(extract.id)
    if cached is not None:
        return cached
    assert extract.wrapped_key is not None
    data_key = storage.unwrap_key(master_key, extract.id, extract.wrapped_key)
    chunks = session.execute(
        select(ExtractChunk.seq, ExtractChunk.first_row)
        .where(ExtractChunk.extract_id == extract.id)
        .order_by(ExtractChunk.first_row)
    ).all()
    layout = (data_key, [seq for seq, _ in chunks], [first for _, first in chunks])
    _layouts.put(extract.id, layout)
    return layout


def read_rows(
    session: Session, master_key: bytes, extract: Extract, rows: list[int], fields: tuple[str, ...]
) -> list[dict[str, object]]:
    """Decrypt only the chunks that hold ``rows`` and keep the permitted fields."""
    data_key, seqs, starts = _layout(session, master_key, extract)
    wanted: defaultdict[int, list[int]] = defaultdict(list)
    for row in rows:
        wanted[seqs[bisect.bisect_right(starts, row) - 1]].append(row)
    out: list[dict[str, object]] = []
    for seq, in_chunk in sorted(wanted.items()):
        sealed = session.scalars(
            select(ExtractChunk.sealed).where(ExtractChunk.extract_id == extract.id, ExtractChunk.seq == seq)
        ).one()
        frame = storage.open_chunk(data_key, extract.id, seq, sealed)
        out += frame.filter(pl.col(storage.ROW_COLUMN).is_in(in_chunk)).select(list(fields)).to_dicts()
    return out


def subject_records(
    session: Session,
    master_key: bytes,
    agreement_id: str,
    subject: str,
    fields: Mapping[str, tuple[str, ...]],
) -> list[DatasetRecord]:
    """The subject's rows in the current extracts of the given datasets, only ``fields[dataset]`` kept.

    An extract's subject index holds the ids linkage gave when it was stored, so the subject's retired
    ids (its aliases) are looked up too.
    """
    extracts = session.scalars(
        select(Extract)
        .where(
            Extract.dataset_id.in_(list(fields)), Extract.subject_bits.is_not(None), *is_current(agreement_id)
        )
        .order_by(Extract.dataset_id)
    ).all()
    ids = [
        subject,
        *session.scalars(
            select(SubjectAlias.alias).where(
                SubjectAlias.agreement_id == agreement_id, SubjectAlias.subject == subject
            )
        ),
    ]
    blobs = read_buckets(
        session,
        index.Kind.SUBJECT,
        [(e.id, e.subject_bits) for e in extracts],
        {i: index.subject_key(i) for i in ids},
    )
    out: list[DatasetRecord] = []
    for extract in extracts:
        rows = sorted(
            row
            for i in ids
            if (extract.id, i) in blobs
            for row in index.subject_rows(blobs[(extract.id, i)], i)
        )
        if not rows:
            continue
        out += [
            DatasetRecord(
                dataset=extract.dataset_id,
                provider=extract.provider,
                as_of=extract.as_of,
                received_at=extract.received_at,
                extract_id=extract.id,
                fields=values,
            )
            for values in read_rows(session, master_key, extract, rows, fields[extract.dataset_id])
        ]
    return out


def _admit(
    session: Session, actor: Actor, agreement_id: str, limit: int | None, now: datetime
) -> KeyVersions | None:
    """Count this lookup in the caller's transaction and return the agreement's current key versions;
    or, when ``limit`` lookups today (UTC) under this agreement are already counted, count nothing and
    return None.

    Counting, inserting and reading the key versions is one statement. On PostgreSQL one person's
    lookups under an agreement first queue on a lock held to commit, and that statement starts after
    the lock is granted, so it sees every lookup committed before it and the count cannot be overtaken.
    """
    params: dict[str, object] = {"principal": actor.id, "agreement": agreement_id, "at": now}
    if limit is not None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_QUOTA_LOCK, {"k": f"lookup:{actor.id}:{agreement_id}"})
        params |= {"limit": limit, "day": datetime.combine(now.date(), time(), tzinfo=UTC)}
    # the Core connection: a Session reads a parameter dict as values for an ORM bulk insert
    counted = session.connection().execute(_ADMIT[limit is not None], params).first()
    return None if counted is None else (counted[0], counted[1])


def lookup(
    session: Session,
    master_key: bytes,
    actor: Actor,
    agreement_id: str,
    *,
    purpose: str,
    case_reference: str | None,
    identifiers: Mapping[str, str] | None = None,
    tokens: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> LinkedRecord:
    """Authorise, enforce constraints, find the child and return the permitted fields with provenance."""
    now = at or _now()

    def denied(reason: str, detail: str, rule_id: str | None = None) -> Forbidden:
        return refuse(
            session,
            actor,
            LOOKUP,
            reason,
            detail,
            agreement_id=agreement_id,
            purpose=purpose,
            rule_id=rule_id,
            case_reference=case_reference,
        )

    try:
        enforcer, agreement = active(session, agreement_id, now)
    except (NotFound, Forbidden) as exc:
        raise denied(str(exc.extra.get("reason", "no_active_agreement")), exc.detail) from None
    granted, denial = grants(enforcer, actor, agreement, purpose, now)
    if not granted:
        if denial is None:
            raise denied("dataset", f"Agreement '{agreement_id}' has no datasets.")
        raise denied(denial.reason or "denied", denial.detail, denial.rule_id)
    rule_ids = ",".join(sorted({g.rule_id for g in granted if g.rule_id}))
    if any(g.case_reference_required for g in granted) and not (case_reference and case_reference.strip()):
        raise denied("case_reference_required", "This permission requires a case reference.", rule_ids)
    limit = min((g.max_per_day for g in granted if g.max_per_day is not None), default=None)
    versions = _admit(session, actor, agreement_id, limit, now)
    if versions is None:
        record_denial(
            session,
            AuditEvent(
                action=LOOKUP,
                decision=Decision.deny,
                actor=str(actor.id),
                agency=actor.agency_id,
                role=",".join(sorted(actor.roles)),
                reason="max_requests_per_day",
                agreement_id=agreement_id,
                rule_id=rule_ids,
                purpose=purpose,
                case_reference=case_reference,
            ),
        )
        raise TooManyRequests(
            f"You have made the {limit} lookups this permission allows today.",
            reason="max_requests_per_day",
        )

    event = AuditEvent(
        action=LOOKUP,
        decision=Decision.allow,
        actor=str(actor.id),
        agency=actor.agency_id,
        role=",".join(sorted(actor.roles)),
        agreement_id=agreement_id,
        agreement_version=agreement.version,
        rule_id=rule_ids,
        purpose=purpose,
        case_reference=case_reference,
    )
    digests = probe_digests(session, master_key, agreement, identifiers, tokens, versions)
    try:
        subject = find_subject(session, agreement_id, digests)
    except (NotFound, Conflict) as exc:
        record(session, replace(event, result={"found": False, "outcome": type(exc).__name__}))
        session.commit()  # the miss is audited and counted although the request fails
        raise
    fields = {g.dataset: g.fields for g in granted}
    records = subject_records(session, master_key, agreement_id, subject, fields)
    record(
        session,
        replace(
            event,
            subjects=(subject,),
            result={
                "found": True,
                "datasets": len({r.dataset for r in records}),
                "rows_released": len(records),
            },
        ),
    )
    return LinkedRecord(
        subject=subject, agreement_id=agreement_id, agreement_version=agreement.version, records=records
    )
