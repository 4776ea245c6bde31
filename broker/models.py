"""Imports every table module so ``Base.metadata`` is complete for Alembic and the tests."""

from broker.agencies import models as agencies_models
from broker.agreements import models as agreements_models
from broker.audit import models as audit_models
from broker.extracts import models as extracts_models
from broker.keys import models as keys_models
from broker.queries import models as queries_models
from broker.records import models as records_models

__all__ = [
    "agencies_models",
    "agreements_models",
    "audit_models",
    "extracts_models",
    "keys_models",
    "queries_models",
    "records_models",
]
