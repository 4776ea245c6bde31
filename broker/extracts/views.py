"""HTTP API for submitting extracts (streamed upload) and reading receipts."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from agreements.model import PurposeCode
from broker.api.deps import CurrentActor, DbSession, api_router
from broker.api.params import AgreementPath, DatasetPath, IssuedIdPath
from broker.errors import Invalid, TooLarge
from broker.extracts import service

router = api_router(prefix="/v1", tags=["extracts"])

_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}


def _format(request: Request, given: str | None) -> str:
    if given:
        return given
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _CONTENT_TYPES:
        raise Invalid(
            "Say what the upload is: Content-Type text/csv or application/vnd.apache.parquet, "
            "or ?format=csv|parquet."
        )
    return _CONTENT_TYPES[content_type]


async def _spool(request: Request, target: Path, limit: int) -> str:
    """Stream the body to ``target``, refusing past ``limit`` bytes; returns its SHA-256."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The upload is larger than the limit of {limit} bytes (BROKER_MAX_UPLOAD_BYTES).")
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as handle:
        async for block in request.stream():
            size += len(block)
            if size > limit:
                raise TooLarge(
                    f"The upload is larger than the limit of {limit} bytes (BROKER_MAX_UPLOAD_BYTES)."
                )
            digest.update(block)
            await run_in_threadpool(handle.write, block)
    if size == 0:
        raise Invalid("The upload is empty.")
    return digest.hexdigest()


@router.post(
    "/agreements/{agreement_id}/datasets/{dataset_id}/extracts",
    response_model=service.Receipt,
    status_code=201,
    openapi_extra={"requestBody": {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
async def submit_extract(
    agreement_id: AgreementPath,
    dataset_id: DatasetPath,
    request: Request,
    response: Response,
    session: DbSession,
    actor: CurrentActor,
    as_of: Annotated[date, Query(description="The date the extract describes (ISO 8601).")],
    format: Annotated[str | None, Query(pattern="^(csv|parquet)$")] = None,
    purpose: Annotated[PurposeCode | None, Query()] = None,
) -> service.Receipt:
    """Submit a pseudonymised extract as the raw request body (CSV or Parquet), streamed to disk.

    201 with the receipt for a new extract (accepted, quarantined or rejected); 200 with the first
    receipt when the same content was already submitted.
    """
    file_format = _format(request, format)
    await run_in_threadpool(service.authorise_submission, session, actor, agreement_id, dataset_id, purpose)
    settings = request.app.state.settings
    master_key = request.app.state.secrets.master_key
    with tempfile.TemporaryDirectory(prefix="broker-upload-") as tmp:
        path = Path(tmp) / f"extract.{file_format}"
        content_hash = await _spool(request, path, settings.max_upload_bytes)
        receipt = await run_in_threadpool(
            service.submit,
            session,
            master_key,
            actor,
            agreement_id,
            dataset_id,
            path,
            file_format,
            as_of,
            purpose=purpose,
            content_hash=content_hash,
        )
    if receipt.duplicate:
        response.status_code = 200
    return receipt


@router.get("/agreements/{agreement_id}/datasets/{dataset_id}/extracts", response_model=list[service.Receipt])
def list_extracts(
    agreement_id: AgreementPath, dataset_id: DatasetPath, session: DbSession, actor: CurrentActor
) -> list[service.Receipt]:
    """The provider's extract history for a dataset, newest first (superseded ones included)."""
    return service.history(session, actor, agreement_id, dataset_id)


@router.get(
    "/agreements/{agreement_id}/datasets/{dataset_id}/extracts/{extract_id}", response_model=service.Receipt
)
def get_extract(
    agreement_id: AgreementPath,
    dataset_id: DatasetPath,
    extract_id: IssuedIdPath,
    session: DbSession,
    actor: CurrentActor,
) -> service.Receipt:
    return service.get_receipt(session, actor, agreement_id, dataset_id, extract_id)
