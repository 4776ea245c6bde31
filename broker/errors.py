"""Errors a person can act on. Services raise these; the API turns them into RFC 9457 problem+json.

Messages name settings, columns, rows and rules, never values from the data.
"""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, status: int | None = None, title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.extra = extra


class Unauthorized(ProblemError):
    status = 401
    title = "Authentication required"


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"


class NotFound(ProblemError):
    status = 404
    title = "Not found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class Invalid(ProblemError):
    status = 422
    title = "Invalid input"


class TooLarge(ProblemError):
    status = 413
    title = "Payload too large"


class TooManyRequests(ProblemError):
    status = 429
    title = "Too many requests"
