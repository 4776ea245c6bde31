"""HTTP API for the linked child record (POST, so identifiers and tokens stay out of URLs and logs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agreements.model import FieldName, PurposeCode
from broker.api.deps import CurrentActor, DbSession, api_router
from broker.api.params import AgreementPath, PlainText
from broker.records import service

router = api_router(prefix="/v1", tags=["records"])

Text = Annotated[str, Field(min_length=1, max_length=100)]


class Identifiers(BaseModel):
    """The child's identifiers as the practitioner knows them; tokenised at once, never stored or logged."""

    model_config = ConfigDict(extra="forbid")

    chi: Text | None = None
    scn: Text | None = None
    nhs: Text | None = None
    upn: Text | None = None
    nino: Text | None = None
    forename: Text | None = None
    surname: Text | None = None
    dob: Text | None = Field(default=None, description="Date of birth, ISO 8601 (YYYY-MM-DD).")
    sex: Text | None = None
    postcode: Text | None = None


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: PurposeCode = Field(description="Purpose code from the agreement.")
    case_reference: Annotated[PlainText, Field(max_length=64)] | None = None
    identifiers: Identifiers | None = None
    tokens: dict[FieldName, Annotated[str, Field(max_length=120)]] | None = Field(
        default=None,
        description="Stage-1 tokens by column (e.g. token_chi) instead of identifiers.",
        max_length=10,
    )

    @model_validator(mode="after")
    def _one_probe(self) -> LookupIn:
        if self.identifiers is None and not self.tokens:
            raise ValueError("give identifiers or tokens")
        return self


@router.post("/agreements/{agreement_id}/records/lookup", response_model=service.LinkedRecord)
def lookup(
    agreement_id: AgreementPath, body: LookupIn, request: Request, session: DbSession, actor: CurrentActor
) -> service.LinkedRecord:
    """One child's permitted fields from every dataset the caller's permission covers, with provenance."""
    identifiers = (
        {k: v for k, v in body.identifiers.model_dump().items() if v is not None}
        if body.identifiers
        else None
    )
    return service.lookup(
        session,
        request.app.state.secrets.master_key,
        actor,
        agreement_id,
        purpose=body.purpose,
        case_reference=body.case_reference,
        identifiers=identifiers,
        tokens=body.tokens,
    )
