"""Every router the API serves. One line per concept."""

from fastapi import APIRouter

from broker.agencies.views import router as agencies_router
from broker.agreements.views import router as agreements_router
from broker.api.health import router as health_router
from broker.audit.views import router as audit_router
from broker.catalogue.views import router as catalogue_router
from broker.extracts.views import router as extracts_router
from broker.queries.views import router as queries_router
from broker.records.views import router as records_router

ROUTERS: list[APIRouter] = [
    health_router,
    agencies_router,
    agreements_router,
    audit_router,
    queries_router,
    extracts_router,
    records_router,
    catalogue_router,
]
