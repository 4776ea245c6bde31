"""Agreement lifecycle in the database and the policy decision service every other concept calls.

Versions are stored as canonical JSON with its SHA-256; approvals record that digest, so an approval
only counts for the exact bytes it was given for. Status is stored, but whether a version is in force is
judged at the request time (``effective_from``/``expires_on``), so expiry needs no job and no restart.
Every lifecycle change and every authorisation decision is appended to the audit log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from agreements.approvals import Approval, ApprovalState, approval_state
from agreements.diff import Change, diff
from agreements.lifecycle import Status, TransitionError, effective_status, transition
from agreements.loader import Finding, InvalidAgreement, loads
from agreements.model import Action, Agreement
from agreements.validation import check
from audit.event import AuditEvent
from audit.event import Decision as AuditDecision
from broker.agencies.service import Actor
from broker.agreements.models import AgreementApproval, AgreementVersion
from broker.audit.service import record, record_denial
from broker.errors import Conflict, Forbidden, Invalid, NotFound
from policies.compiler import CompiledRule, compile_agreement
from policies.decision import Decision, DenyReason, Request
from policies.enforcer import LivePolicy, PolicyEnforcer

# How far a denial got before failing, so an actor with several roles is told the most specific reason.
_PROGRESS: dict[DenyReason, int] = {
    "no_active_agreement": 0,
    "outside_validity": 1,
    "agency": 2,
    "role": 3,
    "dataset": 4,
    "purpose": 5,
    "field": 6,
    "prohibited": 7,
}


def _now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=256)
def _parse(document: str) -> Agreement:
    return loads(document, "json")


def agreement_of(row: AgreementVersion) -> Agreement:
    """The parsed document of a stored version (cached by its text, which is immutable once approved)."""
    return _parse(row.document)


def status_at(row: AgreementVersion, at: datetime) -> Status:
    """The version's status as seen at ``at`` (stored status, or ``expired`` once past ``expires_on``)."""
    return effective_status(cast(Status, row.status), agreement_of(row).validity, at)


def approvals_of(row: AgreementVersion) -> ApprovalState:
    """Which required DPOs have approved the stored bytes, re-checked against the document every time."""
    given = [Approval(a.party, a.approver, a.digest, a.at) for a in row.approvals]
    return approval_state(agreement_of(row), row.document, given)


# --- audit helpers ---------------------------------------------------------------------------------


def _audit(session: Session, actor: Actor | None, action: str, row: AgreementVersion, **result: str) -> None:
    record(
        session,
        AuditEvent(
            action=f"agreements.{action}",
            decision=AuditDecision.allow,
            actor=str(actor.id) if actor else None,
            agency=actor.agency_id if actor else None,
            role=",".join(sorted(actor.roles)) if actor else None,
            agreement_id=row.agreement_id,
            agreement_version=row.version,
            result=dict(result),
        ),
    )


def _refuse(
    session: Session, actor: Actor, action: str, reason: str, detail: str, agreement_id: str | None = None
) -> Forbidden:
    """Audit a refused lifecycle step (committed) and return the error for the caller to raise."""
    record_denial(
        session,
        AuditEvent(
            action=f"agreements.{action}",
            decision=AuditDecision.deny,
            actor=str(actor.id),
            agency=actor.agency_id,
            role=",".join(sorted(actor.roles)),
            reason=reason,
            agreement_id=agreement_id,
        ),
    )
    return Forbidden(detail, reason=reason)


# --- reading ----------------------------------------------------------------------------------------


def parse_submission(text: str, fmt: str) -> Agreement:
    """Structural and semantic validation; any finding is a 422 listing them all."""
    try:
        agreement = loads(text, "json" if fmt == "json" else "yaml")
    except InvalidAgreement as exc:
        raise invalid(exc.findings) from None
    except RecursionError:  # the JSON decoder recurses once per level of nesting
        raise invalid([Finding("", "is nested too deeply to be an agreement")]) from None
    findings = check(agreement)
    if findings:
        raise invalid(findings)
    return agreement


def invalid(findings: list[Finding]) -> Invalid:
    """One 422 listing every finding, so the author fixes them all in one round."""
    return Invalid(
        f"The agreement has {len(findings)} problem(s).",
        findings=[{"path": f.path, "message": f.message} for f in findings],
    )


def list_versions(session: Session, agreement_id: str | None = None) -> list[AgreementVersion]:
    query = select(AgreementVersion).order_by(AgreementVersion.agreement_id, AgreementVersion.version)
    if agreement_id is not None:
        query = query.where(AgreementVersion.agreement_id == agreement_id)
    return list(session.scalars(query))


def get_version(session: Session, agreement_id: str, version: int) -> AgreementVersion:
    row = session.scalars(
        select(AgreementVersion).where(
            AgreementVersion.agreement_id == agreement_id, AgreementVersion.version == version
        )
    ).first()
    if row is None:
        raise NotFound(f"Agreement '{agreement_id}' has no version {version}.")
    return row


def versions_or_404(session: Session, agreement_id: str) -> list[AgreementVersion]:
    rows = list_versions(session, agreement_id)
    if not rows:
        raise NotFound(f"There is no agreement '{agreement_id}'.")
    return rows


def current_version(rows: Iterable[AgreementVersion]) -> AgreementVersion | None:
    """The active or suspended version (at most one), the one that governs the agreement now."""
    for row in rows:
        if row.status in ("active", "suspended"):
            return row
    return None


def get_active_agreement(session: Session, agreement_id: str, at: datetime | None = None) -> Agreement:
    """The agreement version in force at ``at``.

    Raises NotFound for an unknown agreement and Forbidden (``reason`` no_active_agreement or
    outside_validity) when no version grants anything at that moment.
    """
    moment = at or _now()
    row = current_version(versions_or_404(session, agreement_id))
    if row is None or row.status != "active":
        state = row.status if row else "not active"
        raise Forbidden(
            f"Agreement '{agreement_id}' is {state}, so it grants nothing.", reason="no_active_agreement"
        )
    agreement = agreement_of(row)
    if not agreement.validity.covers(moment):
        raise Forbidden(
            f"Agreement '{agreement_id}' is in force from {agreement.validity.effective_from} "
            f"to the end of {agreement.validity.expires_on}.",
            reason="outside_validity",
        )
    return agreement


# --- lifecycle --------------------------------------------------------------------------------------


def _require_party_dpo(
    session: Session, actor: Actor, agreement: Agreement, action: str, controllers: bool
) -> None:
    """Operators, or DPOs of a party (of a controller when ``controllers``), may manage an agreement."""
    parties = {p.id for p in (agreement.controllers() if controllers else agreement.parties)}
    if actor.has("operator") and not controllers:
        return
    if actor.has("dpo") and actor.agency_id in parties:
        return
    who = "the DPO of a controller" if controllers else "an operator or the DPO of a party"
    raise _refuse(session, actor, action, "role", f"Only {who} may {action} this agreement.", agreement.id)


_STEP_NAMES: dict[Status, str] = {
    "draft": "return",
    "in_review": "submit",
    "approved": "approved",
    "active": "activate",
    "suspended": "suspend",
    "revoked": "revoke",
    "expired": "expire",
    "superseded": "supersede",
}


def _move(session: Session, actor: Actor | None, row: AgreementVersion, target: Status, at: datetime) -> None:
    current = status_at(row, at)
    if current != row.status:  # expired by time: record it before anything else
        row.status = current
    try:
        row.status = transition(current, target)
    except TransitionError as exc:
        raise Conflict(str(exc), current_status=current) from None
    row.status_changed_at = at
    session.flush()
    _audit(session, actor, _STEP_NAMES[target], row, status=target)


def create_draft(
    session: Session, actor: Actor, agreement: Agreement, at: datetime | None = None
) -> AgreementVersion:
    """Store a new version as a draft; (id, version) must be new."""
    _require_party_dpo(session, actor, agreement, "draft", controllers=False)
    exists = session.scalars(
        select(AgreementVersion.id).where(
            AgreementVersion.agreement_id == agreement.id, AgreementVersion.version == agreement.version
        )
    ).first()
    if exists is not None:
        raise Conflict(
            f"Agreement '{agreement.id}' already has a version {agreement.version}; number a new one."
        )
    moment = at or _now()
    row = AgreementVersion(
        agreement_id=agreement.id,
        version=agreement.version,
        title=agreement.title,
        status="draft",
        document=agreement.canonical_json(),
        digest=agreement.digest(),
        effective_from=agreement.validity.effective_from,
        expires_on=agreement.validity.expires_on,
        created_at=moment,
        created_by=str(actor.id),
        status_changed_at=moment,
    )
    session.add(row)
    session.flush()
    _audit(session, actor, "draft", row, digest=row.digest)
    return row


def update_draft(
    session: Session, actor: Actor, agreement_id: str, version: int, agreement: Agreement
) -> AgreementVersion:
    """Replace the document of a draft; anything past draft is immutable (make a new version)."""
    row = get_version(session, agreement_id, version)
    if (agreement.id, agreement.version) != (agreement_id, version):
        raise Invalid("The document's id and version must match the version being edited.")
    _require_party_dpo(session, actor, agreement, "edit", controllers=False)
    if row.status != "draft":
        raise Conflict(f"Version {version} is {row.status} and can no longer change; draft a new version.")
    row.document, row.digest, row.title = agreement.canonical_json(), agreement.digest(), agreement.title
    row.effective_from, row.expires_on = agreement.validity.effective_from, agreement.validity.expires_on
    session.flush()
    _audit(session, actor, "edit", row, digest=row.digest)
    return row


def _step(
    session: Session,
    actor: Actor,
    agreement_id: str,
    version: int,
    at: datetime | None,
    *,
    step: str,
    target: Status,
    controllers: bool,
) -> AgreementVersion:
    """A lifecycle move that needs only the right DPO and a legal transition."""
    row = get_version(session, agreement_id, version)
    _require_party_dpo(session, actor, agreement_of(row), step, controllers=controllers)
    _move(session, actor, row, target, at or _now())
    return row


def submit_for_review(
    session: Session, actor: Actor, agreement_id: str, version: int, at: datetime | None = None
) -> AgreementVersion:
    return _step(
        session, actor, agreement_id, version, at, step="submit", target="in_review", controllers=False
    )


def return_to_draft(
    session: Session, actor: Actor, agreement_id: str, version: int, at: datetime | None = None
) -> AgreementVersion:
    """Send a version under review back for changes; approvals given so far stop counting once it changes."""
    return _step(session, actor, agreement_id, version, at, step="return", target="draft", controllers=False)


def approve(
    session: Session,
    actor: Actor,
    agreement_id: str,
    version: int,
    digest: str | None = None,
    at: datetime | None = None,
) -> AgreementVersion:
    """Record the approval of the actor's agency DPO for the stored bytes.

    ``digest`` (optional) is the hash the DPO read; if it is not the stored one the approval is refused,
    so nobody approves a document they did not see. When every required DPO has approved, the version
    becomes ``approved``.
    """
    moment = at or _now()
    row = get_version(session, agreement_id, version)
    agreement = agreement_of(row)
    if not actor.has("dpo") or actor.agency_id not in agreement.required_approvers():
        raise _refuse(
            session,
            actor,
            "approve",
            "role",
            "Only the DPO of a party whose approval is required may approve this version.",
            agreement_id,
        )
    if row.status != "in_review":
        raise Conflict(f"Version {version} is {row.status}; only versions in review can be approved.")
    if digest is not None and digest != row.digest:
        raise Conflict(
            "The document changed since you read it; read it again and approve its current digest."
        )
    if actor.agency_id in approvals_of(row).valid:
        raise Conflict(f"{actor.agency_id} has already approved this version.")
    row.approvals.append(
        AgreementApproval(party=actor.agency_id, approver=str(actor.id), digest=row.digest, at=moment)
    )
    session.flush()
    _audit(session, actor, "approve", row, digest=row.digest, party=actor.agency_id)
    if approvals_of(row).complete:
        _move(session, actor, row, "approved", moment)
    return row


def activate(
    session: Session, actor: Actor, agreement_id: str, version: int, at: datetime | None = None
) -> AgreementVersion:
    """Make an approved (or resume a suspended) version active; the previous one is superseded.

    Activation before ``effective_from`` is allowed: the compiled rules carry the validity window, so
    nothing is granted before that date.
    """
    moment = at or _now()
    row = get_version(session, agreement_id, version)
    agreement = agreement_of(row)
    _require_party_dpo(session, actor, agreement, "activate", controllers=True)
    if not approvals_of(row).complete:
        raise Conflict(
            "Not every required DPO has approved these exact bytes.",
            missing=sorted(approvals_of(row).missing),
        )
    if status_at(row, moment) == "expired":
        raise Conflict("This version has already expired; nothing can make it active again.")
    if row.status == "approved":
        for other in list_versions(session, agreement_id):
            if other.id != row.id and other.status in ("active", "suspended"):
                _move(session, actor, other, "superseded", moment)
    _move(session, actor, row, "active", moment)
    return row


def suspend(
    session: Session, actor: Actor, agreement_id: str, version: int, at: datetime | None = None
) -> AgreementVersion:
    return _step(
        session, actor, agreement_id, version, at, step="suspend", target="suspended", controllers=True
    )


def revoke(
    session: Session, actor: Actor, agreement_id: str, version: int, at: datetime | None = None
) -> AgreementVersion:
    return _step(session, actor, agreement_id, version, at, step="revoke", target="revoked", controllers=True)


def seed_active_agreement(
    session: Session, agreement: Agreement, at: datetime | None = None
) -> AgreementVersion:
    """Install an agreement as active with every required approval recorded as given out of band.

    For the demo and for tests of other concepts only: it is not reachable over HTTP, and the approvals
    it writes name the approver ``seeded`` so the audit trail shows how they came about.
    """
    findings = check(agreement)
    if findings:
        raise invalid(findings)
    moment = at or _now()
    row = AgreementVersion(
        agreement_id=agreement.id,
        version=agreement.version,
        title=agreement.title,
        status="draft",
        document=agreement.canonical_json(),
        digest=agreement.digest(),
        effective_from=agreement.validity.effective_from,
        expires_on=agreement.validity.expires_on,
        created_at=moment,
        created_by=None,
        status_changed_at=moment,
    )
    session.add(row)
    session.flush()
    _audit(session, None, "draft", row, digest=row.digest)
    _move(session, None, row, "in_review", moment)
    for party in sorted(agreement.required_approvers()):
        row.approvals.append(AgreementApproval(party=party, approver="seeded", digest=row.digest, at=moment))
    session.flush()
    _move(session, None, row, "approved", moment)
    for other in list_versions(session, agreement.id):
        if other.id != row.id and other.status in ("active", "suspended"):
            _move(session, None, other, "superseded", moment)
    _move(session, None, row, "active", moment)
    return row


def version_diff(session: Session, agreement_id: str, old: int, new: int) -> list[Change]:
    return diff(
        agreement_of(get_version(session, agreement_id, old)),
        agreement_of(get_version(session, agreement_id, new)),
    )


def compiled_policy(session: Session, agreement_id: str, version: int) -> list[CompiledRule]:
    return compile_agreement(agreement_of(get_version(session, agreement_id, version)))


# --- decisions --------------------------------------------------------------------------------------

_live = LivePolicy()
_live_fingerprint: tuple[tuple[str, int, str, str], ...] | None = None
_reload_lock = threading.Lock()


def policy_enforcer(session: Session) -> PolicyEnforcer:
    """The enforcer for the database's current agreements, rebuilt (build, check, swap) when they change.

    The fingerprint query is one small read per decision; it keeps every worker process in step with
    lifecycle changes made by any other process without a watcher.
    """
    global _live_fingerprint
    columns = (
        AgreementVersion.agreement_id,
        AgreementVersion.version,
        AgreementVersion.status,
        AgreementVersion.digest,
    )
    listing = session.execute(
        select(*columns).order_by(AgreementVersion.agreement_id, AgreementVersion.version)
    )
    fingerprint = tuple((a, v, s, d) for a, v, s, d in listing)
    if fingerprint == _live_fingerprint:
        return _live.current
    with _reload_lock:
        if fingerprint != _live_fingerprint:
            governing: dict[str, AgreementVersion] = {}
            for row in list_versions(session):  # ordered by version: the active one wins, else the latest
                if governing.get(row.agreement_id) is None or governing[row.agreement_id].status != "active":
                    governing[row.agreement_id] = row
            _live.reload([(agreement_of(r), cast(Status, r.status)) for r in governing.values()])
            _live_fingerprint = fingerprint
    return _live.current


def decide(
    enforcer: PolicyEnforcer, roles: Iterable[str], request_for: Request
) -> tuple[str | None, Decision]:
    """Ask once per role; the first allow wins, otherwise the most specific denial."""
    best: tuple[str | None, Decision] | None = None
    for role in sorted(roles):
        decision = enforcer.explain(replace(request_for, role=role))
        if decision.allowed:
            return role, decision
        if best is None or _PROGRESS[decision.reason or "role"] > _PROGRESS[best[1].reason or "role"]:
            best = (role, decision)
    if best is None:
        return None, Decision(
            allowed=False,
            agreement_id=request_for.agreement_id,
            detail="the principal holds no role",
            reason="role",
        )
    return best


def authorize(
    session: Session,
    principal: Actor,
    action: Action,
    agreement_id: str,
    dataset: str | None,
    fields: Iterable[str],
    purpose: str,
    at: datetime | None = None,
) -> Decision:
    """Decide one request under the agreements in force at ``at`` and audit the decision.

    The audit event is appended in the caller's transaction. A caller that then refuses the request and
    rolls back must audit its refusal with ``record_denial`` (as ``broker.api.deps.deny`` does).
    """
    request = Request(
        role="",
        agency=principal.agency_id,
        action=action,
        agreement_id=agreement_id,
        purpose=purpose,
        at=at or _now(),
        dataset=dataset,
        fields=frozenset(fields),
    )
    role, decision = decide(policy_enforcer(session), principal.roles, request)
    record(
        session,
        AuditEvent(
            action=f"authorize.{action}",
            decision=AuditDecision.allow if decision.allowed else AuditDecision.deny,
            actor=str(principal.id),
            agency=principal.agency_id,
            role=role,
            reason=decision.reason,
            agreement_id=agreement_id,
            agreement_version=decision.version,
            rule_id=decision.rule_id,
            purpose=purpose,
            result={
                "dataset": dataset,
                "fields": len(request.fields),
                "denied_fields": len(decision.denied_fields),
            },
        ),
    )
    return decision


@dataclass(frozen=True)
class Explained:
    role: str | None
    decision: Decision


def explain(
    session: Session,
    asker: Actor,
    request: Request,
    roles: Iterable[str],
) -> Explained:
    """What would be decided for ``roles`` at ``request.agency`` (a what-if for DPOs, or a self-check).

    Anyone may ask about themselves; asking about another agency or role needs the DPO or operator
    role. The question is audited as ``authorize.explain`` with the answer in the result summary.
    """
    about_self = request.agency == asker.agency_id and set(roles) <= set(asker.roles)
    if not about_self and not asker.has("dpo", "operator"):
        raise _refuse(
            session,
            asker,
            "explain",
            "role",
            "Only DPOs and operators may ask what would be decided for someone else.",
            request.agreement_id,
        )
    role, decision = decide(policy_enforcer(session), roles, request)
    record(
        session,
        AuditEvent(
            action="authorize.explain",
            decision=AuditDecision.allow,
            actor=str(asker.id),
            agency=asker.agency_id,
            role=",".join(sorted(asker.roles)),
            agreement_id=request.agreement_id,
            agreement_version=decision.version,
            rule_id=decision.rule_id,
            purpose=request.purpose,
            result={
                "answer": "allow" if decision.allowed else "deny",
                "reason": decision.reason,
                "for_role": role,
            },
        ),
    )
    return Explained(role, decision)
