"""Registering agencies and principals, and issuing bearer tokens that are stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.event import AuditEvent, Decision
from broker.agencies.models import Agency, AgencyKind, ApiToken, Principal, Role
from broker.audit.service import record
from broker.errors import Conflict, Invalid, NotFound

TOKEN_PREFIX = "brk_"
OPERATOR_AGENCY = "broker"


@dataclass(frozen=True)
class Actor:
    """The authenticated principal, detached from the session."""

    id: int
    agency_id: str
    name: str
    roles: frozenset[str]

    def has(self, *roles: Role | str) -> bool:
        return any(str(role) in self.roles for role in roles)


def _now() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A random 256-bit bearer token, shown once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _audit(session: Session, action: str, by: Actor | None, **result: str | int | None) -> None:
    record(
        session,
        AuditEvent(
            action=action,
            decision=Decision.allow,
            actor=str(by.id) if by else None,
            agency=by.agency_id if by else None,
            role="operator" if by else None,
            result=dict(result),
        ),
    )


def create_agency(
    session: Session, *, id: str, name: str, kind: AgencyKind, council_code: str | None, by: Actor | None
) -> Agency:
    if session.get(Agency, id) is not None:
        raise Conflict(f"agency '{id}' is already registered")
    agency = Agency(id=id, name=name, kind=str(kind), council_code=council_code, created_at=_now())
    session.add(agency)
    _audit(session, "agency.register", by, agency_id=id)
    return agency


def get_agency(session: Session, agency_id: str) -> Agency:
    agency = session.get(Agency, agency_id)
    if agency is None:
        raise NotFound(f"no agency '{agency_id}'")
    return agency


def list_agencies(session: Session) -> list[Agency]:
    return list(session.scalars(select(Agency).order_by(Agency.id)))


def issue_token(session: Session, principal: Principal, by: Actor | None) -> tuple[ApiToken, str]:
    token = new_token()
    row = ApiToken(principal_id=principal.id, token_hash=hash_token(token), created_at=_now())
    session.add(row)
    session.flush()
    _audit(session, "token.issue", by, principal_id=principal.id, token_id=row.id)
    return row, token


def create_principal(
    session: Session, *, agency_id: str, name: str, email: str | None, roles: list[Role], by: Actor | None
) -> tuple[Principal, str]:
    get_agency(session, agency_id)
    if not roles:
        raise Invalid("a principal needs at least one role")
    if Role.operator in roles and agency_id != OPERATOR_AGENCY:
        raise Invalid(f"only principals of the '{OPERATOR_AGENCY}' agency can hold the operator role")
    principal = Principal(
        agency_id=agency_id,
        name=name,
        email=email,
        roles=sorted({str(r) for r in roles}),
        created_at=_now(),
    )
    session.add(principal)
    session.flush()
    _audit(session, "principal.register", by, principal_id=principal.id, agency_id=agency_id)
    _, token = issue_token(session, principal, by)
    return principal, token


def get_principal(session: Session, agency_id: str, principal_id: int) -> Principal:
    principal = session.get(Principal, principal_id)
    if principal is None or principal.agency_id != agency_id:
        raise NotFound(f"no principal {principal_id} in agency '{agency_id}'")
    return principal


def list_principals(session: Session, agency_id: str) -> list[Principal]:
    get_agency(session, agency_id)
    return list(
        session.scalars(select(Principal).where(Principal.agency_id == agency_id).order_by(Principal.id))
    )


def revoke_token(session: Session, principal: Principal, token_id: int, by: Actor | None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.principal_id != principal.id:
        raise NotFound(f"no token {token_id} for principal {principal.id}")
    if token.revoked_at is None:
        token.revoked_at = _now()
        _audit(session, "token.revoke", by, principal_id=principal.id, token_id=token_id)
    return token


def authenticate(session: Session, token: str) -> Actor | None:
    """The active principal holding this token, or None (unknown, revoked or disabled)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = session.execute(
        select(Principal)
        .join(ApiToken, ApiToken.principal_id == Principal.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or row.disabled_at is not None:
        return None
    return Actor(id=row.id, agency_id=row.agency_id, name=row.name, roles=frozenset(row.roles))


def bootstrap(session: Session, name: str = "Broker operator") -> str:
    """Create the operator agency and first operator; refuse if an operator exists."""
    existing = session.scalars(select(Principal).where(Principal.agency_id == OPERATOR_AGENCY)).first()
    if existing is not None:
        raise Conflict("the broker is already bootstrapped: ask an existing operator for a token")
    if session.get(Agency, OPERATOR_AGENCY) is None:
        create_agency(
            session,
            id=OPERATOR_AGENCY,
            name="Broker operations",
            kind=AgencyKind.other,
            council_code=None,
            by=None,
        )
    _, token = create_principal(
        session, agency_id=OPERATOR_AGENCY, name=name, email=None, roles=[Role.operator], by=None
    )
    return token
