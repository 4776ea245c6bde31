"""What the policy engine is asked and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agreements.model import Action, Constraints
from policies.compiler import AUDIT_OBJECT

DenyReason = Literal[
    "no_active_agreement", "role", "agency", "dataset", "field", "purpose", "outside_validity", "prohibited"
]
DENY_REASONS: tuple[DenyReason, ...] = (
    "no_active_agreement",
    "role",
    "agency",
    "dataset",
    "field",
    "purpose",
    "outside_validity",
    "prohibited",
)


@dataclass(frozen=True)
class Request:
    """One access question; ``at`` is the moment to decide for (time zone required)."""

    role: str
    agency: str
    action: Action
    agreement_id: str
    purpose: str
    at: datetime
    dataset: str | None = None
    fields: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("the request time must carry a time zone")

    @property
    def target(self) -> str:
        """The Casbin object: the dataset, or the agreement's audit log for ``audit_read``."""
        return AUDIT_OBJECT if self.action == "audit_read" else (self.dataset or "")


@dataclass(frozen=True)
class Decision:
    """Allow with the deciding rule, or deny with one reason; ``detail`` is a sentence for a DPO."""

    allowed: bool
    agreement_id: str
    detail: str
    reason: DenyReason | None = None
    rule_id: str | None = None
    version: int | None = None
    clause: str | None = None
    denied_fields: tuple[str, ...] = ()
    constraints: Constraints | None = None
    duties: tuple[str, ...] = field(default=())
