"""The Casbin-backed enforcer allows exactly what a plain reading of the agreement allows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agreements.lifecycle import STATUSES
from agreements.model import ACTIONS, ROLES, Agreement
from policies import DENY_REASONS, PolicyEnforcer, Request, reference_allows

PARTIES = ["a1", "a2", "a3"]
DATASETS = ["d1", "d2", "d3"]
PURPOSES = ["U1", "U2"]
FIELDS = {
    "k1": ("linkage_key", "scn"),
    "k2": ("linkage_key", "dob"),
    "p1": ("payload", None),
    "p2": ("payload", None),
    "g1": ("geography", None),
    "t1": ("free_text", None),
}
FIELD_NAMES = sorted(FIELDS)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dataset(ds_id: str, provider: str) -> dict[str, Any]:
    fields = [
        {"name": n, "class": c, "type": "string", **({"identifier": i} if i else {})}
        for n, (c, i) in FIELDS.items()
    ]
    return {"id": ds_id, "provider": provider, "refresh": "P1D", "retention": "P1Y", "fields": fields}


@st.composite
def agreements(draw: st.DrawFn, agreement_id: str = "isa-t") -> Agreement:
    parties = draw(st.lists(st.sampled_from(PARTIES), min_size=1, max_size=3, unique=True))
    datasets = draw(st.lists(st.sampled_from(DATASETS), min_size=1, max_size=3, unique=True))
    start = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 1, 1)))
    end = start + timedelta(days=draw(st.integers(1, 900)))

    def field_map(ds_ids: list[str]) -> dict[str, list[str]]:
        chosen = draw(st.lists(st.sampled_from(ds_ids), unique=True)) if ds_ids else []
        return {d: draw(st.lists(st.sampled_from(FIELD_NAMES), unique=True, min_size=1)) for d in chosen}

    perms = []
    for i in range(draw(st.integers(0, 8))):
        ds_ids = draw(st.lists(st.sampled_from(datasets), min_size=1, unique=True))
        action = draw(st.sampled_from(ACTIONS))
        perms.append(
            {
                "id": f"P{i}",
                "role": draw(st.sampled_from(ROLES)),
                "agency": draw(st.sampled_from(parties)),
                "action": action,
                "datasets": [] if action == "audit_read" else ds_ids,
                "fields": {} if action == "audit_read" else field_map(ds_ids),
                "purpose": draw(st.sampled_from(PURPOSES)),
            }
        )
    bans = []
    for i in range(draw(st.integers(0, 3))):
        ds_ids = draw(st.lists(st.sampled_from(datasets), min_size=1, unique=True))
        action = draw(st.sampled_from(ACTIONS))
        bans.append(
            {
                "id": f"X{i}",
                "action": action,
                "datasets": [] if action == "audit_read" else ds_ids,
                "role": draw(st.none() | st.sampled_from(ROLES)),
                "agency": draw(st.none() | st.sampled_from(parties)),
                "purpose": draw(st.none() | st.sampled_from(PURPOSES)),
                "fields": {} if action == "audit_read" else field_map(ds_ids),
            }
        )
    doc = {
        "id": agreement_id,
        "version": draw(st.integers(1, 5)),
        "title": "generated",
        "validity": {"effective_from": start.isoformat(), "expires_on": end.isoformat()},
        "parties": [
            {"id": p, "name": p, "role": "controller", "dpo": {"name": "DPO", "email": f"dpo@{p}.example"}}
            for p in parties
        ],
        "datasets": [_dataset(d, draw(st.sampled_from(parties))) for d in datasets],
        "purposes": [{"code": u, "dpv": "dpv:ServiceProvision", "text": u} for u in PURPOSES],
        "lawful_bases": {"art6": [{"code": "6(1)(e)", "power": "test"}]},
        "permissions": perms,
        "prohibitions": bans,
    }
    return Agreement.model_validate(doc)


@st.composite
def requests_for(draw: st.DrawFn, agreement: Agreement) -> Request:
    """Half the time aimed at a permission (so allows are common), otherwise anything nearby."""
    start = agreement.validity.not_before()
    span = (agreement.validity.not_after() - start).total_seconds()
    offset = draw(st.floats(-0.2 * span - 86400, 1.2 * span + 86400))
    at = start + timedelta(seconds=offset)
    aimed = draw(st.booleans())
    if agreement.permissions and aimed:
        perm = draw(st.sampled_from(agreement.permissions))
        role, agency, action, purpose = perm.role, perm.agency, perm.action, perm.purpose
        dataset = draw(st.sampled_from(perm.datasets)) if perm.datasets else None
        pool = perm.fields.get(dataset or "", FIELD_NAMES)
    else:
        role = draw(st.sampled_from(ROLES))
        agency = draw(st.sampled_from([*PARTIES, "zz"]))
        action = draw(st.sampled_from(ACTIONS))
        purpose = draw(st.sampled_from([*PURPOSES, "U9"]))
        dataset = draw(st.sampled_from([*DATASETS, "d9"]))
        pool = FIELD_NAMES
    fields = frozenset(
        draw(st.lists(st.sampled_from(FIELD_NAMES if draw(st.booleans()) else pool), max_size=3))
    )
    agreement_id = agreement.id if draw(st.integers(0, 9)) else "isa-other"
    return Request(role, agency, action, agreement_id, purpose, at, dataset, fields)


@SETTINGS
@given(st.data())
def test_enforcer_allows_exactly_what_the_agreement_says(data: st.DataObject) -> None:
    agreement = data.draw(agreements())
    enforcer = PolicyEnforcer([(agreement, "active")])
    for _ in range(25):
        request = data.draw(requests_for(agreement))
        decision = enforcer.explain(request)
        assert decision.allowed == reference_allows(agreement, "active", request), (request, decision)
        if decision.allowed:
            assert decision.rule_id is not None and decision.rule_id.startswith(f"{agreement.ref}#P")
            assert decision.version == agreement.version
        else:
            assert decision.reason in DENY_REASONS


@QUICK
@given(st.data())
def test_two_active_agreements_do_not_leak_into_each_other(data: st.DataObject) -> None:
    first = data.draw(agreements("isa-one"))
    second = data.draw(agreements("isa-two"))
    enforcer = PolicyEnforcer([(first, "active"), (second, "active")])
    for _ in range(10):
        for agreement in (first, second):
            request = data.draw(requests_for(agreement))
            expected = reference_allows(first, "active", request) or reference_allows(
                second, "active", request
            )
            assert enforcer.explain(request).allowed == expected


@QUICK
@given(st.data(), st.sampled_from([s for s in STATUSES if s != "active"]))
def test_agreements_that_are_not_active_allow_nothing(data: st.DataObject, status: Any) -> None:
    agreement = data.draw(agreements())
    enforcer = PolicyEnforcer([(agreement, status)])
    assert enforcer.rules == ()
    for _ in range(10):
        request = data.draw(requests_for(agreement))
        decision = enforcer.explain(request)
        assert not decision.allowed
        assert decision.reason == "no_active_agreement"
        assert not reference_allows(agreement, status, request)


@QUICK
@given(agreements())
def test_every_rule_passes_the_self_check(agreement: Agreement) -> None:
    assert PolicyEnforcer([(agreement, "active")]).self_check() == []


def test_request_time_must_carry_a_zone() -> None:
    try:
        Request("analyst", "a1", "aggregate_query", "isa-t", "U1", datetime(2026, 1, 1), "d1")
    except ValueError as exc:
        assert "time zone" in str(exc)
    else:
        raise AssertionError("a naive time was accepted")
    assert (
        Request("analyst", "a1", "aggregate_query", "isa-t", "U1", datetime(2026, 1, 1, tzinfo=UTC)).target
        == ""
    )
