"""Disclosure control: OpenDP releases, small-number suppression, coarsening and accuracy statements.

A plain library (no database, no web framework). The application supplies the budget ledger through
the ``reserve(epsilon)`` callable of :meth:`QueryEngine.run`.
"""

from disclosure.dp import MeasurementCache
from disclosure.engine import QueryEngine, Reserve
from disclosure.errors import BudgetExceeded, DisclosureError, FrameRejected, QueryRejected
from disclosure.frames import FrameSet
from disclosure.geography import GeographyLookup
from disclosure.result import QueryResult
from disclosure.spec import (
    Catalogue,
    DisclosurePolicy,
    FieldSpec,
    Filter,
    FilterOp,
    GeographyLevel,
    Measure,
    MeasureKind,
    Mode,
    QuerySpec,
)

__all__ = [
    "BudgetExceeded",
    "Catalogue",
    "DisclosureError",
    "DisclosurePolicy",
    "FieldSpec",
    "Filter",
    "FilterOp",
    "FrameRejected",
    "FrameSet",
    "GeographyLevel",
    "GeographyLookup",
    "Measure",
    "MeasureKind",
    "MeasurementCache",
    "Mode",
    "QueryEngine",
    "QueryRejected",
    "QueryResult",
    "QuerySpec",
    "Reserve",
]
