"""HTTP API for aggregate queries, their CSV downloads and the privacy budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response, status

from broker.api.deps import CurrentActor, DbSession, api_router
from broker.api.params import AgreementPath, IssuedIdPath
from broker.queries import service

router = api_router(prefix="/v1", tags=["queries"])


def frame_source(request: Request) -> service.FrameSource:
    """Where query frames come from: the extracts store (tests override this dependency)."""
    return service.extract_frames(request.app.state.secrets.master_key)


FrameSourceDep = Annotated[service.FrameSource, Depends(frame_source)]


@router.post(
    "/agreements/{agreement_id}/queries",
    status_code=status.HTTP_201_CREATED,
    response_model=service.QueryResponse,
)
def run_query(
    agreement_id: AgreementPath,
    body: service.QueryRequest,
    session: DbSession,
    actor: CurrentActor,
    source: FrameSourceDep,
) -> service.QueryResponse:
    """Run a dp or sdc aggregate query; dp charges the agency's budget before any noise is drawn."""
    return service.run_query(session, actor, agreement_id, body, source)


@router.get("/agreements/{agreement_id}/queries/{query_id}", response_model=service.QueryResponse)
def get_query(
    agreement_id: AgreementPath, query_id: IssuedIdPath, session: DbSession, actor: CurrentActor
) -> service.QueryResponse:
    return service.get_release(session, actor, agreement_id, query_id)


@router.get("/agreements/{agreement_id}/queries/{query_id}/csv")
def download_csv(
    agreement_id: AgreementPath, query_id: IssuedIdPath, session: DbSession, actor: CurrentActor
) -> Response:
    """The released table as CSV (text cells escaped against spreadsheet formula injection)."""
    text = service.release_csv(session, actor, agreement_id, query_id)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="query-{query_id}.csv"'},
    )


@router.get("/agreements/{agreement_id}/budget", response_model=service.BudgetView)
def get_budget(agreement_id: AgreementPath, session: DbSession, actor: CurrentActor) -> service.BudgetView:
    """The consumer agency's epsilon budget, spend and remainder for the current period."""
    return service.budget(session, actor, agreement_id)
