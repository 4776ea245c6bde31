"""Aggregate queries over HTTP on SQLite and PostgreSQL: an active agreement, the policy engine, the
ledger and the audit log, with frames built in the test (the frame source is a FastAPI dependency)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agreements.model import Agreement
from broker.agencies.models import Role
from broker.audit.models import AuditRecord
from broker.queries.models import QueryRelease
from broker.queries.service import public_geography
from broker.queries.views import frame_source
from disclosure import GeographyLookup

PLAN = Path(__file__).parents[3] / "agreements" / "examples" / "attainment-planning.yaml"
AID = "isa-attainment-planning"
STAGES = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "S1", "S2", "S3", "S4", "S5", "S6", "SP"]


def pupils(n: int, seed: int, zones: list[str], prefix: str) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "subject": [f"{prefix}{i}" for i in range(n)],
            "school": ["=HYPERLINK(1)"] * n,  # an undeclared-for-aggregates text field: never released
            "stage": np.array(STAGES)[rng.integers(0, len(STAGES), n)],
            "attendance_pct": rng.uniform(50, 100, n),
            "fsm": rng.random(n) < 0.25,
            "asn": rng.random(n) < 0.2,
            "acel_reading": rng.random(n) < 0.7,
            "acel_numeracy": rng.random(n) < 0.7,
            "data_zone": np.array(zones)[rng.integers(0, len(zones), n)],
        }
    )


def frames_built_here(
    _session: Session, agreement: Agreement, _at: datetime
) -> tuple[Hashable, Callable[..., Any]]:
    zones = sorted(public_geography().frame["data_zone"].to_list())

    def load() -> tuple[dict[str, pl.DataFrame], GeographyLookup]:
        frames = {
            "fife-pupils": pupils(4_000, 1, zones, "f"),
            "highland-pupils": pupils(3_000, 2, zones, "f"),  # overlapping subjects: linked children
        }
        return frames, public_geography()

    return ("test-frames", agreement.id, agreement.version), load


@pytest.fixture
def people(make_principal: Callable[..., str], bearer: Callable[[str], dict[str, str]]) -> dict[str, Any]:
    return {
        "dpo_fife": bearer(make_principal("edu-fife", Role.dpo)),
        "dpo_highland": bearer(make_principal("edu-highland", Role.dpo)),
        "analyst_fife": bearer(make_principal("edu-fife", Role.analyst)),
        "analyst_highland": bearer(make_principal("edu-highland", Role.analyst)),
        "officer_fife": bearer(make_principal("edu-fife", Role.data_officer)),
    }


def activate(client: TestClient, people: dict[str, Any], text: str) -> TestClient:
    """Draft, approve and activate an agreement; frames come from the test."""
    created = client.post("/v1/agreements", headers=people["dpo_fife"], json={"text": text})
    assert created.status_code == 201, created.text
    digest = created.json()["digest"]
    base = f"/v1/agreements/{AID}/versions/1"
    assert client.post(f"{base}/submit", headers=people["dpo_fife"], json={}).status_code == 200
    for dpo in ("dpo_fife", "dpo_highland"):
        approved = client.post(f"{base}/approvals", headers=people[dpo], json={"digest": digest})
        assert approved.status_code == 200, approved.text
    assert client.post(f"{base}/activate", headers=people["dpo_fife"], json={}).json()["status"] == "active"
    client.app.dependency_overrides[frame_source] = lambda: frames_built_here  # type: ignore[attr-defined]
    return client


@pytest.fixture
def active(client: TestClient, people: dict[str, Any]) -> TestClient:
    """The attainment-planning agreement (dp), active."""
    return activate(client, people, PLAN.read_text())


def query(**kw: Any) -> dict[str, Any]:
    return {
        "purpose": "ATT-PLAN",
        "datasets": ["fife-pupils"],
        "geography": "council",
        "group_by": ["fife-pupils.fsm"],
        "measures": [{"kind": "count"}, {"kind": "mean", "field": "fife-pupils.attendance_pct"}],
        "epsilon": 0.5,
    } | kw


def post(client: TestClient, who: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post(f"/v1/agreements/{AID}/queries", headers=who, json=body)


def events(sessions: sessionmaker[Session], action: str) -> list[dict[str, Any]]:
    with sessions() as session:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        )
        return [r.summary for r in rows]


def test_dp_query_budget_and_csv(
    active: TestClient, people: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    response = post(active, people["analyst_fife"], query())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mode"] == "dp" and body["epsilon_spent"] == pytest.approx(0.5)
    assert body["epsilon_remaining"] == pytest.approx(3.5)
    councils = set(public_geography().frame["council"].to_list())
    rows = body["rows"]
    assert {r["area"] for r in rows} <= councils and len(rows) == 2 * len(councils)
    assert all(r["count"] is None or r["count"] >= 10 for r in rows)  # min_cell 10 on noisy counts
    assert all(r["count"] is None or r["count"] % 5 == 0 for r in rows)  # round_to 5
    assert body["geography_levels_used"] == ["council"]

    budget = active.get(f"/v1/agreements/{AID}/budget", headers=people["analyst_fife"]).json()
    assert budget["epsilon_spent"] == pytest.approx(0.5) and budget["epsilon_budget"] == 4.0
    other = active.get(f"/v1/agreements/{AID}/budget", headers=people["analyst_highland"]).json()
    assert other["epsilon_spent"] == 0.0  # per consumer agency

    download = active.get(
        f"/v1/agreements/{AID}/queries/{body['query_id']}/csv", headers=people["analyst_fife"]
    )
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.text)))
    assert table[0][:3] == ["area", "fife-pupils.fsm", "area_level"] and len(table) == len(rows) + 1
    assert "HYPERLINK" not in download.text
    again = active.get(f"/v1/agreements/{AID}/queries/{body['query_id']}", headers=people["analyst_fife"])
    assert again.json()["rows"] == rows  # the stored release, not a new query
    hidden = active.get(
        f"/v1/agreements/{AID}/queries/{body['query_id']}", headers=people["analyst_highland"]
    )
    assert hidden.status_code == 404

    runs = events(sessions, "query.run")
    assert runs[-1]["decision"] == "allow" and runs[-1]["result"]["epsilon"] == pytest.approx(0.5)
    assert runs[-1]["rule_id"] == f"{AID}@1#P3"
    assert events(sessions, "query.download") and events(sessions, "query.budget")


def test_budget_runs_out_refusal_costs_nothing(
    active: TestClient, people: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    for epsilon in [0.5] * 7 + [0.45]:  # 3.95 of the period's 4.0
        assert post(active, people["analyst_fife"], query(epsilon=epsilon)).status_code == 201
    refused = post(active, people["analyst_fife"], query())
    assert refused.status_code == 403 and refused.json()["reason"] == "budget_exhausted"
    small = post(active, people["analyst_fife"], query(epsilon=0.04, group_by=[]))
    assert small.status_code == 201  # a refusal does not lock the budget
    budget = active.get(f"/v1/agreements/{AID}/budget", headers=people["analyst_fife"]).json()
    assert budget["epsilon_spent"] <= budget["epsilon_budget"] and budget["queries"] == 9
    with sessions() as session:
        assert len(session.scalars(select(QueryRelease)).all()) == 9
    assert [e["decision"] for e in events(sessions, "query.run")].count("deny") == 1


def test_refusals_cost_nothing(active: TestClient, people: dict[str, Any]) -> None:
    cases = [
        (people["officer_fife"], query(), 403, "role"),
        (people["analyst_fife"], query(epsilon=0.6), 422, "query"),  # per-query cap 0.5
        (people["analyst_fife"], query(geography="data_zone"), 422, "query"),  # min geography
        (people["analyst_fife"], query(group_by=["fife-pupils.school"]), 422, "query"),
        (people["analyst_fife"], query(purpose="ATT-OVERSIGHT"), 403, None),
        (people["analyst_fife"], query(mode="sdc"), 422, "query"),
    ]
    for who, body, status, reason in cases:
        response = post(active, who, body)
        assert response.status_code == status, (body, response.text)
        if reason:
            assert response.json()["reason"] == reason
    budget = active.get(f"/v1/agreements/{AID}/budget", headers=people["analyst_fife"]).json()
    assert budget["epsilon_spent"] == 0.0


def test_noise_too_wide_to_release_is_refused_before_any_charge(
    active: TestClient, people: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    """Each was a 500: OpenDP could not calibrate the noise (before the charge), or the noisy count
    overflowed a 64-bit integer after the budget was charged, with nothing released."""
    asks = [
        query(epsilon=5e-324),
        query(epsilon=1e-30, measures=[{"kind": "count"}]),
        query(measures=[{"kind": "sum", "field": "fife-pupils.attendance_pct", "bounds": [-1e308, 1e308]}]),
    ]
    for body in asks:
        response = post(active, people["analyst_fife"], body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["reason"] == "query" and "larger epsilon" in response.json()["detail"]
    budget = active.get(f"/v1/agreements/{AID}/budget", headers=people["analyst_fife"]).json()
    assert budget["epsilon_spent"] == 0.0
    with sessions() as session:
        assert not session.scalars(select(QueryRelease)).all()
    assert [e["decision"] for e in events(sessions, "query.run")] == ["deny"] * len(asks)


def test_malformed_purpose_and_ids_get_422_before_the_audit_log(
    active: TestClient, people: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    """The purpose goes into the audit event: free text (or a NUL, a 503 on PostgreSQL) is refused first."""
    for purpose in ("ATT-PLAN\x00", "X" * 10_000):
        response = post(active, people["analyst_fife"], query(purpose=purpose))
        assert response.status_code == 422, response.text
        assert [e["location"] for e in response.json()["errors"]] == ["body.purpose"]
    unknown = active.get(f"/v1/agreements/{AID}/queries/nope%00", headers=people["analyst_fife"])
    assert unknown.status_code == 422
    assert [e["location"] for e in unknown.json()["errors"]] == ["path.query_id"]
    assert events(sessions, "query.run") == []


def test_queries_need_an_active_agreement(client: TestClient, people: dict[str, Any]) -> None:
    response = post(client, people["analyst_fife"], query())
    assert response.status_code == 403 and response.json()["reason"] == "no_active_agreement"


def test_sdc_agreement_releases_exact_suppressed_tables(client: TestClient, people: dict[str, Any]) -> None:
    sdc = activate(client, people, PLAN.read_text().replace("mode: dp", "mode: sdc"))
    response = post(sdc, people["analyst_fife"], query(epsilon=None, mode="sdc"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mode"] == "sdc" and body["epsilon_spent"] == 0.0 and body["epsilon_remaining"] is None
    assert any("differenced" in w for w in body["warnings"])
    rows = body["rows"]
    councils = len(set(public_geography().frame["council"].to_list()))
    assert len(rows) == 2 * councils + councils + 2 + 1  # interior cells and every margin
    grand = [r for r in rows if r["area"] is None and r["fife-pupils.fsm"] is None]
    assert len(grand) == 1 and grand[0]["margin"] and grand[0]["count"] % 5 == 0
    assert all(r["count"] is None or r["count"] >= 10 for r in rows)
    budget = sdc.get(f"/v1/agreements/{AID}/budget", headers=people["analyst_fife"]).json()
    assert budget["epsilon_spent"] == 0.0
