"""The audit event: who did what, under which agreement and rule, with what decision.

It holds no identifiers and no payload: subjects appear only as per-agreement pseudonyms and results
only as summaries (rows released, epsilon spent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ResultValue = int | float | str | bool | None


class Decision(StrEnum):
    allow = "allow"
    deny = "deny"


@dataclass(frozen=True)
class AuditEvent:
    action: str
    decision: Decision
    actor: str | None = None
    agency: str | None = None
    role: str | None = None
    reason: str | None = None
    agreement_id: str | None = None
    agreement_version: int | None = None
    rule_id: str | None = None
    purpose: str | None = None
    case_reference: str | None = None
    subjects: tuple[str, ...] = ()
    request_id: str | None = None
    result: dict[str, ResultValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "decision": str(self.decision),
            "actor": self.actor,
            "agency": self.agency,
            "role": self.role,
            "reason": self.reason,
            "agreement_id": self.agreement_id,
            "agreement_version": self.agreement_version,
            "rule_id": self.rule_id,
            "purpose": self.purpose,
            "case_reference": self.case_reference,
            "subjects": list(self.subjects),
            "request_id": self.request_id,
            "result": dict(self.result),
        }
