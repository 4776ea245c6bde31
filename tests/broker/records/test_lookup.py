"""The linked-record lookup's constraints, probes and outcomes, over HTTP on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agreements.model import Agreement
from agreements.validation import check
from broker import demo
from broker.agencies.models import Role
from broker.agreements.service import seed_active_agreement
from broker.api.app import create_app
from broker.audit.models import AuditRecord
from broker.database import transaction
from broker.extracts import frames
from broker.extracts.cli import submit_http
from broker.extracts.models import SubjectAlias
from broker.keys import service as keys
from broker.records.models import LookupRequest
from broker.settings import Settings
from broker.synth.generator import generate
from pseudonymise.checkdigits import scn_check_digit
from pseudonymise.matchkeys import KeyType, compute_keys
from pseudonymise.tokens import Tokeniser

EXAMPLE = demo.EXAMPLES / "early-intervention-fife.yaml"
FIFE = "S12000047"


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate("tiny", 11, out)
    return out


def _document(**changes: Any) -> dict[str, Any]:
    document = yaml.safe_load(EXAMPLE.read_text())
    document.update(changes)
    return document


class Broker:
    """One agreement, its people and keys, with the attendance extract submitted."""

    def __init__(
        self, client: TestClient, sessions: sessionmaker[Session], agreement: Agreement, out: Path
    ) -> None:
        self.client, self.sessions, self.agreement, self.out = client, sessions, agreement, out
        self.master: bytes = client.app.state.secrets.master_key  # type: ignore[attr-defined]
        with transaction(sessions) as session:
            self.tokens = {(t.agency, t.roles): t.token for t in demo.seed_people(session)}
            seed_active_agreement(session, agreement)
            keys.create(session, agreement.id, actor=None, master_key=self.master)

    def submit(self, synth: Path, dataset_id: str, source: demo.SynthSource, token: str) -> dict[str, Any]:
        dataset = self.agreement.dataset(dataset_id)
        with self.sessions() as session:
            key = keys.linkage_key(session, self.agreement.id, master_key=self.master)
        path = demo.pseudonymise_for(synth, dataset, source, key, self.out)
        status, receipt = submit_http(
            self.client, token, self.agreement.id, dataset_id, path, demo.DEMO_AS_OF
        )
        assert status == 201 and receipt["status"] == "accepted", receipt
        return receipt

    def lookup(self, token: str, **body: Any) -> Any:
        body.setdefault("purpose", "EI-SUPPORT")
        return self.client.post(
            f"/v1/agreements/{self.agreement.id}/records/lookup",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )


def _pupil(synth: Path, council: str = FIFE) -> dict[str, str]:
    children = pl.read_csv(synth / "children.csv", infer_schema=False)
    edu = pl.read_csv(synth / "education.csv", infer_schema=False).filter(pl.col("council_code") == council)
    truth = pl.read_csv(synth / "truth.csv", infer_schema=False).filter(pl.col("error_tags").is_null())
    child_id = sorted(edu.join(truth, on="record_id")["child_id"].to_list())[0]
    row = children.filter(pl.col("child_id") == child_id).row(0, named=True)
    return {k: row[k] for k in ("scn", "forename", "surname", "dob", "sex") if row[k]}


@pytest.fixture
def daily_limit() -> int:
    return 30


@pytest.fixture
def fife(
    client: TestClient, sessions: sessionmaker[Session], tmp_path: Path, synth_dir: Path, daily_limit: int
) -> Broker:
    """The example agreement (the social worker's daily limit from ``daily_limit``), attendance submitted."""
    document = _document()
    for permission in document["permissions"]:
        if permission["id"] == "P6":
            permission["constraints"]["max_requests_per_day"] = daily_limit
    broker = Broker(client, sessions, Agreement.model_validate(document), tmp_path)
    broker.submit(
        synth_dir,
        "fife-attendance",
        demo.SYNTH_SOURCES["fife-attendance"],
        broker.tokens[("edu-fife", "data_officer")],
    )
    return broker


def test_openapi_names_every_linked_record_field(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'spec.db'}", secrets_dir=tmp_path / "s")
    spec = create_app(settings).openapi()
    schemas = spec["components"]["schemas"]
    ok = spec["paths"]["/v1/agreements/{agreement_id}/records/lookup"]["post"]["responses"]["200"]
    linked = schemas[ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    records = linked["properties"]["records"]
    assert records["type"] == "array"
    per_dataset = schemas[records["items"]["$ref"].rsplit("/", 1)[1]]
    assert linked["required"] == ["subject", "agreement_id", "agreement_version", "records"]
    assert {k: v.get("type") for k, v in linked["properties"].items()} == {
        "subject": "string",
        "agreement_id": "string",
        "agreement_version": "integer",
        "records": "array",
    }
    assert linked["properties"]["subject"]["description"] == "The child's pseudonym within this agreement."
    fields = {k: v.get("format", v["type"]) for k, v in per_dataset["properties"].items()}
    assert fields == {
        "dataset": "string",
        "provider": "string",
        "as_of": "date",
        "received_at": "date-time",
        "extract_id": "string",
        "fields": "object",
    }
    assert per_dataset["required"] == list(fields)


def test_invalid_lookup_says_where_never_what_was_sent(
    client: TestClient, make_principal: Callable[..., str], bearer: Callable[[str], dict[str, str]]
) -> None:
    """Pydantic's error locations name unknown fields and mapping keys, which are whatever the sender
    typed (here an identifier): they were echoed in the 422. A NUL in the case reference (audited) was a
    503 on PostgreSQL."""
    canary = "Jane Smith 0101011234"
    response = client.post(
        "/v1/agreements/isa-fife-early-intervention/records/lookup",
        headers=bearer(make_principal("sw-fife", Role.practitioner)),
        json={
            "purpose": "EI-SUPPORT",
            "case_reference": "C-1\x00",
            "identifiers": {canary: "x"},
            "tokens": {canary: "x" * 200},
        },
    )
    assert response.status_code == 422, response.text
    assert {e["location"] for e in response.json()["errors"]} == {
        "body.case_reference",
        "body.identifiers.*",
        "body.tokens.*.[key]",
        "body.tokens.*",
    }
    assert canary not in response.text and "Jane" not in response.text


@pytest.mark.parametrize("daily_limit", [2])
def test_case_reference_required_and_daily_limit(
    fife: Broker, synth_dir: Path, sessions: sessionmaker
) -> None:
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    missing = fife.lookup(worker, identifiers=pupil)
    assert missing.status_code == 403 and missing.json()["reason"] == "case_reference_required"
    for _ in range(2):
        assert fife.lookup(worker, identifiers=pupil, case_reference="C-1").status_code == 200
    limited = fife.lookup(worker, identifiers=pupil, case_reference="C-1")
    assert limited.status_code == 429 and limited.json()["reason"] == "max_requests_per_day"
    with sessions() as session:
        decisions = [
            (e.decision, e.summary.get("reason"))
            for e in session.scalars(select(AuditRecord).where(AuditRecord.action == "record.lookup"))
        ]
    assert decisions == [
        ("deny", "case_reference_required"),
        ("allow", None),
        ("allow", None),
        ("deny", "max_requests_per_day"),
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite runs one writer at a time
@pytest.mark.parametrize("daily_limit", [4])
def test_daily_limit_holds_under_concurrent_lookups(
    fife: Broker, synth_dir: Path, sessions: sessionmaker
) -> None:
    """Lookups by one person released at once: exactly the limit are allowed, counted and audited."""
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    racers = 12
    start = threading.Barrier(racers)

    def race(_: int) -> int:
        start.wait()
        return int(fife.lookup(worker, identifiers=pupil, case_reference="C-1").status_code)

    with ThreadPoolExecutor(racers) as pool:
        codes = sorted(pool.map(race, range(racers)))
    assert codes == [200] * 4 + [429] * (racers - 4)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(LookupRequest)) == 4
        events = session.scalars(select(AuditRecord).where(AuditRecord.action == "record.lookup"))
        decisions = sorted(e.decision for e in events)
    assert decisions == ["allow"] * 4 + ["deny"] * (racers - 4)


def test_a_new_agreement_version_governs_the_next_lookup(
    fife: Broker, synth_dir: Path, sessions: sessionmaker
) -> None:
    """What the policy granted is reused only while the same policy is live."""
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    before = fife.lookup(worker, identifiers=pupil, case_reference="C-5").json()
    assert set(before["records"][0]["fields"]) == {"school", "stage", "attendance_pct", "asn", "fsm"}
    document = _document(version=2)
    for permission in document["permissions"]:
        if permission["id"] == "P6":
            permission["fields"]["fife-attendance"] = ["stage"]
    with transaction(sessions) as session:
        seed_active_agreement(session, Agreement.model_validate(document))
    after = fife.lookup(worker, identifiers=pupil, case_reference="C-5").json()
    assert after["agreement_version"] == 2
    stages = [{"stage": r["fields"]["stage"]} for r in before["records"]]
    assert [r["fields"] for r in after["records"]] == stages


def test_wrong_purpose_is_denied_with_the_reason(fife: Broker, synth_dir: Path) -> None:
    response = fife.lookup(
        fife.tokens[("sw-fife", "practitioner")],
        identifiers=_pupil(synth_dir),
        purpose="EI-PLAN",
        case_reference="C-1",
    )
    assert response.status_code == 403 and response.json()["reason"] == "purpose"


def test_stage1_token_probe_and_unknown_child(fife: Broker, synth_dir: Path) -> None:
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    with fife.sessions() as session:
        key = keys.linkage_key(session, fife.agreement.id, master_key=fife.master)
    normalised = compute_keys(pupil, [KeyType.SCN]).keys[KeyType.SCN]
    token = str(Tokeniser(key).tokenise(KeyType.SCN, normalised))
    by_token = fife.lookup(worker, tokens={"token_scn": token}, case_reference="C-2")
    by_identifiers = fife.lookup(worker, identifiers=pupil, case_reference="C-2")
    assert by_token.status_code == 200 and by_token.json() == by_identifiers.json()

    stale = token.replace(".v1.", ".v2.")
    refused = fife.lookup(worker, tokens={"token_scn": stale}, case_reference="C-2")
    assert refused.status_code == 422 and stale not in refused.text

    scn = "12345678" + str(scn_check_digit("12345678"))
    nobody = {"forename": "Nobody", "surname": "Atall", "dob": "2016-02-29", "sex": "F", "scn": scn}
    missing = fife.lookup(worker, identifiers=nobody, case_reference="C-3")
    assert missing.status_code == 404
    assert "Atall" not in missing.text and scn not in missing.text
    invalid = fife.lookup(
        worker, identifiers=nobody | {"scn": scn[:-1] + str((int(scn[-1]) + 1) % 10)}, case_reference="C-3"
    )
    assert invalid.status_code == 422 and invalid.json()["fields"] == ["scn"]


def _mover(synth: Path) -> tuple[str, str, dict[str, str]]:
    """A child whose school records sit in two councils with the same SCN, and those councils."""
    edu = pl.read_csv(synth / "education.csv", infer_schema=False)
    truth = pl.read_csv(synth / "truth.csv", infer_schema=False)
    moves = (
        edu.join(truth, on="record_id")
        .group_by("child_id")
        .agg(pl.col("council_code").unique().sort(), pl.col("scn").n_unique().alias("scns"))
        .filter((pl.col("council_code").list.len() == 2) & (pl.col("scns") == 1))
        .sort("child_id")
    )
    child_id, councils, _ = moves.row(0)
    children = pl.read_csv(synth / "children.csv", infer_schema=False)
    row = children.filter(pl.col("child_id") == child_id).row(0, named=True)
    return (
        councils[0],
        councils[1],
        {k: row[k] for k in ("scn", "forename", "surname", "dob", "sex") if row[k]},
    )


def test_mover_between_councils_is_one_child(
    client: TestClient, sessions: sessionmaker[Session], tmp_path: Path, synth_dir: Path
) -> None:
    council_a, council_b, mover = _mover(synth_dir)
    document = _document()
    attendance = next(d for d in document["datasets"] if d["id"] == "fife-attendance")
    document["datasets"] = [
        attendance | {"id": "pupils-a", "provider": "edu-fife"},
        attendance | {"id": "pupils-b", "provider": "edu-highland"},
    ]
    document["parties"] = [p for p in document["parties"] if p["id"] == "edu-fife"] + [
        {
            "id": "edu-highland",
            "name": "Highland education",
            "role": "controller",
            "dpo": {"name": "DPO", "email": "dpo@highland.example"},
        }
    ]
    document["lawful_bases"]["art9"] = []
    document["permissions"] = [
        {
            "id": "P1",
            "role": "data_officer",
            "agency": "edu-fife",
            "action": "submit_extract",
            "datasets": ["pupils-a"],
            "purpose": "EI-SUPPORT",
        },
        {
            "id": "P2",
            "role": "data_officer",
            "agency": "edu-highland",
            "action": "submit_extract",
            "datasets": ["pupils-b"],
            "purpose": "EI-SUPPORT",
        },
        {
            "id": "P3",
            "role": "practitioner",
            "agency": "edu-fife",
            "action": "linked_record_request",
            "datasets": ["pupils-a", "pupils-b"],
            "fields": {"pupils-a": ["stage"], "pupils-b": ["stage"]},
            "purpose": "EI-SUPPORT",
            "constraints": {"case_reference_required": True},
        },
    ]
    document["prohibitions"] = []
    document["approvals"] = {"required": ["edu-fife", "edu-highland"]}
    agreement = Agreement.model_validate(document)
    assert check(agreement) == []
    broker = Broker(client, sessions, agreement, tmp_path)
    broker.submit(
        synth_dir,
        "pupils-a",
        demo.SynthSource("education.csv", council_a),
        broker.tokens[("edu-fife", "data_officer")],
    )
    broker.submit(
        synth_dir,
        "pupils-b",
        demo.SynthSource("education.csv", council_b),
        broker.tokens[("edu-highland", "data_officer")],
    )
    response = broker.lookup(
        broker.tokens[("edu-fife", "practitioner")], identifiers=mover, case_reference="C-9"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(r["dataset"] for r in body["records"]) == ["pupils-a", "pupils-b"]
    assert all(set(r["fields"]) == {"stage"} for r in body["records"])


def _subject_report(fife: Broker, token: str, **body: Any) -> Any:
    body.setdefault("agreement_id", fife.agreement.id)
    body.setdefault("purpose", "EI-OVERSIGHT")
    return fife.client.post(
        "/v1/audit/subject-report", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def test_subject_report_lists_every_access_to_that_child_only(fife: Broker, synth_dir: Path) -> None:
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    assert fife.lookup(worker, identifiers=pupil, case_reference="CASE-A").status_code == 200
    # refused before any record is touched, so nothing about the child was accessed or resolved
    assert fife.lookup(worker, identifiers=pupil).status_code == 403
    assert fife.lookup(worker, identifiers=pupil, case_reference="CASE-B").status_code == 200
    other = _pupil(synth_dir) | {"scn": "", "forename": "Someone", "surname": "Else"}
    fife.lookup(worker, identifiers={k: v for k, v in other.items() if v}, case_reference="CASE-C")
    dpo = fife.tokens[("edu-fife", "dpo")]
    report = _subject_report(fife, dpo, identifiers=pupil)
    assert report.status_code == 200, report.text
    body = report.json()
    subject = body["subjects"][0]
    lookups = [e for e in body["events"] if e["action"] == "record.lookup"]
    assert [(e["decision"], e["case_reference"]) for e in lookups] == [
        ("allow", "CASE-A"),
        ("allow", "CASE-B"),
    ]
    assert all(subject in e["subjects"] for e in body["events"])
    text = report.text
    for value in pupil.values():
        assert value not in text  # the report names pseudonyms, never the identifiers it was asked with


def test_subject_report_needs_the_audit_read_permission(fife: Broker, synth_dir: Path) -> None:
    pupil = _pupil(synth_dir)
    highland_dpo = fife.tokens[("edu-highland", "dpo")]
    refused = _subject_report(fife, highland_dpo, identifiers=pupil)
    assert refused.status_code == 403
    worker = fife.tokens[("sw-fife", "practitioner")]
    assert _subject_report(fife, worker, identifiers=pupil).status_code == 403
    wrong_purpose = _subject_report(
        fife, fife.tokens[("edu-fife", "dpo")], identifiers=pupil, purpose="EI-PLAN"
    )
    assert wrong_purpose.status_code == 403


def test_names_alone_do_not_single_out_a_child(fife: Broker, synth_dir: Path) -> None:
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    names = {k: pupil[k] for k in ("forename", "surname")}
    assert fife.lookup(worker, identifiers=names, case_reference="C-9").status_code == 404
    with_dob = names | {"dob": pupil["dob"]}
    found = fife.lookup(worker, identifiers=with_dob, case_reference="C-9")
    assert found.status_code == 200, found.text
    by_scn = fife.lookup(worker, identifiers={"scn": pupil["scn"]}, case_reference="C-9").json()
    assert found.json()["subject"] == by_scn["subject"]


def test_a_merged_subject_is_found_by_its_survivor(
    fife: Broker, synth_dir: Path, sessions: sessionmaker
) -> None:
    """A later merge retires the id the index blobs hold: lookups resolve it through the alias table."""
    worker = fife.tokens[("sw-fife", "practitioner")]
    pupil = _pupil(synth_dir)
    before = fife.lookup(worker, identifiers=pupil, case_reference="C-4").json()
    survivor = "s_" + "ab" * 12
    with transaction(sessions) as session:
        session.add(SubjectAlias(agreement_id=fife.agreement.id, alias=before["subject"], subject=survivor))
    after = fife.lookup(worker, identifiers=pupil, case_reference="C-4").json()
    assert after["subject"] == survivor
    assert after["records"] == before["records"] and after["records"]
    with sessions() as session:
        linked = frames.linked_frame(
            session, fife.agreement.id, ["fife-attendance"], datetime.now(UTC), master_key=fife.master
        )
    assert survivor in linked["subject"].to_list() and before["subject"] not in linked["subject"].to_list()
