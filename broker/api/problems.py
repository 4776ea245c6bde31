"""RFC 9457 problem+json responses, each carrying the request id. No request data is echoed back."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from broker.errors import ProblemError
from broker.logs import request_id_var

PROBLEM_JSON = "application/problem+json"


def problem(request: Request, status: int, title: str, detail: str | None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://broker.example/problems/{status}",
        "title": title,
        "status": status,
        "instance": request.url.path,
        "request_id": request_id_var.get(),
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _declared_names(app: FastAPI) -> frozenset[str]:
    """Every parameter and property name the API declares, and where a request carries them."""
    spec = app.openapi()
    parameters = (
        p["name"] for item in spec["paths"].values() for op in item.values() for p in op.get("parameters", [])
    )
    properties = (
        name
        for schema in spec.get("components", {}).get("schemas", {}).values()
        for name in schema.get("properties", {})
    )
    return frozenset({*parameters, *properties, "body", "query", "path", "header", "cookie", "[key]"})


def _validation_errors(request: Request, exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and what, never the value. Pydantic's location also names what the sender chose (an
    unknown field, a key of a mapping), which can be anything: such a part is shown as '*'."""
    declared = _declared_names(request.app)
    return [
        {
            "location": ".".join(
                str(part) if isinstance(part, int) or part in declared else "*" for part in err.get("loc", ())
            ),
            "message": err.get("msg", "invalid"),
        }
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(request, exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(
            request,
            422,
            "Invalid request",
            "The request does not match the schema.",
            errors=_validation_errors(request, exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(request, exc.status_code, str(exc.detail), None)
