"""HTTP API: the catalogue of datasets and their freshness."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

from pydantic import BaseModel, Field

from broker.api.deps import CurrentActor, DbSession, api_router
from broker.catalogue import service

router = api_router(prefix="/v1", tags=["catalogue"])


class DatasetEntryOut(BaseModel):
    agreement_id: str
    agreement_version: int
    dataset: str
    title: str | None
    provider: str
    refresh: str = Field(description="Expected cadence (ISO 8601 duration).")
    last_as_of: date | None
    received_at: datetime | None
    rows: int | None = Field(description="Rows accepted in the current extract.")
    overdue: bool = Field(description="No extract yet, or the last one is older than the cadence.")


@router.get("/catalogue", response_model=list[DatasetEntryOut])
def catalogue(session: DbSession, actor: CurrentActor) -> list[DatasetEntryOut]:
    """For every active agreement the caller's agency is party to: each dataset and its freshness."""
    return [DatasetEntryOut.model_validate(asdict(e)) for e in service.catalogue(session, actor)]
