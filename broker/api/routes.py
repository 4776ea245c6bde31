"""Every router the API serves. One line per concept."""

from fastapi import APIRouter

from broker.agencies.views import router as agencies_router
from broker.api.health import router as health_router

ROUTERS: list[APIRouter] = [
    health_router,
    agencies_router,
]
