"""HTTP API: the catalogue of datasets and their freshness."""

from __future__ import annotations

from broker.api.deps import CurrentActor, DbSession, api_router
from broker.catalogue import service

router = api_router(prefix="/v1", tags=["catalogue"])


@router.get("/catalogue", response_model=list[service.DatasetEntry])
def catalogue(session: DbSession, actor: CurrentActor) -> list[service.DatasetEntry]:
    """For every active agreement the caller's agency is party to: each dataset and its freshness."""
    return service.catalogue(session, actor)
