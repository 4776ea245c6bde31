"""Every denial reason on the example agreements, reload by build-check-swap, and compiled provenance."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agreements import load_file
from policies import (
    Decision,
    LivePolicy,
    PolicyCheckFailed,
    PolicyEnforcer,
    Request,
    bundle_digest,
    compile_agreement,
    format_time,
)

EXAMPLES = Path(__file__).parents[2] / "agreements" / "examples"
EI = load_file(EXAMPLES / "early-intervention-fife.yaml")
CP = load_file(EXAMPLES / "child-protection-fife.yaml")
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ENFORCER = PolicyEnforcer([(EI, "active"), (CP, "active")])


def _ask(
    role: str, agency: str, action: Any, purpose: str, dataset: str | None = None, *fields: str, **kw: Any
) -> Decision:
    agreement_id = str(kw.get("agreement", EI.id))
    at = kw.get("at", AT)
    assert isinstance(at, datetime)
    return ENFORCER.explain(
        Request(role, agency, action, agreement_id, purpose, at, dataset, frozenset(fields))
    )


def test_allowed_linked_record_names_its_rule_and_constraints() -> None:
    decision = _ask(
        "practitioner", "sw-fife", "linked_record_request", "EI-SUPPORT", "fife-attendance", "stage"
    )
    assert decision.allowed and decision.rule_id == f"{EI.ref}#P6" and decision.clause == "permissions[5]"
    assert decision.constraints is not None and decision.constraints.case_reference_required
    assert decision.duties == ("record_reason", "notify_provider")


@pytest.mark.parametrize(
    ("args", "kw", "reason"),
    [
        (
            ("analyst", "edu-fife", "aggregate_query", "EI-PLAN", "fife-attendance"),
            {"agreement": "isa-none"},
            "no_active_agreement",
        ),
        (
            ("analyst", "edu-fife", "aggregate_query", "EI-PLAN", "fife-attendance"),
            {"at": datetime(2028, 8, 1, tzinfo=UTC)},
            "outside_validity",
        ),
        (
            ("analyst", "edu-fife", "aggregate_query", "EI-PLAN", "fife-attendance"),
            {"at": datetime(2026, 7, 31, 23, 59, tzinfo=UTC)},
            "outside_validity",
        ),
        (("analyst", "justice-scra", "aggregate_query", "EI-PLAN", "fife-attendance"), {}, "agency"),
        (("analyst", "sw-fife", "aggregate_query", "EI-PLAN", "fife-attendance"), {}, "role"),
        (
            ("practitioner", "edu-fife", "linked_record_request", "EI-SUPPORT", "fife-attendance", "stage"),
            {},
            "dataset",
        ),
        (("analyst", "edu-fife", "aggregate_query", "EI-SUPPORT", "fife-attendance"), {}, "purpose"),
        (
            ("practitioner", "sw-fife", "linked_record_request", "EI-SUPPORT", "fife-attendance", "dob"),
            {},
            "field",
        ),
        (
            ("analyst", "sw-fife", "aggregate_query", "CP-PLAN", "police-concerns"),
            {"agreement": CP.id},
            "prohibited",
        ),
    ],
)
def test_each_denial_reason(args: tuple[str, ...], kw: dict[str, Any], reason: str) -> None:
    decision = _ask(*args, **kw)
    assert not decision.allowed
    assert decision.reason == reason, decision
    assert decision.detail


def test_a_prohibited_field_is_a_field_denial_naming_the_prohibition() -> None:
    decision = _ask(
        "practitioner",
        "sw-fife",
        "linked_record_request",
        "EI-SUPPORT",
        "fife-attendance",
        "stage",
        "pastoral_note",
        "dob",
    )
    assert not decision.allowed and decision.reason == "field"
    assert decision.rule_id == f"{EI.ref}#X1"
    assert decision.denied_fields == ("dob", "pastoral_note")
    retry = _ask("practitioner", "sw-fife", "linked_record_request", "EI-SUPPORT", "fife-attendance", "stage")
    assert retry.allowed


def test_expiry_needs_no_rebuild() -> None:
    last_second = datetime(2028, 7, 31, 23, 59, 59, tzinfo=UTC)
    assert _ask("dpo", "edu-fife", "audit_read", "EI-OVERSIGHT", at=last_second).allowed
    assert not _ask(
        "dpo", "edu-fife", "audit_read", "EI-OVERSIGHT", at=datetime(2028, 8, 1, tzinfo=UTC)
    ).allowed


def test_every_compiled_rule_traces_to_a_clause() -> None:
    for rule in compile_agreement(CP):
        index = int(rule.clause.split("[")[1].rstrip("]"))
        clause = CP.permissions[index] if rule.clause.startswith("permissions") else CP.prohibitions[index]
        assert rule.rule_id == f"{CP.ref}#{clause.id}"
        assert rule.effect == ("allow" if rule.clause.startswith("permissions") else "deny")
        assert rule.describe().endswith(f"({rule.clause})")
    assert bundle_digest(compile_agreement(CP)) == bundle_digest(list(reversed(compile_agreement(CP))))


def test_reload_swaps_only_a_checked_enforcer(monkeypatch: pytest.MonkeyPatch) -> None:
    live = LivePolicy()
    assert live.current.rules == ()
    first = live.reload([(EI, "active")])
    assert live.current is first and first.rules
    monkeypatch.setattr(PolicyEnforcer, "self_check", lambda self, limit=2000: ["broken"])
    with pytest.raises(PolicyCheckFailed):
        live.reload([(CP, "active")])
    assert live.current is first


def test_two_active_versions_of_one_agreement_are_refused() -> None:
    with pytest.raises(ValueError, match="two active versions"):
        PolicyEnforcer([(EI, "active"), (EI.model_copy(update={"version": 2}), "active")])


def test_suspended_agreement_is_reported_by_status() -> None:
    enforcer = PolicyEnforcer([(EI, "suspended")])
    decision = enforcer.explain(Request("dpo", "edu-fife", "audit_read", EI.id, "EI-OVERSIGHT", AT))
    assert decision.reason == "no_active_agreement" and "suspended" in decision.detail


def test_times_are_fixed_width_utc() -> None:
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 2))
