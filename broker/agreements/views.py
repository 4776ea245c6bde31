"""HTTP API for agreements (drafting, review, approval, activation, policy, diff) and for explanations."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, model_validator

from agreements.model import Action, Agreement, AgreementId, Constraints, FieldName, PurposeCode, Role, Slug
from agreements.render import render_markdown
from broker.agreements import service
from broker.agreements.models import AgreementVersion
from broker.api.deps import CurrentActor, DbSession, api_router
from broker.api.params import AgreementPath, Serial, SerialPath, UtcMoment
from policies.decision import DenyReason, Request

router = api_router(prefix="/v1", tags=["agreements"])


class AgreementIn(BaseModel):
    """Either the authored text (YAML or JSON) or the document as a JSON object."""

    text: str | None = Field(default=None, max_length=1_000_000)
    format: Literal["yaml", "json"] = "yaml"
    document: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AgreementIn:
        if (self.text is None) == (self.document is None):
            raise ValueError("send exactly one of 'text' or 'document'")
        return self

    def parse(self) -> Agreement:
        if self.document is not None:
            return service.parse_submission(json.dumps(self.document), "json")
        return service.parse_submission(self.text or "", self.format)


class VersionOut(BaseModel):
    agreement_id: str
    version: int
    title: str
    status: str = Field(description="Status at the time of the request (expiry is applied on read).")
    stored_status: str
    digest: str = Field(description="SHA-256 of the canonical JSON; approvals are bound to it.")
    effective_from: date
    expires_on: date
    created_at: datetime
    status_changed_at: datetime

    @classmethod
    def of(cls, row: AgreementVersion) -> VersionOut:
        return cls(
            agreement_id=row.agreement_id,
            version=row.version,
            title=row.title,
            status=service.status_at(row, datetime.now(UTC)),
            stored_status=row.status,
            digest=row.digest,
            effective_from=row.effective_from,
            expires_on=row.expires_on,
            created_at=row.created_at,
            status_changed_at=row.status_changed_at,
        )


class ApprovalOut(BaseModel):
    party: str
    approver: str
    digest: str
    at: datetime
    valid: bool = Field(description="True when it was given for the bytes stored now.")


class VersionDetail(VersionOut):
    document: dict[str, Any]
    approvals: list[ApprovalOut]
    approvals_missing: list[str]

    @classmethod
    def of(cls, row: AgreementVersion) -> VersionDetail:
        state = service.approvals_of(row)
        return cls(
            **VersionOut.of(row).model_dump(),
            document=json.loads(row.document),
            approvals=[
                ApprovalOut(
                    party=a.party,
                    approver=a.approver,
                    digest=a.digest,
                    at=a.at,
                    valid=a.digest == row.digest and a.party in state.valid,
                )
                for a in row.approvals
            ],
            approvals_missing=sorted(state.missing),
        )


class AgreementOut(BaseModel):
    agreement_id: str
    current: VersionOut | None = Field(description="The active or suspended version, if any.")
    versions: list[VersionOut]


class ApproveIn(BaseModel):
    digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="The digest you read.")


class RuleOut(BaseModel):
    role: str
    agency: str
    action: str
    object: str
    purpose: str
    not_before: str
    not_after: str
    rule_id: str
    effect: str
    clause: str
    fields: list[str]
    field_level: bool


class ChangeOut(BaseModel):
    path: str
    text: str
    widening: bool


class DiffOut(BaseModel):
    old: int
    new: int
    widening: bool = Field(description="True when every controller's DPO must approve again.")
    changes: list[ChangeOut]


class ExplainIn(BaseModel):
    agreement_id: AgreementId
    action: Action
    purpose: PurposeCode
    dataset: Slug | None = None
    fields: list[FieldName] = []
    at: UtcMoment | None = None
    agency: Slug | None = Field(
        default=None, description="Defaults to your agency; others need DPO/operator."
    )
    role: Role | None = Field(default=None, description="Defaults to each of your roles.")


class ExplainOut(BaseModel):
    allowed: bool
    reason: DenyReason | None
    detail: str
    agreement_id: str
    version: int | None
    rule_id: str | None
    clause: str | None
    role: str | None
    denied_fields: list[str]
    constraints: Constraints | None
    duties: list[str]


def _groups(rows: list[AgreementVersion]) -> list[AgreementOut]:
    by_id: dict[str, list[AgreementVersion]] = {}
    for row in rows:
        by_id.setdefault(row.agreement_id, []).append(row)
    return [
        AgreementOut(
            agreement_id=agreement_id,
            current=VersionOut.of(current) if (current := service.current_version(group)) else None,
            versions=[VersionOut.of(r) for r in group],
        )
        for agreement_id, group in by_id.items()
    ]


@router.post("/agreements", status_code=201, response_model=VersionDetail)
def create_agreement(body: AgreementIn, session: DbSession, actor: CurrentActor) -> VersionDetail:
    """Store a new agreement version as a draft (validated first: every finding is returned)."""
    return VersionDetail.of(service.create_draft(session, actor, body.parse()))


@router.get("/agreements", response_model=list[AgreementOut])
def list_agreements(session: DbSession, actor: CurrentActor) -> list[AgreementOut]:
    return _groups(service.list_versions(session))


@router.get("/agreements/{agreement_id}", response_model=AgreementOut)
def get_agreement(agreement_id: AgreementPath, session: DbSession, actor: CurrentActor) -> AgreementOut:
    return _groups(service.versions_or_404(session, agreement_id))[0]


@router.get("/agreements/{agreement_id}/versions", response_model=list[VersionOut])
def list_agreement_versions(
    agreement_id: AgreementPath, session: DbSession, actor: CurrentActor
) -> list[VersionOut]:
    return [VersionOut.of(r) for r in service.versions_or_404(session, agreement_id)]


@router.get("/agreements/{agreement_id}/versions/{version}", response_model=VersionDetail)
def get_agreement_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    return VersionDetail.of(service.get_version(session, agreement_id, version))


@router.put("/agreements/{agreement_id}/versions/{version}", response_model=VersionDetail)
def edit_draft(
    agreement_id: AgreementPath,
    version: SerialPath,
    body: AgreementIn,
    session: DbSession,
    actor: CurrentActor,
) -> VersionDetail:
    return VersionDetail.of(service.update_draft(session, actor, agreement_id, version, body.parse()))


@router.get("/agreements/{agreement_id}/versions/{version}/render", response_class=PlainTextResponse)
def render_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> str:
    """The version as Markdown for the DPOs who approve it."""
    return render_markdown(service.agreement_of(service.get_version(session, agreement_id, version)))


@router.post("/agreements/{agreement_id}/versions/{version}/submit", response_model=VersionDetail)
def submit_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    return VersionDetail.of(service.submit_for_review(session, actor, agreement_id, version))


@router.post("/agreements/{agreement_id}/versions/{version}/return", response_model=VersionDetail)
def return_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    return VersionDetail.of(service.return_to_draft(session, actor, agreement_id, version))


@router.get("/agreements/{agreement_id}/versions/{version}/approvals", response_model=list[ApprovalOut])
def list_approvals(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> list[ApprovalOut]:
    return VersionDetail.of(service.get_version(session, agreement_id, version)).approvals


@router.post("/agreements/{agreement_id}/versions/{version}/approvals", response_model=VersionDetail)
def approve_version(
    agreement_id: AgreementPath, version: SerialPath, body: ApproveIn, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    """Approve as your agency's DPO; send the digest you read so a changed document cannot be approved."""
    return VersionDetail.of(service.approve(session, actor, agreement_id, version, body.digest))


@router.post("/agreements/{agreement_id}/versions/{version}/activate", response_model=VersionDetail)
def activate_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    return VersionDetail.of(service.activate(session, actor, agreement_id, version))


@router.post("/agreements/{agreement_id}/versions/{version}/suspend", response_model=VersionDetail)
def suspend_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    return VersionDetail.of(service.suspend(session, actor, agreement_id, version))


@router.post("/agreements/{agreement_id}/versions/{version}/revoke", response_model=VersionDetail)
def revoke_version(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> VersionDetail:
    return VersionDetail.of(service.revoke(session, actor, agreement_id, version))


@router.get("/agreements/{agreement_id}/versions/{version}/policy", response_model=list[RuleOut])
def version_policy(
    agreement_id: AgreementPath, version: SerialPath, session: DbSession, actor: CurrentActor
) -> list[RuleOut]:
    """The Casbin rules this version compiles to, each traced to its clause."""
    return [
        RuleOut(
            role=r.role,
            agency=r.agency,
            action=r.action,
            object=r.obj,
            purpose=r.purpose,
            not_before=r.not_before,
            not_after=r.not_after,
            rule_id=r.rule_id,
            effect=r.effect,
            clause=r.clause,
            fields=sorted(r.fields),
            field_level=r.field_level,
        )
        for r in service.compiled_policy(session, agreement_id, version)
    ]


@router.get("/agreements/{agreement_id}/diff", response_model=DiffOut)
def diff_versions(
    agreement_id: AgreementPath,
    session: DbSession,
    actor: CurrentActor,
    old: Annotated[Serial, Query()],
    new: Annotated[Serial, Query()],
) -> DiffOut:
    changes = service.version_diff(session, agreement_id, old, new)
    return DiffOut(
        old=old,
        new=new,
        widening=any(c.widening for c in changes),
        changes=[ChangeOut(path=c.path, text=c.text, widening=c.widening) for c in changes],
    )


@router.post("/authorize/explain", response_model=ExplainOut)
def explain(body: ExplainIn, session: DbSession, actor: CurrentActor) -> ExplainOut:
    """Would this be allowed, and if not, why? Asks for you unless you name another agency or role."""
    request = Request(
        role="",
        agency=body.agency or actor.agency_id,
        action=body.action,
        agreement_id=body.agreement_id,
        purpose=body.purpose,
        at=body.at or datetime.now(UTC),
        dataset=body.dataset,
        fields=frozenset(body.fields),
    )
    roles = [str(body.role)] if body.role else sorted(actor.roles)
    answer = service.explain(session, actor, request, roles)
    d = answer.decision
    return ExplainOut(
        allowed=d.allowed,
        reason=d.reason,
        detail=d.detail,
        agreement_id=d.agreement_id,
        version=d.version,
        rule_id=d.rule_id,
        clause=d.clause,
        role=answer.role,
        denied_fields=list(d.denied_fields),
        constraints=d.constraints,
        duties=list(d.duties),
    )
