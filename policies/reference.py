"""A plain reading of an agreement, written straight from the document and not from compiled rules.

It is the oracle for the property tests: the Casbin-backed enforcer must allow exactly what this allows.
"""

from __future__ import annotations

from agreements.lifecycle import Status
from agreements.model import Agreement, Permission, Prohibition
from policies.decision import Request


def _covers_target(clause: Permission | Prohibition, request: Request) -> bool:
    return request.action == "audit_read" or request.dataset in clause.datasets


def _prohibits(ban: Prohibition, request: Request) -> bool:
    if ban.action != request.action or not _covers_target(ban, request):
        return False
    if ban.role not in (None, request.role) or ban.agency not in (None, request.agency):
        return False
    if ban.purpose not in (None, request.purpose):
        return False
    banned_fields = ban.fields.get(request.target)
    return banned_fields is None or bool(set(banned_fields) & request.fields)


def _permits(agreement: Agreement, perm: Permission, request: Request) -> bool:
    if (perm.role, perm.agency, perm.action, perm.purpose) != (
        request.role,
        request.agency,
        request.action,
        request.purpose,
    ):
        return False
    if not _covers_target(perm, request):
        return False
    if request.action == "audit_read":
        return not request.fields
    return request.fields <= perm.allowed_fields(agreement.dataset(request.dataset or ""))


def reference_allows(agreement: Agreement, status: Status, request: Request) -> bool:
    """Active, in force at the request time, not prohibited, and one permission covers it all."""
    if status != "active" or request.agreement_id != agreement.id:
        return False
    if not agreement.validity.covers(request.at):
        return False
    if any(_prohibits(ban, request) for ban in agreement.prohibitions):
        return False
    return any(_permits(agreement, perm, request) for perm in agreement.permissions)
