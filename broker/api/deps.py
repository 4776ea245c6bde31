"""Request-scoped dependencies: a transactional session and the authenticated actor."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
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
    lock would deadlock the server under load. (Sync endpoints have already committed: see
    ``CommittingRoute``.)
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


def _commit_in_worker(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Commit a sync endpoint's session in its own worker thread, as soon as it returns.

    FastAPI serialises a sync endpoint's response in another worker thread before the session
    dependency's exit runs; with every worker waiting for the audit log's append lock, the lock holder's
    commit would never come.
    """

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                value.commit()
        return result

    return run


class CommittingRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _commit_in_worker(endpoint)
        super().__init__(path, endpoint, **kwargs)


def api_router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose sync endpoints commit in their worker thread (see ``_commit_in_worker``)."""
    return APIRouter(route_class=CommittingRoute, **kwargs)


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
