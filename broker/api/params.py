"""Request parameter and body field types the routers share.

Each id is checked against the grammar of what it names, and each number against the column it is
compared with, before anything reads the database: bad input is a 422 naming the parameter, never a
database error (a NUL byte, an integer past a column's range) and never free text that a refusal or an
audit event would carry back out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, Field

from agreements.model import AgreementId, Slug, one_line

AGENCY_SLUG = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
DB_INT_MAX = 2**31 - 1
"""The largest value of an INTEGER column on PostgreSQL (row ids, versions)."""

Serial = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
"""A row id or a version number."""

AgencyPath = Annotated[str, Path(pattern=AGENCY_SLUG, description="Agency slug such as 'edu-fife'.")]
AgreementPath = Annotated[
    AgreementId, Path(description="Agreement id such as 'isa-fife-early-intervention'.")
]
DatasetPath = Annotated[Slug, Path(description="Dataset id from the agreement.")]
IssuedIdPath = Annotated[
    str, Path(pattern=r"^[0-9a-f]{32}$", description="An id the broker issued (32 hex digits).")
]
SerialPath = Annotated[Serial, Path()]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must fall between the years 1 and 9999 in UTC") from None


PlainText = Annotated[str, AfterValidator(one_line)]
UtcMoment = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A moment with its UTC offset, converted to UTC (refused when that leaves the calendar)."""
