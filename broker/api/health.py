"""Liveness and readiness probes for the operator and the load balancer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from broker.database import current_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the migrations' head."""
    head = request.app.state.head_revision
    try:
        current = current_revision(request.app.state.engine)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "reachable", "migrations": "behind", "head": head},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable", "migrations": "at head", "revision": head})
