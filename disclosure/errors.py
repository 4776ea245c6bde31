"""Errors the library raises. Messages name fields, rules and counts of rows, never a data value."""


class DisclosureError(Exception):
    """Base class."""


class QueryRejected(DisclosureError):
    """The query is not allowed or not well formed; decided from public metadata only, nothing was charged."""


class FrameRejected(DisclosureError):
    """The data does not meet the declared schema, row bound or one-row-per-subject rule."""


class BudgetExceeded(DisclosureError):
    """Raised by a ``reserve`` callable when the charge would take the ledger over its budget."""
