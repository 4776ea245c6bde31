"""The policy decision point: Casbin's FastEnforcer over compiled rules, plus what Casbin lacks.

Casbin decides the coarse question (role x agency x action x dataset x purpose x agreement x time); the
wrapper checks the requested fields against the matched rule and, for every denial, names the reason by
narrowing the same compiled rules step by step (Casbin only returns a matched row for an allow).
The enforcer is immutable once built; reloading builds, checks and swaps a new one (:class:`LivePolicy`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import casbin
from casbin.model import fast_policy_filter

from agreements.lifecycle import Status
from agreements.model import Agreement
from policies.compiler import CompiledRule, bundle_digest, compile_agreement, format_time
from policies.decision import Decision, DenyReason, Request
from policies.reference import reference_allows

MODEL_PATH = Path(__file__).with_name("model.conf")
# Positions of (agency, object) in both the request and the policy row: FastEnforcer's index.
CACHE_KEY_ORDER = (1, 3)


class PolicyInconsistency(RuntimeError):
    """Casbin and the rule index disagree: a bug, so the decision fails closed."""


class PolicyCheckFailed(RuntimeError):
    """A freshly built enforcer disagreed with the plain reading of its agreements; it was not swapped in."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} rule(s) decided differently from the agreement text")
        self.problems = problems


class _RowsAdapter(casbin.persist.Adapter):
    """Loads compiled rows straight into the model.

    ``add_policies`` checks each row against the whole FastPolicy (minutes for 10k rows); loading
    through an adapter appends to the index directly (tens of milliseconds).
    """

    def __init__(self, rows: list[list[str]]) -> None:
        self._rows = rows

    def load_policy(self, model: Any) -> None:
        policy = model.model["p"]["p"].policy
        for row in self._rows:
            policy.append(row)


def new_fast_enforcer(rows: list[list[str]]) -> casbin.FastEnforcer:
    """A bare FastEnforcer over our model with the given rows (also the benchmark's baseline)."""
    return casbin.FastEnforcer(str(MODEL_PATH), _RowsAdapter(rows), cache_key_order=list(CACHE_KEY_ORDER))


class PolicyEnforcer:
    """Built from (agreement version, stored status) pairs; only ``active`` versions grant anything."""

    def __init__(self, agreements: Iterable[tuple[Agreement, Status]]) -> None:
        self._active: dict[str, Agreement] = {}
        self._status: dict[str, Status] = {}
        rules: list[CompiledRule] = []
        for agreement, status in agreements:
            if status == "active":
                if agreement.id in self._active:
                    raise ValueError(f"two active versions of agreement '{agreement.id}'")
                self._active[agreement.id] = agreement
                rules.extend(compile_agreement(agreement))
            if self._status.get(agreement.id) != "active":
                self._status[agreement.id] = status
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.digest = bundle_digest(rules)
        self._allow: dict[tuple[str, str], CompiledRule] = {}
        self._field_bans: dict[tuple[str, str, str], list[CompiledRule]] = defaultdict(list)
        self._by_agreement_agency: dict[tuple[str, str], list[CompiledRule]] = defaultdict(list)
        for rule in rules:
            if rule.effect == "allow":
                self._allow[(rule.rule_id, rule.obj)] = rule
            elif rule.field_level:
                self._field_bans[(rule.agreement_id, rule.agency, rule.obj)].append(rule)
            self._by_agreement_agency[(rule.agreement_id, rule.agency)].append(rule)
        self._casbin = new_fast_enforcer([r.casbin_row() for r in rules if not r.field_level])
        self._policy = self._casbin.model.model["p"]["p"].policy
        # FastEnforcer filters its policy in place while deciding, so one decision at a time.
        self._lock = threading.Lock()

    def active_agreement(self, agreement_id: str) -> Agreement | None:
        return self._active.get(agreement_id)

    def explain(self, request: Request) -> Decision:
        """Allow with the deciding rule, or deny with the reason and the nearest clause."""
        obj = request.target
        with self._lock, fast_policy_filter(self._policy, request.agency, obj):
            allowed, row = self._casbin.enforce_ex(
                request.role,
                request.agency,
                request.action,
                obj,
                request.purpose,
                request.agreement_id,
                format_time(request.at),
            )
        if allowed:
            rule = self._allow[(row[8], obj)]
            if request.fields <= rule.fields and self._field_bans_for(request)[1] is None:
                return _allow(rule)
        return self._diagnose(request, coarse_allowed=allowed)

    def _field_bans_for(self, request: Request) -> tuple[frozenset[str], CompiledRule | None]:
        """Fields that prohibitions withhold from this request, and the first prohibition it runs into."""
        banned: frozenset[str] = frozenset()
        hit = None
        for ban in self._field_bans.get((request.agreement_id, request.agency, request.target), ()):
            if (ban.role, ban.action, ban.purpose) == (request.role, request.action, request.purpose):
                banned |= ban.fields
                if hit is None and ban.fields & request.fields:
                    hit = ban
        return banned, hit

    def _diagnose(self, request: Request, *, coarse_allowed: bool) -> Decision:
        """Narrow the agreement's rules one condition at a time; the first empty step is the reason."""
        agreement = self._active.get(request.agreement_id)
        if agreement is None:
            status = self._status.get(request.agreement_id)
            known = f"is {status}" if status else "is not known"
            return _deny(request, "no_active_agreement", f"agreement '{request.agreement_id}' {known}")
        if not agreement.validity.covers(request.at):
            return _deny(
                request,
                "outside_validity",
                f"agreement {agreement.ref} is in force from {agreement.validity.effective_from} "
                f"to the end of {agreement.validity.expires_on}",
                version=agreement.version,
            )
        rules = self._by_agreement_agency.get((request.agreement_id, request.agency), [])
        obj = request.target
        key = (request.role, request.action, obj, request.purpose)
        for ban in rules:
            if (
                ban.effect == "deny"
                and not ban.fields
                and (ban.role, ban.action, ban.obj, ban.purpose) == key
            ):
                return _deny(request, "prohibited", f"{ban.rule_id} forbids this", rule=ban)
        steps: list[tuple[DenyReason, str, Callable[[CompiledRule], bool]]] = [
            (
                "agency",
                f"agreement {agreement.ref} grants nothing to agency {request.agency}",
                lambda r: True,
            ),
            (
                "role",
                f"role {request.role} at {request.agency} may not {request.action} under {agreement.ref}",
                lambda r: r.role == request.role and r.action == request.action,
            ),
            (
                "dataset",
                f"no grant covers dataset '{obj}' for {request.role} at {request.agency}",
                lambda r: r.obj == obj,
            ),
            (
                "purpose",
                f"purpose {request.purpose} is not granted for this dataset and role",
                lambda r: r.purpose == request.purpose,
            ),
        ]
        keep = [r for r in rules if r.effect == "allow"]
        for reason, detail, test in steps:
            keep = [r for r in keep if test(r)]
            if not keep:
                return _deny(request, reason, detail, version=agreement.version)
        banned, field_ban = self._field_bans_for(request)
        covering = [r for r in keep if request.fields <= r.fields - banned]
        if not covering:
            # A prohibited field is reported as a field denial naming the prohibition, so callers can
            # drop the listed fields and ask again; whole-dataset prohibitions are "prohibited" above.
            best = keep[0]
            missing = tuple(sorted(request.fields - (best.fields - banned)))
            culprit = field_ban or best
            return _deny(
                request,
                "field",
                f"{culprit.rule_id} does not allow {len(missing)} of the requested field(s)",
                rule=culprit,
                denied_fields=missing,
            )
        if not coarse_allowed:
            raise PolicyInconsistency("the compiled rules allow a request that Casbin denied")
        return _allow(covering[0])

    def self_check(self, limit: int = 2000) -> list[str]:
        """Differential test of this enforcer against the plain reading, one probe per rule (sampled)."""
        step = max(1, len(self.rules) // limit)
        problems = []
        for rule in self.rules[::step]:
            agreement = self._active[rule.agreement_id]
            probe = Request(
                role=rule.role,
                agency=rule.agency,
                action=rule.action,
                agreement_id=rule.agreement_id,
                purpose=rule.purpose,
                at=agreement.validity.not_before(),
                dataset=None if rule.action == "audit_read" else rule.obj,
                fields=rule.fields,
            )
            if self.explain(probe).allowed != reference_allows(agreement, "active", probe):
                problems.append(f"{rule.rule_id} on {rule.obj}")
        return problems


def _allow(rule: CompiledRule) -> Decision:
    return Decision(
        allowed=True,
        agreement_id=rule.agreement_id,
        detail=f"granted by {rule.rule_id} ({rule.clause})",
        rule_id=rule.rule_id,
        version=rule.version,
        clause=rule.clause,
        constraints=rule.constraints,
        duties=rule.duties,
    )


def _deny(
    request: Request,
    reason: DenyReason,
    detail: str,
    *,
    rule: CompiledRule | None = None,
    version: int | None = None,
    denied_fields: tuple[str, ...] = (),
) -> Decision:
    return Decision(
        allowed=False,
        agreement_id=request.agreement_id,
        detail=detail,
        reason=reason,
        rule_id=rule.rule_id if rule else None,
        version=rule.version if rule else version,
        clause=rule.clause if rule else None,
        denied_fields=denied_fields,
    )


class LivePolicy:
    """Holds the current enforcer; reload builds a new one, checks it and swaps the reference."""

    def __init__(self) -> None:
        self._current = PolicyEnforcer([])
        self._swap_lock = threading.Lock()

    @property
    def current(self) -> PolicyEnforcer:
        return self._current

    def reload(self, agreements: Iterable[tuple[Agreement, Status]]) -> PolicyEnforcer:
        candidate = PolicyEnforcer(agreements)
        problems = candidate.self_check()
        if problems:
            raise PolicyCheckFailed(problems)
        with self._swap_lock:
            self._current = candidate
        return candidate
