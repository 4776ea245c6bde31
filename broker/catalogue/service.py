"""The catalogue: what each agreement the caller's agency is party to holds, and whether it is fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import Field
from sqlalchemy.orm import Session

from agreements.durations import parse_duration
from agreements.model import Agreement
from broker.agencies.service import Actor
from broker.agreements.service import get_active_agreement, list_versions
from broker.errors import Forbidden, NotFound
from broker.extracts.service import current_extract


# The catalogue's HTTP response as is (FastAPI serialises the dataclass): descriptions are for /docs.
@dataclass(frozen=True)
class DatasetEntry:
    agreement_id: str
    agreement_version: int
    dataset: str
    title: str | None
    provider: str
    refresh: Annotated[str, Field(description="Expected cadence (ISO 8601 duration).")]
    last_as_of: date | None
    received_at: datetime | None
    rows: Annotated[int | None, Field(description="Rows accepted in the current extract.")]
    overdue: Annotated[bool, Field(description="No extract yet, or the last one is older than the cadence.")]


def entries(session: Session, agreement: Agreement, now: datetime) -> list[DatasetEntry]:
    out = []
    for dataset in agreement.datasets:
        extract = current_extract(session, agreement.id, dataset.id)
        received = extract.received_at if extract else None
        due = dataset_due(received, dataset.refresh)
        out.append(
            DatasetEntry(
                agreement_id=agreement.id,
                agreement_version=agreement.version,
                dataset=dataset.id,
                title=dataset.title,
                provider=dataset.provider,
                refresh=dataset.refresh,
                last_as_of=extract.as_of if extract else None,
                received_at=received,
                rows=extract.rows_accepted if extract else None,
                overdue=due is None or due < now,
            )
        )
    return out


def dataset_due(received: datetime | None, refresh: str) -> datetime | None:
    """When the next extract is due: one refresh cadence after the last receipt (None: never received)."""
    return None if received is None else parse_duration(refresh).add_to(received)


def catalogue(session: Session, actor: Actor, at: datetime | None = None) -> list[DatasetEntry]:
    """Datasets of every active agreement naming the caller's agency as a party (all for the operator)."""
    now = at or datetime.now(UTC)
    out: list[DatasetEntry] = []
    for agreement_id in sorted({row.agreement_id for row in list_versions(session)}):
        try:
            agreement = get_active_agreement(session, agreement_id, now)
        except (Forbidden, NotFound):
            continue
        if actor.agency_id in {p.id for p in agreement.parties} or actor.has("operator"):
            out += entries(session, agreement, now)
    return out
