"""Agreement -> Casbin rows, each traced back to the clause that made it.

One allow row per permission x dataset (coarse: role x agency x action x dataset x purpose). Fields are
not rows: the granted field set rides along on the compiled rule and is checked after Casbin matches,
which keeps the policy small (research: never emit fine-grained rows). A prohibition becomes deny rows
for every role, agency and purpose it leaves open; a prohibition limited to fields stays out of Casbin and
is applied with the field check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from agreements.model import AUDIT_TARGET, ROLES, Action, Agreement, Constraints, Role

AUDIT_OBJECT = AUDIT_TARGET
Effect = Literal["allow", "deny"]


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text that sorts like time, as the Casbin matcher compares it as a string."""
    if moment.tzinfo is None:
        raise ValueError("times given to the policy engine must carry a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CompiledRule:
    role: Role
    agency: str
    action: Action
    obj: str
    purpose: str
    agreement_id: str
    version: int
    not_before: str
    not_after: str
    rule_id: str
    effect: Effect
    clause: str
    fields: frozenset[str] = frozenset()
    constraints: Constraints | None = None
    duties: tuple[str, ...] = ()

    @property
    def field_level(self) -> bool:
        """A deny limited to some fields: enforced beside Casbin, not as a Casbin row."""
        return self.effect == "deny" and bool(self.fields)

    def casbin_row(self) -> list[str]:
        return [
            self.role,
            self.agency,
            self.action,
            self.obj,
            self.purpose,
            self.agreement_id,
            self.not_before,
            self.not_after,
            self.rule_id,
            self.effect,
        ]

    def describe(self) -> str:
        """One line for people: what this rule does and where it came from."""
        what = "ALLOW" if self.effect == "allow" else "DENY "
        fields = f" fields={','.join(sorted(self.fields))}" if self.fields else ""
        return (
            f"{what} {self.role}@{self.agency} {self.action} {self.obj} for {self.purpose}"
            f" [{self.not_before} .. {self.not_after}){fields}  <- {self.rule_id} ({self.clause})"
        )


def compile_agreement(agreement: Agreement) -> list[CompiledRule]:
    """Deterministic rule list for one agreement version (sorted by rule id, then object)."""
    common = {
        "agreement_id": agreement.id,
        "version": agreement.version,
        "not_before": format_time(agreement.validity.not_before()),
        "not_after": format_time(agreement.validity.not_after()),
    }
    rules: list[CompiledRule] = []
    for i, perm in enumerate(agreement.permissions):
        targets = [AUDIT_OBJECT] if perm.action == "audit_read" else perm.datasets
        for obj in targets:
            granted = frozenset() if obj == AUDIT_OBJECT else perm.allowed_fields(agreement.dataset(obj))
            rules.append(
                CompiledRule(
                    role=perm.role,
                    agency=perm.agency,
                    action=perm.action,
                    obj=obj,
                    purpose=perm.purpose,
                    rule_id=f"{agreement.ref}#{perm.id}",
                    effect="allow",
                    clause=f"permissions[{i}]",
                    fields=granted,
                    constraints=perm.constraints,
                    duties=tuple(perm.duties),
                    **common,  # type: ignore[arg-type]
                )
            )
    party_ids = [p.id for p in agreement.parties]
    purpose_codes = [p.code for p in agreement.purposes]
    for i, ban in enumerate(agreement.prohibitions):
        targets = [AUDIT_OBJECT] if ban.action == "audit_read" else ban.datasets
        for obj in targets:
            for role in [ban.role] if ban.role else ROLES:
                for agency in [ban.agency] if ban.agency else party_ids:
                    for purpose in [ban.purpose] if ban.purpose else purpose_codes:
                        rules.append(
                            CompiledRule(
                                role=role,
                                agency=agency,
                                action=ban.action,
                                obj=obj,
                                purpose=purpose,
                                rule_id=f"{agreement.ref}#{ban.id}",
                                effect="deny",
                                clause=f"prohibitions[{i}]",
                                fields=frozenset(ban.fields.get(obj, ())),
                                **common,  # type: ignore[arg-type]
                            )
                        )
    rules.sort(key=lambda r: (r.rule_id, r.obj, r.role, r.agency, r.purpose))
    return rules


def bundle_digest(rules: Iterable[CompiledRule]) -> str:
    """SHA-256 over the sorted rows and field sets: two processes with equal digests decide alike."""
    rows = sorted([*r.casbin_row(), ",".join(sorted(r.fields))] for r in rules)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
