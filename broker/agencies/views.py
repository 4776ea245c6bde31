"""HTTP API for the operator to register agencies, people and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from broker.agencies import service
from broker.agencies.models import AgencyKind, Role
from broker.agencies.service import Actor
from broker.api.deps import CurrentActor, DbSession, api_router, deny, require_roles
from broker.api.params import AGENCY_SLUG, AgencyPath, PlainText, SerialPath

router = api_router(prefix="/v1", tags=["agencies"])
Operator = Annotated[Actor, Depends(require_roles(Role.operator))]
Name = Annotated[PlainText, Field(min_length=1, max_length=200)]


class AgencyIn(BaseModel):
    id: str = Field(pattern=AGENCY_SLUG, description="Slug such as 'edu-fife'.")
    name: Name
    kind: AgencyKind
    council_code: str | None = Field(default=None, pattern=r"^S12\d{6}$")


class AgencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    council_code: str | None
    created_at: datetime


class PrincipalIn(BaseModel):
    name: Name
    email: EmailStr | None = None
    roles: list[Role] = Field(min_length=1)


class PrincipalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    agency_id: str
    name: str
    email: str | None
    roles: list[str]
    created_at: datetime
    disabled_at: datetime | None


class IssuedToken(BaseModel):
    token_id: int
    token: str = Field(description="Shown once; the broker keeps only its SHA-256 hash.")


class PrincipalCreated(PrincipalOut):
    token: str = Field(description="Shown once; the broker keeps only its SHA-256 hash.")


@router.post("/agencies", status_code=201, response_model=AgencyOut)
def register_agency(body: AgencyIn, session: DbSession, actor: Operator) -> AgencyOut:
    agency = service.create_agency(session, **body.model_dump(), by=actor)
    return AgencyOut.model_validate(agency)


@router.get("/agencies", response_model=list[AgencyOut])
def list_agencies(session: DbSession, actor: CurrentActor) -> list[AgencyOut]:
    return [AgencyOut.model_validate(a) for a in service.list_agencies(session)]


@router.get("/agencies/{agency_id}", response_model=AgencyOut)
def get_agency(agency_id: AgencyPath, session: DbSession, actor: CurrentActor) -> AgencyOut:
    return AgencyOut.model_validate(service.get_agency(session, agency_id))


@router.post("/agencies/{agency_id}/principals", status_code=201, response_model=PrincipalCreated)
def register_principal(
    agency_id: AgencyPath, body: PrincipalIn, session: DbSession, actor: Operator
) -> PrincipalCreated:
    principal, token = service.create_principal(
        session, agency_id=agency_id, name=body.name, email=body.email, roles=body.roles, by=actor
    )
    return PrincipalCreated.model_validate(
        {**PrincipalOut.model_validate(principal).model_dump(), "token": token}
    )


@router.get("/agencies/{agency_id}/principals", response_model=list[PrincipalOut])
def list_principals(
    agency_id: AgencyPath, request: Request, session: DbSession, actor: CurrentActor
) -> list[PrincipalOut]:
    """The operator sees everyone; an agency's DPO sees their own agency's people."""
    if not (actor.has(Role.operator) or (actor.has(Role.dpo) and actor.agency_id == agency_id)):
        deny(session, request, actor, "role", "Only the operator or this agency's DPO can list its people.")
    return [PrincipalOut.model_validate(p) for p in service.list_principals(session, agency_id)]


@router.post(
    "/agencies/{agency_id}/principals/{principal_id}/tokens", status_code=201, response_model=IssuedToken
)
def issue_token(
    agency_id: AgencyPath, principal_id: SerialPath, session: DbSession, actor: Operator
) -> IssuedToken:
    principal = service.get_principal(session, agency_id, principal_id)
    row, token = service.issue_token(session, principal, by=actor)
    return IssuedToken(token_id=row.id, token=token)


@router.delete("/agencies/{agency_id}/principals/{principal_id}/tokens/{token_id}", status_code=204)
def revoke_token(
    agency_id: AgencyPath, principal_id: SerialPath, token_id: SerialPath, session: DbSession, actor: Operator
) -> None:
    principal = service.get_principal(session, agency_id, principal_id)
    service.revoke_token(session, principal, token_id, by=actor)


@router.get("/me", response_model=PrincipalOut)
def whoami(session: DbSession, actor: CurrentActor) -> PrincipalOut:
    principal = service.get_principal(session, actor.agency_id, actor.id)
    return PrincipalOut.model_validate(principal)
