"""The DPO API: search and pagination, CSV safe for spreadsheets, checkpoints and proofs, and who may read."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from agreements.loader import load_file
from audit.canonical import leaf_bytes
from audit.checkpoint import open_checkpoint
from audit.event import AuditEvent, Decision
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.note import NoteVerifier
from broker.agencies.models import Agency
from broker.agreements.service import seed_active_agreement
from broker.audit import service
from broker.audit.models import AuditRecord
from broker.database import transaction

Bearer = Callable[[str], dict[str, str]]
b64 = base64.b64decode


def _seed(sessions: sessionmaker[Session]) -> list[int]:
    """Six lookups, three per agency; returns their sequence numbers (bootstrap events come first)."""
    with transaction(sessions) as session:
        for i in range(6):
            service.record(
                session,
                AuditEvent(
                    action="records.lookup",
                    decision=Decision.allow if i % 2 else Decision.deny,
                    actor=str(100 + i),
                    agency="nhs-fife" if i < 3 else "edu-fife",
                    agreement_id="agr-1",
                    subjects=(f"tok{i}",),
                    reason='=HYPERLINK("http://evil")' if i == 4 else None,
                ),
            )
    with sessions() as session:
        lookups = select(AuditRecord.seq).where(AuditRecord.action == "records.lookup")
        return list(session.scalars(lookups.order_by(AuditRecord.seq)))


def test_operator_searches_pages_and_exports_csv(
    client: TestClient, operator_token: str, bearer: Bearer, sessions: sessionmaker[Session]
) -> None:
    s = _seed(sessions)
    auth = bearer(operator_token)
    lookups = {"action": "records.lookup", "limit": 4}
    page = client.get("/v1/audit/events", params=lookups, headers=auth).json()
    assert [e["seq"] for e in page["events"]] == s[:4] and page["next_after"] == s[3]
    rest = client.get("/v1/audit/events", params={**lookups, "after": s[3]}, headers=auth).json()
    assert [e["seq"] for e in rest["events"]] == s[4:] and rest["next_after"] is None
    one = client.get("/v1/audit/events", params={"subject": "tok4"}, headers=auth).json()["events"]
    assert [e["seq"] for e in one] == [s[4]] and one[0]["subjects"] == ["tok4"]
    denied = client.get("/v1/audit/events", params={"decision": "deny", "agency": "nhs-fife"}, headers=auth)
    assert [e["seq"] for e in denied.json()["events"]] == [s[0], s[2]]

    response = client.get(
        "/v1/audit/events", params={"action": "records.lookup", "format": "csv"}, headers=auth
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[4]["reason"] == '\'=HYPERLINK("http://evil")' and rows[4]["subjects"] == "tok4"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())

    with sessions() as session:
        reads = session.scalars(select(AuditRecord).where(AuditRecord.action == "audit.events.read")).all()
    assert len(reads) == 5


def test_dpo_reads_only_their_agency_and_others_are_refused(
    client: TestClient,
    operator_token: str,
    make_principal: Callable[..., str],
    bearer: Bearer,
    sessions: sessionmaker[Session],
) -> None:
    s = _seed(sessions)
    dpo = bearer(make_principal("nhs-fife", "dpo"))
    events = client.get("/v1/audit/events", params={"action": "records.lookup"}, headers=dpo).json()["events"]
    assert {e["agency"] for e in events} == {"nhs-fife"} and len(events) == 3
    assert client.get(f"/v1/audit/events/{s[4]}/proof", headers=dpo).status_code == 404
    assert client.get(f"/v1/audit/events/{s[1]}/proof", headers=dpo).status_code == 200

    analyst = bearer(make_principal("nhs-fife", "analyst"))
    response = client.get("/v1/audit/events", headers=analyst)
    assert response.status_code == 403 and response.json()["reason"] == "role"
    with sessions() as session:
        refusal = session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "GET /v1/audit/events", AuditRecord.decision == "deny"
            )
        ).one()
    assert refusal.summary["reason"] == "role"


def test_checkpoint_and_proof_verify_with_the_published_key(
    client: TestClient, operator_token: str, bearer: Bearer, sessions: sessionmaker[Session]
) -> None:
    seq = _seed(sessions)[2]
    auth = bearer(operator_token)
    first = client.get("/v1/audit/checkpoints/latest", headers=auth).json()
    verifier = NoteVerifier.from_string(first["verifier_key"])
    old = open_checkpoint(first["note"], [verifier], service.ORIGIN)
    assert old.size == first["size"] > seq
    assert first["created_at"].endswith("Z")  # UTC on either database, as every other time the API gives

    proof = client.get(f"/v1/audit/events/{seq}/proof", headers=auth).json()
    cp = open_checkpoint(proof["checkpoint"]["note"], [verifier], service.ORIGIN)
    leaf = leaf_hash(leaf_bytes(seq, proof["body"].encode()))
    assert base64.b64encode(leaf).decode() == proof["leaf_hash"]
    verify_inclusion(seq, cp.size, leaf, [b64(p) for p in proof["proof"]], cp.root)

    later = client.get("/v1/audit/checkpoints/latest", params={"from_size": old.size}, headers=auth).json()
    new = open_checkpoint(later["note"], [verifier], service.ORIGIN)
    assert new.size > old.size  # reading is audited, so the log grew and a new checkpoint covers it
    verify_consistency(old.size, new.size, old.root, new.root, [b64(p) for p in later["consistency"]])
    assert client.get("/v1/audit/events/999/proof", headers=auth).status_code == 404


ATTAINMENT = Path(__file__).resolve().parents[3] / "agreements" / "examples" / "attainment-planning.yaml"


def test_dpo_with_audit_read_sees_the_whole_agreement(
    client: TestClient,
    make_principal: Callable[..., str],
    bearer: Bearer,
    sessions: sessionmaker[Session],
) -> None:
    """edu-fife's DPO holds audit_read (purpose ATT-OVERSIGHT) under the attainment agreement."""
    agreement = load_file(ATTAINMENT)
    with transaction(sessions) as session:
        seed_active_agreement(session, agreement)
        for agency in ("edu-fife", "edu-highland"):
            service.record(
                session,
                AuditEvent(
                    action="queries.run", decision=Decision.allow, agency=agency, agreement_id=agreement.id
                ),
            )
    dpo = bearer(make_principal("edu-fife", "dpo"))
    scoped = {"agreement": agreement.id, "action": "queries.run"}
    granted = client.get("/v1/audit/events", params={**scoped, "purpose": "ATT-OVERSIGHT"}, headers=dpo)
    assert granted.status_code == 200
    assert {e["agency"] for e in granted.json()["events"]} == {"edu-fife", "edu-highland"}

    wrong = client.get("/v1/audit/events", params={**scoped, "purpose": "ATT-PLAN"}, headers=dpo)
    assert wrong.status_code == 403
    assert client.get("/v1/audit/events", params=scoped, headers=dpo).status_code == 422
    outsider = bearer(make_principal("nhs-fife", "dpo"))
    refused = client.get("/v1/audit/events", params={**scoped, "purpose": "ATT-OVERSIGHT"}, headers=outsider)
    assert refused.status_code == 403
    with sessions() as session:
        allowed = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "authorize.audit_read")
        ).all()
        refusals = session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "GET /v1/audit/events", AuditRecord.agreement_id == agreement.id
            )
        ).all()
    assert [e.decision for e in allowed] == ["allow"]
    assert [(e.decision, e.agency) for e in refusals] == [("deny", "edu-fife"), ("deny", "nhs-fife")]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_append_failing_at_commit_fails_the_request_and_stores_nothing(
    client: TestClient, engine: Engine, sessions: sessionmaker[Session], operator_token: str, bearer: Bearer
) -> None:
    """On PostgreSQL the append runs at commit: its failure must still be a 503, with nothing stored."""
    with engine.begin() as conn:
        conn.execute(text("ALTER FUNCTION audit_append(text) RENAME TO audit_append_gone"))
    try:
        response = client.post(
            "/v1/agencies",
            json={"id": "agency-x", "name": "Agency X", "kind": "other"},
            headers=bearer(operator_token),
        )
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER FUNCTION audit_append_gone(text) RENAME TO audit_append"))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    with sessions() as session:
        assert session.get(Agency, "agency-x") is None


@pytest.mark.parametrize(
    ("path", "params", "where"),
    [
        ("/v1/audit/events", {"after": 2**63}, "query.after"),
        ("/v1/audit/events", {"since": "2026-11-29T09:00:00"}, "query.since"),  # no offset
        ("/v1/audit/events", {"until": "0001-01-01T00:00:00+14:00"}, "query.until"),  # before year 1 in UTC
        ("/v1/audit/events", {"agency": "edu\x00fife"}, "query.agency"),
        ("/v1/audit/events", {"by": "1\x00"}, "query.by"),
        ("/v1/audit/events", {"action": "records.lookup\x00"}, "query.action"),
        ("/v1/audit/events", {"agreement": "agr\x00", "purpose": "AUDIT"}, "query.agreement"),
        ("/v1/audit/events", {"agreement": "agr-1", "purpose": "AUD\x00IT"}, "query.purpose"),
        (f"/v1/audit/events/{10**20}/proof", {}, "path.seq"),
    ],
)
def test_malformed_search_parameters_get_422_naming_them(
    client: TestClient, operator_token: str, bearer: Bearer, path: str, params: dict[str, object], where: str
) -> None:
    response = client.get(path, params=params, headers=bearer(operator_token))
    assert response.status_code == 422, response.text
    assert where in {e["location"] for e in response.json()["errors"]}


def test_a_malformed_subject_report_gets_422_and_never_echoes_what_was_sent(
    client: TestClient, operator_token: str, bearer: Bearer, sessions: sessionmaker[Session]
) -> None:
    before = _log_size(sessions)
    auth = bearer(operator_token)
    for body in (
        {"agreement_id": "agr\x00", "purpose": "AUDIT", "tokens": {"token_chi": "x"}},
        {"agreement_id": "agr-1", "purpose": "AUD\x00IT", "tokens": {"token_chi": "x"}},
        {"agreement_id": "agr-1", "purpose": "AUDIT", "tokens": {"Jamie Smith 0101011237": "x"}},
    ):
        response = client.post("/v1/audit/subject-report", json=body, headers=auth)
        assert response.status_code == 422, response.text
        assert "Jamie" not in response.text and "0101011237" not in response.text
    assert _log_size(sessions) == before  # refused before anything was read or logged


def _log_size(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return service.log_size(session)
