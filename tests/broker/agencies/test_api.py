import hashlib
import json
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broker.agencies.models import ApiToken
from broker.audit.models import AuditRecord

Bearer = Callable[[str], dict[str, str]]
PROBLEM = "application/problem+json"


def _register(client: TestClient, headers: dict[str, str]) -> dict:
    response = client.post(
        "/v1/agencies",
        json={"id": "edu-fife", "name": "Fife Education", "kind": "education", "council_code": "S12000047"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_unknown_token_gets_401_problem_and_is_audited(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    response = client.get("/v1/agencies", headers={"Authorization": "Bearer brk_not-a-real-token"})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 401 and body["request_id"] == response.headers["X-Request-ID"]
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/v1/agencies").status_code == 401
    with sessions() as session:
        denials = session.scalars(select(AuditRecord).where(AuditRecord.decision == "deny")).all()
    assert [d.summary["reason"] for d in denials] == ["unauthenticated", "unauthenticated"]
    assert all("brk_not-a-real-token" not in d.body for d in denials)


def test_token_without_role_gets_403_problem(
    client: TestClient,
    operator_token: str,
    make_principal: Callable[..., str],
    bearer: Bearer,
    sessions: sessionmaker[Session],
) -> None:
    analyst = make_principal("edu-fife", "analyst")
    response = client.post(
        "/v1/agencies", json={"id": "x-agency", "name": "X", "kind": "other"}, headers=bearer(analyst)
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["reason"] == "role"
    with sessions() as session:
        denial = session.scalars(select(AuditRecord).where(AuditRecord.decision == "deny")).one()
    assert denial.action == "POST /v1/agencies"
    assert denial.summary["role"] == "analyst"


def test_operator_registers_agency_and_principal_token_shown_once(
    client: TestClient, operator_token: str, bearer: Bearer, sessions: sessionmaker[Session]
) -> None:
    op = bearer(operator_token)
    agency = _register(client, op)
    assert agency["kind"] == "education"
    duplicate = client.post(
        "/v1/agencies", json={"id": "edu-fife", "name": "Again", "kind": "education"}, headers=op
    )
    assert duplicate.status_code == 409

    created = client.post(
        "/v1/agencies/edu-fife/principals", json={"name": "A Teacher", "roles": ["practitioner"]}, headers=op
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("brk_") and len(token) >= 40
    with sessions() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert token not in stored

    me = client.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["roles"] == ["practitioner"]
    listing = client.get("/v1/agencies/edu-fife/principals", headers=op).json()
    assert all("token" not in p for p in listing)


def test_revoked_token_stops_working(client: TestClient, operator_token: str, bearer: Bearer) -> None:
    op = bearer(operator_token)
    _register(client, op)
    created = client.post(
        "/v1/agencies/edu-fife/principals", json={"name": "DPO", "roles": ["dpo"]}, headers=op
    ).json()
    extra = client.post(f"/v1/agencies/edu-fife/principals/{created['id']}/tokens", headers=op).json()
    assert client.get("/v1/me", headers=bearer(extra["token"])).status_code == 200
    revoked = client.delete(
        f"/v1/agencies/edu-fife/principals/{created['id']}/tokens/{extra['token_id']}", headers=op
    )
    assert revoked.status_code == 204
    assert client.get("/v1/me", headers=bearer(extra["token"])).status_code == 401
    assert client.get("/v1/me", headers=bearer(created["token"])).status_code == 200


def test_invalid_body_gets_422_without_echoing_values(
    client: TestClient, operator_token: str, bearer: Bearer
) -> None:
    response = client.post(
        "/v1/agencies",
        json={"id": "Bad Slug!", "name": "canary-VALUE-7731", "kind": "spaceship"},
        headers=bearer(operator_token),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    locations = {e["location"] for e in response.json()["errors"]}
    assert {"body.id", "body.kind"} <= locations
    assert "Bad Slug!" not in response.text and "spaceship" not in response.text


def test_operator_role_only_for_broker_agency(
    client: TestClient, operator_token: str, bearer: Bearer
) -> None:
    op = bearer(operator_token)
    _register(client, op)
    response = client.post(
        "/v1/agencies/edu-fife/principals", json={"name": "Sneaky", "roles": ["operator"]}, headers=op
    )
    assert response.status_code == 422
    assert "operator" in response.json()["detail"]


def test_allowed_actions_are_audited_without_tokens(
    client: TestClient, operator_token: str, bearer: Bearer, sessions: sessionmaker[Session]
) -> None:
    _register(client, bearer(operator_token))
    with sessions() as session:
        events = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
    actions = [e.action for e in events]
    assert "agency.register" in actions
    dumped = json.dumps([e.body for e in events])
    assert operator_token not in dumped


def test_malformed_path_ids_get_422_naming_the_parameter(
    client: TestClient, operator_token: str, bearer: Bearer
) -> None:
    """A NUL byte or an integer past the id column's range once reached the database: a 500."""
    op = bearer(operator_token)
    _register(client, op)
    asks = {
        "path.agency_id": client.get("/v1/agencies/edu%00fife", headers=op),
        "path.principal_id": client.post(f"/v1/agencies/edu-fife/principals/{2**63}/tokens", headers=op),
        "path.token_id": client.delete(f"/v1/agencies/edu-fife/principals/1/tokens/{10**20}", headers=op),
    }
    for location, response in asks.items():
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert [e["location"] for e in response.json()["errors"]] == [location]


def test_names_with_control_characters_get_422_and_nothing_is_stored(
    client: TestClient, operator_token: str, bearer: Bearer
) -> None:
    op = bearer(operator_token)
    _register(client, op)
    agency = client.post(
        "/v1/agencies", json={"id": "edu-nul", "name": "Fife\x00Education", "kind": "education"}, headers=op
    )
    person = client.post(
        "/v1/agencies/edu-fife/principals", json={"name": "Line\nbreak", "roles": ["analyst"]}, headers=op
    )
    for response, location in ((agency, "body.name"), (person, "body.name")):
        assert response.status_code == 422, response.text
        (error,) = response.json()["errors"]
        assert error["location"] == location and "control characters" in error["message"]
    assert "edu-nul" not in {a["id"] for a in client.get("/v1/agencies", headers=op).json()}
    assert len(client.get("/v1/agencies/edu-fife/principals", headers=op).json()) == 0
