"""Agreement lifecycle over HTTP on SQLite and PostgreSQL: drafting, approvals bound to the digest,
activation, suspension, supersession, revocation, expiry at request time, explanations and audit."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from agreements import load_file
from broker.agencies.models import Role
from broker.agencies.service import authenticate
from broker.agreements import service
from broker.agreements.models import AgreementVersion
from broker.audit.models import AuditRecord
from broker.database import transaction
from broker.errors import Forbidden, NotFound

EXAMPLES = Path(__file__).parents[3] / "agreements" / "examples"
PLAN = EXAMPLES / "attainment-planning.yaml"
AID = "isa-attainment-planning"
IN_FORCE = "2026-11-28T12:00:00Z"


@pytest.fixture
def people(
    make_principal: Callable[..., str], bearer: Callable[[str], dict[str, str]]
) -> dict[str, dict[str, str]]:
    return {
        "dpo_fife": bearer(make_principal("edu-fife", Role.dpo, name="DPO Fife")),
        "dpo_highland": bearer(make_principal("edu-highland", Role.dpo, name="DPO Highland")),
        "analyst_fife": bearer(make_principal("edu-fife", Role.analyst, name="Analyst")),
        "dpo_other": bearer(make_principal("sw-fife", Role.dpo, name="DPO elsewhere")),
    }


def _post(client: TestClient, path: str, who: dict[str, str], body: Any = None) -> Any:
    return client.post(f"/v1/agreements/{AID}{path}", headers=who, json=body if body is not None else {})


def _explain(client: TestClient, who: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {
        "agreement_id": AID,
        "action": "aggregate_query",
        "purpose": "ATT-PLAN",
        "dataset": "fife-pupils",
        "fields": ["attendance_pct", "data_zone"],
        "at": IN_FORCE,
        **extra,
    }
    response = client.post("/v1/authorize/explain", headers=who, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _approve_all(
    client: TestClient, people: dict[str, dict[str, str]], version: int, digest: str
) -> dict[str, Any]:
    for dpo in ("dpo_fife", "dpo_highland"):
        response = _post(client, f"/versions/{version}/approvals", people[dpo], {"digest": digest})
        assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_full_lifecycle(
    client: TestClient, people: dict[str, dict[str, str]], sessions: sessionmaker[Session]
) -> None:
    created = client.post("/v1/agreements", headers=people["dpo_fife"], json={"text": PLAN.read_text()})
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["status"] == "draft" and draft["approvals_missing"] == ["edu-fife", "edu-highland"]
    digest = draft["digest"]
    assert digest == load_file(PLAN).digest()

    assert (
        client.post("/v1/agreements", headers=people["dpo_fife"], json={"text": PLAN.read_text()}).status_code
        == 409
    )
    assert _post(client, "/versions/1/approvals", people["dpo_fife"]).status_code == 409  # not in review yet
    assert _post(client, "/versions/1/submit", people["dpo_fife"]).json()["status"] == "in_review"

    refused = _post(client, "/versions/1/approvals", people["analyst_fife"])
    assert refused.status_code == 403 and refused.json()["reason"] == "role"
    assert _post(client, "/versions/1/approvals", people["dpo_other"]).status_code == 403
    assert _post(client, "/versions/1/approvals", people["dpo_fife"], {"digest": "0" * 64}).status_code == 409

    half = _post(client, "/versions/1/approvals", people["dpo_fife"], {"digest": digest}).json()
    assert half["status"] == "in_review" and half["approvals_missing"] == ["edu-highland"]
    assert _post(client, "/versions/1/approvals", people["dpo_fife"]).status_code == 409  # twice
    assert _post(client, "/versions/1/activate", people["dpo_fife"]).status_code == 409  # not approved

    before = _explain(client, people["analyst_fife"])
    assert not before["allowed"] and before["reason"] == "no_active_agreement"

    approved = _post(client, "/versions/1/approvals", people["dpo_highland"], {"digest": digest}).json()
    assert approved["status"] == "approved" and all(a["valid"] for a in approved["approvals"])
    assert _post(client, "/versions/1/activate", people["analyst_fife"]).status_code == 403
    assert _post(client, "/versions/1/activate", people["dpo_highland"]).json()["status"] == "active"

    allowed = _explain(client, people["analyst_fife"])
    assert allowed["allowed"] and allowed["rule_id"] == f"{AID}@1#P3" and allowed["role"] == "analyst"
    denied = _explain(client, people["analyst_fife"], fields=["scn"])
    assert denied["reason"] == "field" and denied["denied_fields"] == ["scn"]
    expired = _explain(client, people["analyst_fife"], at="2029-08-01T00:00:00Z")
    assert expired["reason"] == "outside_validity"
    assert _explain(client, people["analyst_fife"], action="linked_record_request")["reason"] == "prohibited"

    assert _post(client, "/versions/1/suspend", people["dpo_highland"]).json()["status"] == "suspended"
    assert _explain(client, people["analyst_fife"])["reason"] == "no_active_agreement"
    assert _post(client, "/versions/1/activate", people["dpo_fife"]).json()["status"] == "active"
    assert _explain(client, people["analyst_fife"])["allowed"]

    # Version 2 widens the budget: the diff says so, and activating it supersedes version 1.
    text2 = (
        PLAN.read_text()
        .replace("version: 1", "version: 2")
        .replace("epsilon_per_period: 4.0", "epsilon_per_period: 6.0")
    )
    v2 = client.post("/v1/agreements", headers=people["dpo_highland"], json={"text": text2}).json()
    diff = client.get(
        f"/v1/agreements/{AID}/diff", params={"old": 1, "new": 2}, headers=people["analyst_fife"]
    ).json()
    assert diff["widening"] and any(
        "privacy budget per period" in c["text"] for c in diff["changes"] if c["widening"]
    )
    _post(client, "/versions/2/submit", people["dpo_highland"])
    _approve_all(client, people, 2, v2["digest"])
    assert _post(client, "/versions/2/activate", people["dpo_fife"]).json()["status"] == "active"
    summary = client.get(f"/v1/agreements/{AID}", headers=people["analyst_fife"]).json()
    assert summary["current"]["version"] == 2
    assert [v["status"] for v in summary["versions"]] == ["superseded", "active"]
    assert _explain(client, people["analyst_fife"])["version"] == 2

    policy = client.get(f"/v1/agreements/{AID}/versions/2/policy", headers=people["analyst_fife"]).json()
    assert {r["clause"] for r in policy} >= {"permissions[2]", "prohibitions[0]"}
    rendered = client.get(f"/v1/agreements/{AID}/versions/2/render", headers=people["analyst_fife"])
    assert rendered.text.startswith("# Attainment planning")

    assert _post(client, "/versions/2/revoke", people["dpo_fife"]).json()["status"] == "revoked"
    assert _explain(client, people["analyst_fife"])["reason"] == "no_active_agreement"
    assert _post(client, "/versions/2/activate", people["dpo_fife"]).status_code == 409

    with sessions() as session:
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.agreement_id == AID).order_by(AuditRecord.seq)
        ).all()
    for step in ("draft", "submit", "approve", "approved", "activate", "suspend", "supersede", "revoke"):
        assert f"agreements.{step}" in actions
    assert "authorize.explain" in actions


def test_changed_bytes_void_approvals(
    client: TestClient, people: dict[str, dict[str, str]], sessions: sessionmaker[Session]
) -> None:
    draft = client.post("/v1/agreements", headers=people["dpo_fife"], json={"text": PLAN.read_text()}).json()
    _post(client, "/versions/1/submit", people["dpo_fife"])
    _approve_all(client, people, 1, draft["digest"])
    with transaction(sessions) as session:
        row = session.scalars(select(AgreementVersion)).one()
        tampered = row.document.replace('"min_cell":10', '"min_cell":11')
        assert tampered != row.document
        session.execute(
            update(AgreementVersion).where(AgreementVersion.id == row.id).values(document=tampered)
        )
    refused = _post(client, "/versions/1/activate", people["dpo_fife"])
    assert refused.status_code == 409
    assert refused.json()["missing"] == ["edu-fife", "edu-highland"]
    detail = client.get(f"/v1/agreements/{AID}/versions/1", headers=people["dpo_fife"]).json()
    assert not any(a["valid"] for a in detail["approvals"])


def test_invalid_documents_get_findings(client: TestClient, people: dict[str, dict[str, str]]) -> None:
    bad = PLAN.read_text().replace("role: analyst", "role: wizard", 1)
    response = client.post("/v1/agreements", headers=people["dpo_fife"], json={"text": bad})
    assert response.status_code == 422
    assert any(f["path"].startswith("permissions[2].role") for f in response.json()["findings"])
    broken = client.post("/v1/agreements", headers=people["dpo_fife"], json={"text": "id: ["})
    assert broken.status_code == 422 and "not valid YAML" in broken.json()["findings"][0]["message"]
    neither = client.post("/v1/agreements", headers=people["dpo_fife"], json={})
    assert neither.status_code == 422
    as_object = load_file(PLAN).model_dump(mode="json", by_alias=True)
    as_object["lawful_bases"]["art6"][0]["power"] = None
    semantic = client.post("/v1/agreements", headers=people["dpo_fife"], json={"document": as_object})
    assert semantic.status_code == 422
    assert semantic.json()["findings"][0]["path"] == "lawful_bases.art6[0].power"
    outsider = client.post("/v1/agreements", headers=people["analyst_fife"], json={"text": PLAN.read_text()})
    assert outsider.status_code == 403


def test_explaining_for_someone_else_needs_a_dpo(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    as_dpo = _explain(client, people["dpo_other"], agency="edu-fife", role="analyst")
    assert as_dpo["reason"] == "no_active_agreement"
    response = client.post(
        "/v1/authorize/explain",
        headers=people["analyst_fife"],
        json={
            "agreement_id": AID,
            "action": "aggregate_query",
            "purpose": "ATT-PLAN",
            "agency": "edu-highland",
        },
    )
    assert response.status_code == 403


def test_policy_service_decides_and_audits(
    sessions: sessionmaker[Session], make_principal: Callable[..., str]
) -> None:
    token = make_principal("edu-fife", Role.analyst, Role.practitioner, name="Two roles")
    ei = load_file(EXAMPLES / "early-intervention-fife.yaml")
    at = datetime(2026, 11, 28, tzinfo=UTC)
    with transaction(sessions) as session:
        actor = authenticate(session, token)
        assert actor is not None
        with pytest.raises(NotFound):
            service.get_active_agreement(session, ei.id, at)
        service.seed_active_agreement(session, ei, at)
        assert service.get_active_agreement(session, ei.id, at) == ei
        with pytest.raises(Forbidden):
            service.get_active_agreement(session, ei.id, datetime(2028, 8, 1, tzinfo=UTC))
        allowed = service.authorize(
            session, actor, "aggregate_query", ei.id, "fife-attendance", ["stage"], "EI-PLAN", at
        )
        assert allowed.allowed and allowed.rule_id == f"{ei.ref}#P7"
        linked = service.authorize(
            session,
            actor,
            "linked_record_request",
            ei.id,
            "fife-health-visiting",
            ["review_stage"],
            "EI-SUPPORT",
            at,
        )
        assert linked.allowed and linked.rule_id == f"{ei.ref}#P4"
        assert linked.constraints is not None and linked.constraints.max_requests_per_day == 20
        denied = service.authorize(
            session,
            actor,
            "linked_record_request",
            ei.id,
            "fife-health-visiting",
            ["chi", "review_stage"],
            "EI-SUPPORT",
            at,
        )
        assert not denied.allowed and denied.reason == "field" and denied.denied_fields == ("chi",)
    with sessions() as session:  # the decisions are in the log once their transaction commits
        events = session.scalars(
            select(AuditRecord).where(AuditRecord.action.like("authorize.%")).order_by(AuditRecord.seq)
        ).all()
        assert [e.decision for e in events] == ["allow", "allow", "deny"]
        bodies = [json.loads(e.body) for e in events]
        assert [b["result"]["fields"] for b in bodies] == [1, 1, 2]  # field names are counted, not listed
        assert bodies[2]["reason"] == "field" and bodies[0]["rule_id"] == f"{ei.ref}#P7"
    dpo_token = make_principal("edu-fife", Role.dpo, name="DPO Fife")
    with transaction(sessions) as session:
        dpo = authenticate(session, dpo_token)
        assert dpo is not None
        assert service.suspend(session, dpo, ei.id, 1, at).status == "suspended"
    with transaction(sessions) as session:
        suspended = service.authorize(
            session, actor, "aggregate_query", ei.id, "fife-attendance", [], "EI-PLAN", at
        )
        assert suspended.reason == "no_active_agreement" and "suspended" in suspended.detail


def test_malformed_ids_and_documents_get_422_and_nothing_is_stored(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    """Each of these was a 500: an integer past the version column, a NUL byte on PostgreSQL, a JSON
    text nested deeper than the decoder recurses, a NUL in the title (a column of its own)."""
    dpo = people["dpo_fife"]
    asks = {
        "path.version": client.get(f"/v1/agreements/{AID}/versions/{2**31}", headers=dpo),
        "query.new": client.get(f"/v1/agreements/{AID}/diff", params={"old": 1, "new": 10**20}, headers=dpo),
        "path.agreement_id": client.get(f"/v1/agreements/{AID}%00/versions", headers=dpo),
    }
    for location, response in asks.items():
        assert response.status_code == 422, response.text
        assert [e["location"] for e in response.json()["errors"]] == [location]
    nested = client.post(
        "/v1/agreements", headers=dpo, json={"text": "[" * 100_000 + "]" * 100_000, "format": "json"}
    )
    assert nested.status_code == 422 and "nested too deeply" in nested.json()["findings"][0]["message"]
    titled = load_file(PLAN).model_dump(mode="json", by_alias=True) | {"title": "Attainment\x00planning"}
    response = client.post("/v1/agreements", headers=dpo, json={"document": titled})
    assert response.status_code == 422, response.text
    assert response.json()["findings"] == [
        {"path": "title", "message": "must not contain control characters"}
    ]
    assert client.get(f"/v1/agreements/{AID}", headers=dpo).status_code == 404


def test_explain_refuses_malformed_questions_before_auditing_them(
    client: TestClient, people: dict[str, dict[str, str]], sessions: sessionmaker[Session]
) -> None:
    """The question's agreement id and purpose go into the audit log: free text of any length (or a NUL,
    which PostgreSQL cannot store) must be refused first. A moment before year 1 in UTC was a 500."""
    asks: dict[str, dict[str, Any]] = {
        "body.purpose": {"purpose": "X" * 10_000},
        "body.agreement_id": {"agreement_id": AID + "\x00"},
        "body.fields.0": {"fields": ["Child Name"]},
        "body.at": {"at": "0001-01-01T00:00:00+14:00"},
    }
    for location, extra in asks.items():
        body = {"agreement_id": AID, "action": "aggregate_query", "purpose": "ATT-PLAN", **extra}
        response = client.post("/v1/authorize/explain", headers=people["dpo_fife"], json=body)
        assert response.status_code == 422, response.text
        assert [e["location"] for e in response.json()["errors"]] == [location]
    assert "years 1 and 9999" in response.json()["errors"][0]["message"]
    with sessions() as session:
        assert not session.scalars(select(AuditRecord).where(AuditRecord.action == "authorize.explain")).all()
