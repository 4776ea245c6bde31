"""Alembic environment: the engine comes from the caller (``broker.database.upgrade``)."""

from __future__ import annotations

from alembic import context

import broker.models  # noqa: F401  (registers every table on Base.metadata)
from broker.database import Base, make_engine
from broker.settings import get_settings

config = context.config
engine = config.attributes.get("engine") or make_engine(get_settings().database_url)

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
