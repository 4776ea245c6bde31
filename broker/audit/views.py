"""The DPO's window on the audit log: search, CSV export, signed checkpoints and inclusion proofs.

The operator reads broker-wide. A DPO reads their own agency's events, or, naming an agreement and a
purpose, every event under an agreement that grants their agency ``audit_read`` (decided and audited by
``broker.agreements.service.authorize``). Every read is itself audited.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from agreements.model import AgreementId, FieldName, PurposeCode
from audit.event import AuditEvent, Decision
from broker.agencies.models import Role
from broker.agencies.service import Actor
from broker.agreements.service import authorize, get_active_agreement
from broker.api.deps import DbSession, api_router, deny, require_roles
from broker.api.params import AGENCY_SLUG, PlainText, UtcMoment
from broker.audit import service
from broker.audit.models import AuditCheckpoint
from broker.errors import Invalid, NotFound
from broker.extracts.service import retired_pseudonyms
from broker.records import service as records_service
from broker.records.views import Identifiers
from broker.secrets import Secrets

router = api_router(prefix="/v1/audit", tags=["audit"])
Reader = Annotated[Actor, Depends(require_roles(Role.operator, Role.dpo))]

PSEUDONYM = r"^[A-Za-z0-9._:~-]{1,128}$"
ACTION = r"^[a-z][a-z0-9_.-]{0,199}$"
SEQ_MAX = 2**63 - 1
"""The largest sequence number a BIGINT column holds."""
_MOMENT = "With its UTC offset, e.g. 2026-11-29T09:00:00Z."
AgreementQuery = Annotated[AgreementId | None, Query(description="Agreement id.")]
PurposeQuery = Annotated[
    PurposeCode | None, Query(description="For a DPO naming an agreement: the audit_read purpose.")
]
CSV_COLUMNS = [
    "seq",
    "time",
    "action",
    "decision",
    "actor",
    "agency",
    "role",
    "reason",
    "agreement_id",
    "agreement_version",
    "rule_id",
    "purpose",
    "case_reference",
    "subjects",
    "request_id",
    "result",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


class EventsPage(BaseModel):
    events: list[dict[str, Any]]
    next_after: int | None = Field(description="Pass as 'after' to fetch the next page; null at the end.")


class CheckpointOut(BaseModel):
    origin: str
    size: int
    root: str = Field(description="Base64 RFC 9162 root hash.")
    note: str = Field(description="The C2SP signed checkpoint note.")
    created_at: datetime
    verifier_key: str = Field(description="The note verifier key (name+id+base64 Ed25519 key).")
    consistency: list[str] | None = Field(
        default=None, description="Base64 consistency proof from 'from_size', when asked for."
    )


class ProofOut(BaseModel):
    seq: int
    body: str = Field(
        description="The event's canonical JSON; leaf = SHA-256(0x00 || seq (8 bytes) || body)."
    )
    leaf_hash: str
    tree_size: int
    proof: list[str]
    checkpoint: CheckpointOut


def _scope(
    session: DbSession, request: Request, actor: Actor, agreement: str | None, purpose: str | None
) -> service.Scope:
    """Broker-wide for the operator; for a DPO their agency, or an agreement whose audit_read they hold."""
    if actor.has(Role.operator):
        return service.BROKER_WIDE
    if agreement is None:
        return service.Scope(agency=actor.agency_id)
    if purpose is None:
        raise Invalid("Reading an agreement's audit trail needs the 'purpose' it is granted for.")
    decision = authorize(session, actor, "audit_read", agreement, None, (), purpose)
    if not decision.allowed:
        deny(
            session,
            request,
            actor,
            decision.reason or "policy",
            "No audit_read permission for this agreement and purpose.",
            agreement_id=agreement,
            purpose=purpose,
        )
    return service.Scope(agreement_id=agreement)


def _secrets(request: Request) -> Secrets:
    secrets: Secrets = request.app.state.secrets
    return secrets


def _audit_read(
    session: DbSession,
    actor: Actor,
    action: str,
    *,
    agreement_id: str | None = None,
    purpose: str | None = None,
    subject: str | None = None,
    **result: str | int | None,
) -> None:
    """Reading the log is itself logged: who, under which agreement and purpose, about which subject."""
    service.record(
        session,
        AuditEvent(
            action=action,
            decision=Decision.allow,
            actor=str(actor.id),
            agency=actor.agency_id,
            role=",".join(sorted(actor.roles)),
            agreement_id=agreement_id,
            purpose=purpose,
            subjects=(subject,) if subject else (),
            result=dict(result),
        ),
    )


def _checkpoint_out(
    checkpoint: AuditCheckpoint, secrets: Secrets, consistency: list[bytes] | None = None
) -> CheckpointOut:
    return CheckpointOut(
        origin=service.ORIGIN,
        size=checkpoint.size,
        root=base64.b64encode(bytes(checkpoint.root)).decode(),
        note=checkpoint.note,
        created_at=checkpoint.created_at,
        verifier_key=service.verifier_key(secrets),
        consistency=None if consistency is None else [base64.b64encode(h).decode() for h in consistency],
    )


def _safe_cell(value: Any) -> str:
    """Spreadsheet-safe text (OWASP CSV injection): a cell that could start a formula gets a leading '."""
    cell = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv(events: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        row = {**event, "subjects": " ".join(event.get("subjects") or [])}
        writer.writerow([_safe_cell(row.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


@router.get("/events", response_model=EventsPage)
def list_events(
    request: Request,
    session: DbSession,
    actor: Reader,
    agreement: AgreementQuery = None,
    purpose: PurposeQuery = None,
    by: Annotated[PlainText | None, Query(max_length=64, description="Actor (principal id).")] = None,
    agency: Annotated[str | None, Query(pattern=AGENCY_SLUG)] = None,
    action: Annotated[str | None, Query(pattern=ACTION)] = None,
    decision: Decision | None = None,
    subject: str | None = Query(default=None, pattern=PSEUDONYM, description="Per-agreement pseudonym."),
    since: Annotated[UtcMoment | None, Query(description=_MOMENT)] = None,
    until: Annotated[UtcMoment | None, Query(description=_MOMENT)] = None,
    after: int | None = Query(
        default=None, ge=-1, le=SEQ_MAX, description="Cursor: return events with seq > after."
    ),
    limit: int = Query(default=100, ge=1, le=1000),
    format: Literal["json", "csv"] = "json",
) -> Any:
    flt = service.EventFilter(agreement, by, agency, action, decision, subject, since, until, after)
    rows = service.search(session, flt, _scope(session, request, actor, agreement, purpose), limit=limit)
    events = [service.event_view(row) for row in rows]
    _audit_read(
        session,
        actor,
        "audit.events.read",
        agreement_id=agreement,
        purpose=purpose,
        subject=subject,
        returned=len(events),
        format=format,
    )
    if format == "csv":
        return Response(
            _csv(events),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'},
        )
    return EventsPage(events=events, next_after=rows[-1].seq if len(rows) == limit else None)


@router.get("/checkpoints/latest", response_model=CheckpointOut)
def latest_checkpoint(
    request: Request,
    session: DbSession,
    actor: Reader,
    from_size: int | None = Query(default=None, ge=1, description="Also return a consistency proof."),
) -> CheckpointOut:
    secrets = _secrets(request)
    checkpoint = service.checkpoint_covering(session, service.log_size(session), service.signer(secrets))
    session.commit()  # a new checkpoint holds appends off until committed: not while proofs are built
    consistency = None if from_size is None else service.consistency_proof(session, from_size, checkpoint)
    _audit_read(session, actor, "audit.checkpoint.read", size=checkpoint.size)
    return _checkpoint_out(checkpoint, secrets, consistency)


@router.get("/events/{seq}/proof", response_model=ProofOut)
def event_proof(
    request: Request,
    session: DbSession,
    actor: Reader,
    seq: Annotated[int, Path(ge=0, le=SEQ_MAX)],
    agreement: AgreementQuery = None,
    purpose: PurposeQuery = None,
) -> ProofOut:
    secrets = _secrets(request)
    scope = _scope(session, request, actor, agreement, purpose)
    found = service.search(session, service.EventFilter(after=seq - 1), scope, limit=1)
    if not found or found[0].seq != seq:
        raise NotFound(f"No audit event with sequence number {seq} that you may read.")
    checkpoint = service.checkpoint_covering(session, seq + 1, service.signer(secrets))
    session.commit()  # a new checkpoint holds appends off until committed: not while the tree is built
    proof = service.inclusion_proof(session, seq, checkpoint)
    _audit_read(session, actor, "audit.proof.read", agreement_id=agreement, purpose=purpose, seq=seq)
    return ProofOut(
        seq=proof.seq,
        body=proof.body,
        leaf_hash=base64.b64encode(proof.leaf_hash).decode(),
        tree_size=proof.checkpoint.size,
        proof=[base64.b64encode(h).decode() for h in proof.proof],
        checkpoint=_checkpoint_out(proof.checkpoint, secrets),
    )


class SubjectReportIn(BaseModel):
    """A subject access request: the child's identifiers (tokenised at once, never stored or logged)."""

    model_config = ConfigDict(extra="forbid")

    agreement_id: AgreementId
    purpose: PurposeCode = Field(description="The audit_read purpose the DPO holds under the agreement.")
    identifiers: Identifiers | None = None
    tokens: dict[FieldName, Annotated[str, Field(max_length=120)]] | None = Field(default=None, max_length=10)


class SubjectReportOut(BaseModel):
    agreement_id: str
    subjects: list[str] = Field(description="The child's pseudonyms under this agreement (current first).")
    events: list[dict[str, Any]]


@router.post("/subject-report", response_model=SubjectReportOut)
def subject_report(
    body: SubjectReportIn, request: Request, session: DbSession, actor: Reader
) -> SubjectReportOut:
    """Every logged access to one child's records under an agreement whose audit trail the DPO may read."""
    scope = _scope(session, request, actor, body.agreement_id, body.purpose)
    agreement = get_active_agreement(session, body.agreement_id)
    identifiers = body.identifiers.model_dump(exclude_none=True) if body.identifiers else None
    master_key = _secrets(request).master_key
    digests = records_service.probe_digests(session, master_key, agreement, identifiers, body.tokens)
    subject = records_service.find_subject(session, agreement.id, digests)
    subjects = [subject, *retired_pseudonyms(session, agreement.id, subject)]
    rows = {
        row.seq: row
        for pseudonym in subjects
        for row in service.search(
            session, service.EventFilter(agreement_id=agreement.id, subject=pseudonym), scope, limit=10_000
        )
    }
    events = [service.event_view(rows[seq]) for seq in sorted(rows)]
    _audit_read(
        session,
        actor,
        "audit.subject_report",
        agreement_id=agreement.id,
        purpose=body.purpose,
        subject=subject,
        returned=len(events),
    )
    return SubjectReportOut(agreement_id=agreement.id, subjects=subjects, events=events)
