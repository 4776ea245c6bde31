"""Request-scoped dependencies: a transactional session and the authenticated actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, NoReturn

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from audit.event import AuditEvent, Decision
from broker.agencies.models import Role
from broker.agencies.service import Actor, authenticate
from broker.audit.service import record_denial
from broker.errors import Forbidden, Unauthorized


async def _session(request: Request) -> AsyncIterator[Session]:
    """Commit when the endpoint returns (before the response is sent); roll back on any error.

    The commit runs on the event-loop thread, never queued for a worker thread: an append to the audit
    log holds a lock until commit, and a commit waiting for a worker while every worker waits for that
    lock would deadlock the server under load.
    """
    session = request.app.state.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(_session, scope="function")]


def _action(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def _current_actor(request: Request, session: DbSession) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    actor = authenticate(session, token.strip()) if scheme.lower() == "bearer" and token else None
    if actor is None:
        record_denial(
            session,
            AuditEvent(action=_action(request), decision=Decision.deny, reason="unauthenticated"),
        )
        raise Unauthorized("Send a valid bearer token: 'Authorization: Bearer <token>'.")
    return actor


CurrentActor = Annotated[Actor, Depends(_current_actor)]


def deny(
    session: Session,
    request: Request,
    actor: Actor,
    reason: str,
    detail: str,
    *,
    agreement_id: str | None = None,
    purpose: str | None = None,
) -> NoReturn:
    """Audit a refusal (committed even though the request fails) and raise 403."""
    record_denial(
        session,
        AuditEvent(
            action=_action(request),
            decision=Decision.deny,
            actor=str(actor.id),
            agency=actor.agency_id,
            role=",".join(sorted(actor.roles)),
            reason=reason,
            agreement_id=agreement_id,
            purpose=purpose,
        ),
    )
    raise Forbidden(detail, reason=reason)


def require_roles(*roles: Role) -> Callable[..., Actor]:
    """A dependency that admits actors holding any of ``roles`` and audits every refusal."""

    def dependency(request: Request, session: DbSession, actor: CurrentActor) -> Actor:
        if not actor.has(*roles):
            deny(
                session, request, actor, "role", f"This needs one of the roles: {', '.join(map(str, roles))}."
            )
        return actor

    return dependency
