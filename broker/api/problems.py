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


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Pydantic errors include the offending input; keep only where and what, never the value.
    return [
        {"location": ".".join(str(part) for part in err.get("loc", ())), "message": err.get("msg", "invalid")}
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
            errors=_validation_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(request, exc.status_code, str(exc.detail), None)
