"""The FastAPI application factory."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from sqlalchemy.engine import Engine

from broker.api import problems
from broker.api.routes import ROUTERS
from broker.database import head_revision, make_engine, session_factory
from broker.logs import request_id_var
from broker.secrets import load_secrets
from broker.settings import Settings, get_settings

log = logging.getLogger("broker.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="The broker",
        version="0.1.0",
        summary="Privacy-preserving information sharing for children's services.",
        docs_url="/docs",
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.sessions = session_factory(app.state.engine)
    app.state.secrets = load_secrets(settings.secrets_dir)
    app.state.head_revision = head_revision()

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:  # the problem body must still carry the request id
            log.error("unhandled error", extra={"error_type": type(exc).__name__})
            response = problems.problem(
                request, 500, "Internal error", "The request failed; nothing was changed."
            )
        finally:
            request_id_var.reset(token)
        response.headers["X-Request-ID"] = request_id
        route = request.scope.get("route")
        # The route template, never the raw path or query string: those can carry identifiers.
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "route": getattr(route, "path", "unmatched"),
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response

    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
