"""Aggregate queries: authorise, charge the ledger before any noise is drawn, release, store, audit.

The budget ledger is per agreement x consumer agency x period. ``reserve`` commits the charge in its
own short transaction (row locked with ``SELECT ... FOR UPDATE`` on PostgreSQL, and a guarded UPDATE
that cannot take spend past the budget on either database) before OpenDP draws noise; nothing is ever
refunded. A refused charge rolls back, so it costs nothing and leaves later small queries possible.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Hashable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import polars as pl
from opendp.mod import OpenDPException
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from agreements.durations import parse_duration
from agreements.model import Agreement, PurposeCode
from audit.event import AuditEvent, Decision
from broker.agencies.models import Role
from broker.agencies.service import Actor
from broker.agreements.service import authorize, get_active_agreement
from broker.audit.service import record, record_denial
from broker.cache import Lru
from broker.errors import Forbidden, Invalid, NotFound
from broker.extracts.frames import SUBJECT, linked_frame
from broker.extracts.models import LinkageSnapshot
from broker.extracts.service import current_extract
from broker.queries.ledger import BudgetView, budget_view, ledger_key, reserve
from broker.queries.models import QueryRelease
from broker.synth.geography import load_lookup
from disclosure import (
    BudgetExceeded,
    Catalogue,
    DisclosurePolicy,
    FieldSpec,
    FrameSet,
    GeographyLevel,
    GeographyLookup,
    Mode,
    QueryEngine,
    QueryRejected,
    QueryResult,
    QuerySpec,
)
from disclosure.query import CompiledQuery
from disclosure.result import rows_to_csv

__all__ = ["BudgetView", "QueryRequest", "QueryResponse", "budget", "get_release", "release_csv", "run_query"]

RUN: Final = "query.run"
BUDGET: Final = "query.budget"
ACTION: Final = "aggregate_query"
ENGINE_CACHE_SIZE: Final = 8
NOISE_LIMIT: Final = 2.0**53
"""Widest noise (95% half-width) a release may carry: past it a float64 no longer holds every whole
number, and the noisy table cannot be built (a count is cast to a 64-bit integer)."""


class QueryRequest(QuerySpec):
    """A query spec plus the agreement purpose it is asked under."""

    purpose: PurposeCode

    def spec(self) -> QuerySpec:
        return QuerySpec.model_validate(self.model_dump(exclude={"purpose"}))


class QueryResponse(BaseModel):
    query_id: str
    agreement_id: str
    agreement_version: int
    mode: Mode
    purpose: str
    created_at: datetime
    epsilon_spent: float
    epsilon_remaining: float | None
    geography_requested: GeographyLevel | None
    geography_levels_used: list[GeographyLevel]
    coarsened_areas: int
    min_cell: int
    round_to: int | None
    warnings: list[str]
    columns: list[str]
    rows: list[dict[str, Any]]


# --- public metadata: catalogue, policy, geography --------------------------------------------------


def catalogue_for(agreement: Agreement, max_subjects: int, available: Iterable[str]) -> Catalogue:
    """Aggregatable fields of the ``available`` datasets: categories with an allowed list, booleans,
    bounded numbers, and the geography fields."""
    datasets: dict[str, dict[str, FieldSpec]] = {}
    geography: list[str] = []
    present = set(available)
    for dataset in (d for d in agreement.datasets if d.id in present):
        fields: dict[str, FieldSpec] = {}
        for f in dataset.fields:
            if f.cls == "geography":
                fields[f.name] = FieldSpec(kind="geography", dtype="string")
                geography.append(f"{dataset.id}.{f.name}")
            elif f.cls != "payload":
                continue
            elif f.type == "category" and f.allowed:
                fields[f.name] = FieldSpec(kind="categorical", dtype="string", categories=tuple(f.allowed))
            elif f.type == "boolean":
                fields[f.name] = FieldSpec(kind="categorical", dtype="bool")
            elif (
                f.type in ("integer", "number")
                and isinstance(f.min, int | float)
                and isinstance(f.max, int | float)
            ):
                dtype = "int" if f.type == "integer" else "float"
                fields[f.name] = FieldSpec(
                    kind="numeric", dtype=dtype, lower=float(f.min), upper=float(f.max)
                )
        datasets[dataset.id] = fields
    if not geography:
        raise Invalid(
            f"No dataset of '{agreement.id}' with an extract has a geography field to aggregate by."
        )
    return Catalogue(datasets=datasets, geography_fields=tuple(geography), max_subjects=max_subjects)


def policy_for(agreement: Agreement) -> DisclosurePolicy:
    disclosure = agreement.disclosure
    if disclosure is None:
        raise Invalid(f"Agreement '{agreement.id}' has no disclosure section, so it allows no aggregates.")
    cap = disclosure.epsilon_per_query_cap or disclosure.epsilon_per_period or 1.0
    return DisclosurePolicy(
        mode=Mode(disclosure.mode),
        min_cell=disclosure.min_cell,
        round_to=disclosure.round_to if disclosure.round_to > 1 else None,
        max_epsilon_per_query=cap,
        coarsen_below=disclosure.population_threshold,
        min_geography=GeographyLevel(disclosure.min_geography),
    )


@lru_cache(maxsize=4)
def public_geography(path: Path | None = None) -> GeographyLookup:
    """The public data-zone lookup with its 0-17 population: group keys and coarsening come from here.

    ``None`` is the lookup shipped with the package (the demo geography).
    """
    lookup = load_lookup(path).select(
        "data_zone",
        "intermediate_zone",
        pl.col("council_code").alias("council"),
        pl.col("population_0_17").alias("population"),
    )
    return GeographyLookup(lookup)


# --- frames: one immutable frame set per agreement version, extract set and linkage state --------------

Loader = Callable[[], tuple[dict[str, pl.DataFrame], GeographyLookup]]
FrameSource = Callable[[Session, Agreement, datetime], tuple[Hashable, Loader]]
"""Gives the key of the current immutable frames (cheap) and a loader of the frames and their lookup."""
MAX_SUBJECTS: Final = 2_000_000
"""Public bound on subjects per agreement (Scotland has about 1M children); OpenDP's row bound."""


def extract_frames(master_key: bytes, lookup: Path | None = None) -> FrameSource:
    """Per dataset, the current extract's rows (one per linked subject) from the extracts store."""

    def source(session: Session, agreement: Agreement, at: datetime) -> tuple[Hashable, Loader]:
        current = {d.id: current_extract(session, agreement.id, d.id) for d in agreement.datasets}
        extracts = {dataset_id: e.id for dataset_id, e in current.items() if e is not None}
        if not extracts:
            raise NotFound(f"No dataset under '{agreement.id}' has a current extract yet.")
        linkage = session.scalar(
            select(LinkageSnapshot.updated_at).where(LinkageSnapshot.agreement_id == agreement.id)
        )

        def load() -> tuple[dict[str, pl.DataFrame], GeographyLookup]:
            frames = {}
            for dataset_id in extracts:  # datasets without an extract yet are left out of the catalogue
                frame = linked_frame(session, agreement.id, [dataset_id], at, master_key=master_key)
                prefix = f"{dataset_id}."
                frames[dataset_id] = frame.rename(
                    {c: c.removeprefix(prefix) for c in frame.columns if c != SUBJECT}
                )
            return frames, public_geography(lookup)

        return (agreement.id, agreement.version, tuple(sorted(extracts.values())), linkage, lookup), load

    return source


_engines: Lru[Hashable, QueryEngine] = Lru(ENGINE_CACHE_SIZE)


def engine_for(session: Session, agreement: Agreement, at: datetime, source: FrameSource) -> QueryEngine:
    """The engine of the agreement's current frames: validated and handed to OpenDP once per frame key."""
    key, load = source(session, agreement, at)

    def build() -> QueryEngine:
        frames, geography = load()
        frame_set = FrameSet(catalogue_for(agreement, MAX_SUBJECTS, frames), frames, geography, SUBJECT)
        return QueryEngine(frame_set, policy_for(agreement))

    # the digest too: an engine embeds the agreement's policy and catalogue, not only its frames
    return _engines.get_or_build((key, agreement.digest()), build)


# --- use cases --------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _event(actor: Actor, action: str, agreement_id: str, **kw: Any) -> AuditEvent:
    return AuditEvent(
        action=action,
        decision=kw.pop("decision", Decision.allow),
        actor=str(actor.id),
        agency=actor.agency_id,
        role=",".join(sorted(actor.roles)),
        agreement_id=agreement_id,
        **kw,
    )


def _refuse(session: Session, event: AuditEvent, error: Forbidden | Invalid) -> Forbidden | Invalid:
    record_denial(session, replace(event, decision=Decision.deny, reason=str(error.extra.get("reason"))))
    return error


def _fields_used(spec: QuerySpec, agreement: Agreement) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {d: set() for d in spec.datasets}
    names = [*spec.group_by, *(f.field for f in spec.filters), *(m.field for m in spec.measures if m.field)]
    for name in names:
        dataset_id, _, field = name.partition(".")
        if field and dataset_id in used:
            used[dataset_id].add(field)
    if spec.geography is not None or any(f.field in set(GeographyLevel) for f in spec.filters):
        for dataset in agreement.datasets:
            if dataset.id in used:  # unknown datasets are refused by the compiler with a clear reason
                used[dataset.id] |= dataset.field_names("geography")
    return used


def _authorise(
    session: Session, actor: Actor, agreement_id: str, request: QueryRequest, at: datetime
) -> tuple[Agreement, str | None]:
    event = _event(actor, RUN, agreement_id, purpose=request.purpose)
    if not actor.has(Role.analyst):
        raise _refuse(session, event, Forbidden("Only an analyst can run aggregate queries.", reason="role"))
    try:
        agreement = get_active_agreement(session, agreement_id, at)
    except (NotFound, Forbidden, Invalid):
        raise _refuse(
            session,
            event,
            Forbidden(
                f"Agreement '{agreement_id}' is not active, so it grants nothing.",
                reason="no_active_agreement",
            ),
        ) from None
    rule_id = None
    for dataset_id, fields in _fields_used(request.spec(), agreement).items():
        if dataset_id not in {d.id for d in agreement.datasets}:
            continue
        decision = authorize(
            session, actor, ACTION, agreement_id, dataset_id, frozenset(fields), request.purpose, at
        )
        if not decision.allowed:
            raise _refuse(
                session,
                replace(event, agreement_version=agreement.version),
                Forbidden(decision.detail, reason=decision.reason or "denied"),
            )
        rule_id = rule_id or decision.rule_id
    return agreement, rule_id


def _response(release: QueryRelease, remaining: float | None) -> QueryResponse:
    result = release.result
    return QueryResponse(
        query_id=release.id,
        agreement_id=release.agreement_id,
        agreement_version=release.agreement_version,
        mode=Mode(release.mode),
        purpose=release.purpose,
        created_at=release.created_at,
        epsilon_spent=release.epsilon,
        epsilon_remaining=remaining,
        **result,
    )


def _stored_result(result: QueryResult) -> dict[str, Any]:
    return {
        "geography_requested": result.geography_requested,
        "geography_levels_used": [level.value for level in result.geography_levels_used],
        "coarsened_areas": result.coarsened_areas,
        "min_cell": result.min_cell,
        "round_to": result.round_to,
        "warnings": result.warnings,
        "columns": result.table.columns,
        "rows": result.rows(),
    }


def _check_noise(engine: QueryEngine, query: CompiledQuery) -> None:
    """Calibrate the noise before anything is charged (``run`` reuses it): an epsilon or bounds whose
    noise OpenDP cannot compute or a release cannot carry are the asker's to change."""
    try:
        widths = list(engine.cache.prepare(engine.frames, query).accuracy.values())
    except OpenDPException:
        widths = [math.inf]
    if not all(width < NOISE_LIMIT for width in widths):
        raise QueryRejected(
            "this epsilon and these bounds call for more noise than a released number can carry: "
            "ask for a larger epsilon or narrower measure bounds"
        )


def run_query(
    session: Session,
    actor: Actor,
    agreement_id: str,
    request: QueryRequest,
    source: FrameSource,
    *,
    at: datetime | None = None,
) -> QueryResponse:
    """Authorise, compile, charge, release and store one query; every outcome is audited.

    Pass a plain session (as the HTTP dependency does), not ``transaction()``: the policy decisions are
    committed once made (so SQLite's write lock is not held while frames load and calibrate) and the
    ledger commits its charge before any noise is drawn. The caller commits the release at the end.
    """
    now = at or _now()
    agreement, rule_id = _authorise(session, actor, agreement_id, request, now)
    session.commit()
    event = _event(
        actor,
        RUN,
        agreement_id,
        agreement_version=agreement.version,
        rule_id=rule_id,
        purpose=request.purpose,
    )
    spec = request.spec()
    try:
        engine = engine_for(session, agreement, now, source)
        query = engine.compile(spec)
        key = ledger_key(agreement, actor.agency_id, now) if query.mode == Mode.dp else None
        if query.mode == Mode.dp:
            _check_noise(engine, query)
    except QueryRejected as rejected:
        raise _refuse(session, event, Invalid(str(rejected), reason="query")) from None
    except Invalid as invalid:
        raise _refuse(session, event, Invalid(invalid.detail, reason="agreement")) from None
    remaining: list[float] = []

    def charge(epsilon: float) -> None:
        assert key is not None
        remaining.append(reserve(session, key, epsilon))

    try:
        result = engine.run(spec, charge)
    except BudgetExceeded:
        raise _refuse(
            session,
            event,
            Forbidden(
                "The epsilon budget for this period does not cover this query; nothing was charged.",
                reason="budget_exhausted",
            ),
        ) from None
    retention = agreement.retention.query_results
    release = QueryRelease(
        id=uuid.uuid4().hex,
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        agency_id=actor.agency_id,
        actor_id=actor.id,
        purpose=request.purpose,
        mode=result.mode.value,
        epsilon=result.epsilon_spent,
        created_at=now,
        retain_until=parse_duration(retention).add_to(now),
        spec=spec.model_dump(mode="json"),
        result=_stored_result(result),
    )
    session.add(release)
    suppressed = (
        result.table.select(pl.col("suppressed_primary") | pl.col("suppressed_secondary")).sum().item()
    )
    record(
        session,
        replace(
            event,
            result={
                "query_id": release.id,
                "mode": result.mode.value,
                "epsilon": result.epsilon_spent,
                "cells": result.table.height,
                "cells_withheld": int(suppressed),
                "coarsened_areas": result.coarsened_areas,
            },
        ),
    )
    return _response(release, remaining[0] if remaining else None)


def _own_release(session: Session, actor: Actor, agreement_id: str, query_id: str) -> QueryRelease:
    release = session.get(QueryRelease, query_id)
    if release is None or release.agreement_id != agreement_id or release.agency_id != actor.agency_id:
        raise NotFound(f"No query '{query_id}' of your agency under '{agreement_id}'.")
    return release


def get_release(session: Session, actor: Actor, agreement_id: str, query_id: str) -> QueryResponse:
    release = _own_release(session, actor, agreement_id, query_id)
    record(
        session,
        _event(
            actor,
            "query.read",
            agreement_id,
            agreement_version=release.agreement_version,
            result={"query_id": query_id},
        ),
    )
    return _response(release, None)


def release_csv(session: Session, actor: Actor, agreement_id: str, query_id: str) -> str:
    """The stored table as CSV, escaped against spreadsheet formula injection."""
    release = _own_release(session, actor, agreement_id, query_id)
    columns: list[str] = release.result["columns"]
    rows = ([row.get(c) for c in columns] for row in release.result["rows"])
    record(
        session,
        _event(
            actor,
            "query.download",
            agreement_id,
            agreement_version=release.agreement_version,
            result={"query_id": query_id},
        ),
    )
    return rows_to_csv(columns, rows)


def budget(session: Session, actor: Actor, agreement_id: str, *, at: datetime | None = None) -> BudgetView:
    now = at or _now()
    event = _event(actor, BUDGET, agreement_id)
    if not actor.has(Role.analyst, Role.dpo):
        raise _refuse(
            session, event, Forbidden("Only analysts and DPOs can read query budgets.", reason="role")
        )
    try:
        agreement = get_active_agreement(session, agreement_id, now)
        key = ledger_key(agreement, actor.agency_id, now)
    except (NotFound, Forbidden) as error:
        raise _refuse(session, event, Forbidden(str(error), reason="no_active_agreement")) from None
    except Invalid as invalid:
        raise _refuse(session, event, Invalid(invalid.detail, reason="agreement")) from None
    view = budget_view(session, key)
    record(
        session,
        replace(event, agreement_version=agreement.version, result={"epsilon_spent": view.epsilon_spent}),
    )
    return view
