"""Imports every table module so ``Base.metadata`` is complete for Alembic and the tests."""

from broker.agencies import models as agencies_models
from broker.audit import models as audit_models

__all__ = ["agencies_models", "audit_models"]
