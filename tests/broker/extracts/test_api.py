"""Submission over HTTP: who may submit, upload limits, receipts, supersession and the catalogue."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from agreements.loader import load_file
from broker import demo
from broker.api.app import create_app
from broker.audit.models import AuditRecord
from broker.database import transaction
from broker.extracts.models import (
    Extract,
    ExtractChunk,
    ExtractIndexBucket,
    LinkageSegment,
    LinkageSnapshot,
    SubjectAlias,
)
from broker.extracts.service import _unpack_state
from broker.keys import service as keys
from broker.settings import Settings
from broker.synth.generator import generate

EXAMPLE = demo.EXAMPLES / "early-intervention-fife.yaml"
AGREEMENT = "isa-fife-early-intervention"
URL = f"/v1/agreements/{AGREEMENT}/datasets/fife-attendance/extracts"


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate("tiny", 11, out)
    return out


@pytest.fixture
def people(client: TestClient, sessions: sessionmaker[Session]) -> dict[tuple[str, str], str]:
    master = client.app.state.secrets.master_key  # type: ignore[attr-defined]
    with transaction(sessions) as session:
        tokens = {(t.agency, t.roles): t.token for t in demo.seed_people(session)}
        demo.seed_agreement(session, master, EXAMPLE)
    return tokens


@pytest.fixture
def extract(
    client: TestClient, sessions: sessionmaker[Session], people: dict, synth_dir: Path, tmp_path: Path
) -> Path:
    master = client.app.state.secrets.master_key  # type: ignore[attr-defined]
    with sessions() as session:
        key = keys.linkage_key(session, AGREEMENT, master_key=master)
    dataset = load_file(EXAMPLE).dataset("fife-attendance")
    return demo.pseudonymise_for(synth_dir, dataset, demo.SYNTH_SOURCES["fife-attendance"], key, tmp_path)


def _post(client: TestClient, token: str, path: Path, url: str = URL, **params: str) -> httpx.Response:
    return client.post(
        url,
        params={"as_of": "2026-11-01", **params},
        content=path.read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
    )


def test_only_the_providers_data_officer_may_submit(
    client: TestClient, people: dict, extract: Path, sessions: sessionmaker[Session]
) -> None:
    other_officer = _post(client, people[("health-nhs-fife", "data_officer")], extract)
    assert other_officer.status_code == 403 and other_officer.json()["reason"] == "agency"
    practitioner = _post(client, people[("edu-fife", "practitioner")], extract)
    assert practitioner.status_code == 403 and practitioner.json()["reason"] == "role"
    unknown = _post(
        client,
        people[("edu-fife", "data_officer")],
        extract,
        url="/v1/agreements/isa-nope/datasets/fife-attendance/extracts",
    )
    assert unknown.status_code == 403 and unknown.json()["reason"] == "no_active_agreement"
    no_dataset = _post(
        client,
        people[("edu-fife", "data_officer")],
        extract,
        url=f"/v1/agreements/{AGREEMENT}/datasets/nope/extracts",
    )
    assert no_dataset.status_code == 403 and no_dataset.json()["reason"] == "dataset"
    with sessions() as session:
        denials = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "extract.submit", AuditRecord.decision == "deny")
        ).all()
        assert session.scalar(select(func.count()).select_from(Extract)) == 0
    assert [d.summary["reason"] for d in denials] == ["agency", "role", "no_active_agreement", "dataset"]


def test_receipt_history_and_supersession(
    client: TestClient, sessions: sessionmaker[Session], people: dict, extract: Path
) -> None:
    officer = people[("edu-fife", "data_officer")]
    first = _post(client, officer, extract)
    assert first.status_code == 201
    smaller = extract.with_name("smaller.csv")
    frame = pl.read_csv(extract, infer_schema=False)
    frame.head(frame.height - 2).write_parquet(smaller.with_suffix(".parquet"))
    second = client.post(
        URL,
        params={"as_of": "2026-11-08"},
        content=smaller.with_suffix(".parquet").read_bytes(),
        headers={"Authorization": f"Bearer {officer}", "Content-Type": "application/vnd.apache.parquet"},
    )
    assert second.status_code == 201, second.text
    body = second.json()
    assert body["status"] == "accepted" and body["supersedes"] == first.json()["extract_id"]
    assert body["rows_accepted"] == frame.height - 2
    with sessions() as session:  # the superseded rows left the linkage space, with their tokens' segment
        assert session.scalar(select(LinkageSnapshot.records)) == frame.height - 2
        assert session.scalars(select(LinkageSegment.extract_id)).all() == [body["extract_id"]]
    history = client.get(URL, headers={"Authorization": f"Bearer {officer}"}).json()
    assert [h["extract_id"] for h in history] == [body["extract_id"], first.json()["extract_id"]]
    one = client.get(f"{URL}/{body['extract_id']}", headers={"Authorization": f"Bearer {officer}"})
    assert one.status_code == 200 and one.json()["as_of"] == "2026-11-08"
    stranger = client.get(
        f"{URL}/{body['extract_id']}",
        headers={"Authorization": f"Bearer {people[('sw-fife', 'data_officer')]}"},
    )
    assert stranger.status_code == 404

    catalogue = client.get(
        "/v1/catalogue", headers={"Authorization": f"Bearer {people[('sw-fife', 'practitioner')]}"}
    )
    entries = {e["dataset"]: e for e in catalogue.json()}
    assert set(entries) == {"fife-attendance", "fife-health-visiting", "fife-homelessness"}
    assert entries["fife-attendance"]["last_as_of"] == "2026-11-08"
    assert (
        entries["fife-attendance"]["rows"] == frame.height - 2 and not entries["fife-attendance"]["overdue"]
    )
    assert entries["fife-health-visiting"]["overdue"] and entries["fife-health-visiting"]["rows"] is None
    outsider = client.get(
        "/v1/catalogue", headers={"Authorization": f"Bearer {people[('edu-highland', 'dpo')]}"}
    )
    assert outsider.json() == []


def _openapi(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'spec.db'}", secrets_dir=tmp_path / "s")
    return create_app(settings).openapi()


def _shape(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, str]:
    """A response schema's fields and their JSON types, through the references /docs follows."""
    schemas = spec["components"]["schemas"]

    def kind(field: dict[str, Any]) -> str:
        if "$ref" in field:
            return "{" + ", ".join(f"{k}: {v}" for k, v in _shape(spec, field).items()) + "}"
        if "anyOf" in field:
            return " | ".join(kind(option) for option in field["anyOf"])
        if field["type"] == "array":
            return f"[{kind(field['items'])}]"
        return str(field.get("format", field["type"]))

    resolved = schemas[schema["$ref"].rsplit("/", 1)[1]]
    assert set(resolved["required"]) == set(resolved["properties"])  # every field is always sent
    return {name: kind(field) for name, field in resolved["properties"].items()}


def test_openapi_names_every_receipt_problem_and_catalogue_field(tmp_path: Path) -> None:
    spec = _openapi(tmp_path)

    def response(path: str, method: str, status: str) -> dict[str, Any]:
        content = spec["paths"][path][method]["responses"][status]["content"]
        return dict(content["application/json"]["schema"])

    receipt = {
        "extract_id": "string",
        "agreement_id": "string",
        "dataset": "string",
        "status": "string",
        "as_of": "date",
        "received_at": "date-time",
        "content_hash": "string",
        "rows_total": "integer",
        "rows_accepted": "integer",
        "rows_rejected": "integer",
        "problems": "[{rule: string, detail: string, row: integer | null, column: string | null}]",
        "supersedes": "string | null",
        "duplicate": "boolean",
    }
    one = "/v1/agreements/{agreement_id}/datasets/{dataset_id}/extracts"
    assert _shape(spec, response(one, "post", "201")) == receipt
    assert _shape(spec, response(f"{one}/{{extract_id}}", "get", "200")) == receipt
    assert _shape(spec, response(one, "get", "200")["items"]) == receipt
    catalogue = response("/v1/catalogue", "get", "200")["items"]
    assert _shape(spec, catalogue) == {
        "agreement_id": "string",
        "agreement_version": "integer",
        "dataset": "string",
        "title": "string | null",
        "provider": "string",
        "refresh": "string",
        "last_as_of": "date | null",
        "received_at": "date-time | null",
        "rows": "integer | null",
        "overdue": "boolean",
    }
    described = spec["components"]["schemas"][catalogue["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {k for k, v in described.items() if v.get("description")} == {"refresh", "rows", "overdue"}


def test_upload_over_the_limit_is_413_and_stores_nothing(
    settings: Settings, engine: object, people: dict, extract: Path, sessions: sessionmaker[Session]
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 2048})
    with TestClient(create_app(small, engine=engine)) as client:  # type: ignore[arg-type]
        response = _post(client, people[("edu-fife", "data_officer")], extract)
        assert response.status_code == 413 and "BROKER_MAX_UPLOAD_BYTES" in response.json()["detail"]
        # authorisation comes before the body is read: a practitioner gets 403, not 413
        refused = _post(client, people[("edu-fife", "practitioner")], extract)
        assert refused.status_code == 403 and refused.json()["reason"] == "role"
        unlabelled = client.post(
            URL,
            params={"as_of": "2026-11-01"},
            content=b"a,b\n1,2\n",
            headers={"Authorization": f"Bearer {people[('edu-fife', 'data_officer')]}"},
        )
        assert unlabelled.status_code == 422
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Extract)) == 0
        assert session.scalar(select(func.count()).select_from(ExtractChunk)) == 0


def test_malformed_ids_and_purpose_get_422_and_store_nothing(
    client: TestClient, people: dict, sessions: sessionmaker[Session]
) -> None:
    """A NUL byte in an id was a 500 on PostgreSQL, and in the purpose (audited) a 503."""
    officer = {"Authorization": f"Bearer {people[('edu-fife', 'data_officer')]}", "Content-Type": "text/csv"}
    with sessions() as session:
        logged = session.scalar(select(func.count()).select_from(AuditRecord))
    asks = {
        "query.purpose": client.post(
            URL, params={"as_of": "2026-11-01", "purpose": "EI\x00"}, headers=officer
        ),
        "path.dataset_id": client.post(
            f"/v1/agreements/{AGREEMENT}/datasets/fife%00attendance/extracts",
            params={"as_of": "2026-11-01"},
            content=b"a,b\n1,2\n",
            headers=officer,
        ),
        "path.extract_id": client.get(f"{URL}/not-a-receipt%00", headers=officer),
    }
    for location, response in asks.items():
        assert response.status_code == 422, response.text
        assert [e["location"] for e in response.json()["errors"]] == [location]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Extract)) == 0
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == logged


def test_failure_while_storing_leaves_nothing_behind(
    client: TestClient,
    people: dict,
    extract: Path,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("broker.extracts.storage.seal_chunks", broken)
    response = _post(client, people[("edu-fife", "data_officer")], extract)
    assert response.status_code == 500 and "disk full" not in response.text
    with sessions() as session:
        for table in (
            Extract,
            ExtractChunk,
            ExtractIndexBucket,
            SubjectAlias,
            LinkageSnapshot,
            LinkageSegment,
        ):
            assert session.scalar(select(func.count()).select_from(table)) == 0, table.__tablename__


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_an_audit_failure_at_commit_fails_the_submission_and_stores_nothing(
    client: TestClient, engine: Engine, people: dict, extract: Path, sessions: sessionmaker[Session]
) -> None:
    """The upload endpoint is async and commits in the session dependency: the append runs there."""
    with engine.begin() as conn:
        conn.execute(text("ALTER FUNCTION audit_append(text) RENAME TO audit_append_gone"))
    try:
        response = _post(client, people[("edu-fife", "data_officer")], extract)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER FUNCTION audit_append_gone(text) RENAME TO audit_append"))
    assert response.status_code == 503, response.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Extract)) == 0
        assert session.scalar(select(func.count()).select_from(ExtractIndexBucket)) == 0


def test_a_state_from_before_segments_moves_its_tokens_into_segments(
    client: TestClient,
    sessions: sessionmaker[Session],
    people: dict,
    extract: Path,
    synth_dir: Path,
    tmp_path: Path,
) -> None:
    """A state row written before segments holds every extract's link tokens inline. It still loads, and
    the next submission stores them as the extract's segment beside its own, linking as before."""
    first = _post(client, people[("edu-fife", "data_officer")], extract)
    assert first.status_code == 201
    with transaction(sessions) as session:  # rewrite the state as the layout before segments had it
        snapshot = session.scalars(select(LinkageSnapshot)).one()
        rows = session.execute(select(LinkageSegment.extract_id, LinkageSegment.tokens))
        state = _unpack_state(snapshot.state, {extract_id: tokens for extract_id, tokens in rows})
        parts = [json.dumps(state.meta).encode()]
        for frame in (state.records, state.tokens, state.aliases):
            buffer = io.BytesIO()
            frame.write_ipc(buffer)
            parts.append(buffer.getvalue())
        snapshot.state = b"".join(struct.pack(">Q", len(part)) + part for part in parts)
        session.execute(delete(LinkageSegment))
    master = client.app.state.secrets.master_key  # type: ignore[attr-defined]
    with sessions() as session:
        key = keys.linkage_key(session, AGREEMENT, master_key=master)
    health = load_file(EXAMPLE).dataset("fife-health-visiting")
    visits = demo.pseudonymise_for(synth_dir, health, demo.SYNTH_SOURCES[health.id], key, tmp_path)
    second = _post(
        client,
        people[("health-nhs-fife", "data_officer")],
        visits,
        url=f"/v1/agreements/{AGREEMENT}/datasets/{health.id}/extracts",
    )
    assert second.status_code == 201 and second.json()["status"] == "accepted", second.text
    with sessions() as session:
        ids = set(session.scalars(select(LinkageSegment.extract_id)))
        assert ids == {first.json()["extract_id"], second.json()["extract_id"]}
        snapshot = session.scalars(select(LinkageSnapshot)).one()
        rows = session.execute(select(LinkageSegment.extract_id, LinkageSegment.tokens))
        now = _unpack_state(snapshot.state, {extract_id: tokens for extract_id, tokens in rows})
    # the first extract's records and tokens are where they were, the second's follow them
    assert now.records.head(state.records.height).drop("subject_id").equals(state.records.drop("subject_id"))
    assert now.tokens.head(state.tokens.height).equals(state.tokens)
    assert now.tokens.height > state.tokens.height


def test_an_as_of_date_in_the_future_is_refused_and_nothing_stored(
    client: TestClient, people: dict, extract: Path, sessions: sessionmaker[Session]
) -> None:
    officer = {"Authorization": f"Bearer {people[('edu-fife', 'data_officer')]}", "Content-Type": "text/csv"}
    response = client.post(URL, params={"as_of": "9999-12-31"}, content=extract.read_bytes(), headers=officer)
    assert response.status_code == 422 and "as_of is in the future" in response.json()["detail"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Extract)) == 0
