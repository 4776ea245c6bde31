"""End to end over HTTP on both databases: synth (tiny) -> pseudonymise -> submit -> lookup.

Also the bad-input outcomes (wrong columns, stale key version, planted NHS number, truncated file),
each leaving nothing half-stored, and the canary check: no identifier or name from the synthetic
input appears in the database, the logs or the receipts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from broker import demo
from broker.database import transaction
from broker.extracts.cli import submit_http
from broker.extracts.models import Extract, ExtractChunk, ExtractIndexBucket, LinkageSegment, LinkageSnapshot
from broker.extracts.service import purge_expired
from broker.keys import service as keys
from broker.synth.generator import generate

EXAMPLE = Path(__file__).resolve().parents[2] / "agreements" / "examples" / "early-intervention-fife.yaml"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC).date()
CANARY_FORENAME = "Zebediahcanary"
CANARY_SURNAME = "Quilliamsonova"


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate("tiny", 11, out)
    return out


def _planted_synth(synth_dir: Path, tmp_path: Path) -> Path:
    """A copy of the synthetic output whose first Fife pupil carries canary names."""
    planted = tmp_path / "synth"
    planted.mkdir()
    for path in synth_dir.iterdir():
        (planted / path.name).write_bytes(path.read_bytes())
    edu = pl.read_csv(planted / "education.csv", infer_schema=False)
    first = edu.with_row_index().filter(pl.col("council_code") == "S12000047")["index"][0]
    edu = edu.with_columns(
        pl.when(pl.int_range(pl.len()) == first)
        .then(pl.lit(CANARY_FORENAME))
        .otherwise(pl.col("forename"))
        .alias("forename"),
        pl.when(pl.int_range(pl.len()) == first)
        .then(pl.lit(CANARY_SURNAME))
        .otherwise(pl.col("surname"))
        .alias("surname"),
    )
    edu.write_csv(planted / "education.csv")
    return planted


class Flow:
    """Agencies, people, the active agreement and its keys; helpers to pseudonymise and submit."""

    def __init__(
        self, client: TestClient, sessions: sessionmaker[Session], tmp_path: Path, synth: Path
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.synth = synth
        self.out = tmp_path / "out"
        self.out.mkdir()
        self.master = client.app.state.secrets.master_key  # type: ignore[attr-defined]
        with transaction(sessions) as session:
            self.tokens = {(t.agency, t.roles): t.token for t in demo.seed_people(session)}
            self.agreement = demo.seed_agreement(session, self.master, EXAMPLE)

    def token(self, agency: str, role: str) -> str:
        return self.tokens[(agency, role)]

    def extract(self, dataset_id: str, key_version: int | None = None, name: str | None = None) -> Path:
        dataset = self.agreement.dataset(dataset_id)
        with self.sessions() as session:
            key = keys.linkage_key(session, self.agreement.id, key_version, master_key=self.master)
        out = self.out / (name or "")
        out.mkdir(exist_ok=True)
        return demo.pseudonymise_for(self.synth, dataset, demo.SYNTH_SOURCES[dataset_id], key, out)

    def submit(self, dataset_id: str, path: Path) -> tuple[int, dict]:
        provider = self.agreement.dataset(dataset_id).provider
        return submit_http(
            self.client, self.token(provider, "data_officer"), self.agreement.id, dataset_id, path, AS_OF
        )

    def lookup(
        self,
        token: str,
        identifiers: dict[str, str],
        purpose: str = "EI-SUPPORT",
        case_reference: str | None = "CASE-0001",
    ) -> tuple[int, dict]:
        response = self.client.post(
            f"/v1/agreements/{self.agreement.id}/records/lookup",
            json={"purpose": purpose, "case_reference": case_reference, "identifiers": identifiers},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code, response.json()

    def counts(self) -> tuple[int, ...]:
        with self.sessions() as session:
            return tuple(
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (ExtractChunk, ExtractIndexBucket)
            )


@pytest.fixture
def flow(client: TestClient, sessions: sessionmaker[Session], tmp_path: Path, synth_dir: Path) -> Flow:
    return Flow(client, sessions, tmp_path, _planted_synth(synth_dir, tmp_path))


def _child_in_both(synth: Path) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """A Fife child with exactly one attendance row and one health-visiting row, per the truth table."""
    truth = pl.read_csv(synth / "truth.csv", infer_schema=False)
    edu = pl.read_csv(synth / "education.csv", infer_schema=False).filter(
        pl.col("council_code") == "S12000047"
    )
    hv = pl.read_csv(synth / "health_visiting.csv", infer_schema=False).filter(
        pl.col("council_code") == "S12000047"
    )
    children = pl.read_csv(synth / "children.csv", infer_schema=False)
    edu_t = edu.join(truth, on="record_id").filter(pl.col("error_tags").is_null())
    hv_t = hv.join(truth, on="record_id").filter(pl.col("error_tags").is_null())
    once = lambda f: f.group_by("child_id").len().filter(pl.col("len") == 1)["child_id"]  # noqa: E731
    both = set(once(edu_t)) & set(once(hv_t)) & set(once(edu.join(truth, on="record_id")))
    child_id = sorted(both)[0]
    child = children.filter(pl.col("child_id") == child_id).row(0, named=True)
    return (
        child,
        edu_t.filter(pl.col("child_id") == child_id).row(0, named=True),
        hv_t.filter(pl.col("child_id") == child_id).row(0, named=True),
    )


def test_flow_lookup_returns_permitted_fields_of_the_right_child(
    flow: Flow, make_principal: Callable[..., str]
) -> None:
    for dataset in ("fife-attendance", "fife-health-visiting"):
        status, receipt = flow.submit(dataset, flow.extract(dataset))
        assert status == 201, receipt
        assert receipt["status"] == "accepted" and receipt["rows_accepted"] > 0, receipt

    child, edu_row, hv_row = _child_in_both(flow.synth)
    identifiers = {k: child[k] for k in ("chi", "scn", "forename", "surname", "dob", "sex") if child[k]}
    status, record = flow.lookup(flow.token("sw-fife", "practitioner"), identifiers)
    assert status == 200, record
    by_dataset = {r["dataset"]: r for r in record["records"]}
    assert set(by_dataset) >= {"fife-attendance", "fife-health-visiting"}
    attendance = by_dataset["fife-attendance"]
    # P6 grants exactly these fields of the attendance dataset, and nothing else
    assert set(attendance["fields"]) == {"school", "stage", "attendance_pct", "asn", "fsm"}
    assert attendance["fields"]["school"] == edu_row["school"]
    assert attendance["fields"]["stage"] == edu_row["stage"]
    assert attendance["fields"]["attendance_pct"] == pytest.approx(float(edu_row["attendance_pct"]))
    assert attendance["provider"] == "edu-fife" and attendance["as_of"] == AS_OF.isoformat()
    health = by_dataset["fife-health-visiting"]
    assert set(health["fields"]) == {"review_stage", "developmental_concern"}
    assert health["fields"]["developmental_concern"] == (hv_row["developmental_concern"] == "Y")
    assert health["provider"] == "health-nhs-fife"

    # a health visitor sees the attendance fields P5 grants, not the school
    status, as_hv = flow.lookup(flow.token("health-nhs-fife", "practitioner"), identifiers)
    assert status == 200, as_hv
    assert {r["dataset"]: set(r["fields"]) for r in as_hv["records"]}["fife-attendance"] == {
        "stage",
        "attendance_pct",
        "asn",
    }
    assert as_hv["subject"] == record["subject"]

    # a housing practitioner: housing is a party, but no permission lets its practitioners look up
    housing_worker = make_principal("housing-fife", "practitioner")
    status, denied = flow.lookup(housing_worker, identifiers)
    assert status == 403 and denied["reason"] == "role", denied
    assert child["surname"] not in json.dumps(denied)


def test_bad_extracts_get_clear_outcomes_with_nothing_half_stored(flow: Flow, tmp_path: Path) -> None:
    good = flow.extract("fife-attendance")
    status, first = flow.submit("fife-attendance", good)
    assert status == 201 and first["status"] == "accepted"
    before = flow.counts()

    wrong = tmp_path / "wrong.csv"
    pl.read_csv(good, infer_schema=False).drop("stage").write_csv(wrong)
    status, receipt = flow.submit("fife-attendance", wrong)
    assert status == 201 and receipt["status"] == "rejected"
    assert [(p["rule"], p["column"]) for p in receipt["problems"]] == [("columns", "stage")]

    with transaction(flow.sessions) as session:
        keys.rotate(session, flow.agreement.id, actor=None, master_key=flow.master)
    stale = flow.extract("fife-attendance", key_version=1, name="stale")
    old = pl.read_csv(stale, infer_schema=False)
    old.head(old.height - 1).write_csv(stale)  # new content under the old key (same content is a duplicate)
    status, receipt = flow.submit("fife-attendance", stale)
    assert status == 201 and not receipt["duplicate"]
    assert receipt["status"] == "rejected" and [p["rule"] for p in receipt["problems"]] == ["key_version"]

    fresh = flow.extract("fife-attendance", name="fresh")
    planted = tmp_path / "planted.csv"
    frame = pl.read_csv(fresh, infer_schema=False)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("GP letter quotes NHS no 943 476 5919"))
        .otherwise(pl.col("pastoral_note"))
        .alias("pastoral_note")
    ).write_csv(planted)
    status, receipt = flow.submit("fife-attendance", planted)
    assert receipt["status"] == "quarantined"
    assert {(p["rule"], p["row"], p["column"]) for p in receipt["problems"]} == {
        ("residual_pii", 5, "pastoral_note")
    }
    # the planted number in neither form (not just "943": the receipt's random extract id may hold that)
    assert "943 476 5919" not in json.dumps(receipt) and "9434765919" not in json.dumps(receipt)

    truncated = tmp_path / "truncated.csv"
    data = fresh.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    status, receipt = flow.submit("fife-attendance", truncated)
    assert receipt["status"] == "rejected" and [p["rule"] for p in receipt["problems"]] == ["unreadable"]

    assert flow.counts() == before
    with flow.sessions() as session:
        current = session.scalars(
            select(Extract).where(Extract.superseded_by.is_(None), Extract.status == "accepted")
        )
        assert [e.id for e in current] == [first["extract_id"]]

    # the same good content again is a duplicate: the first receipt, nothing new stored
    status, again = flow.submit("fife-attendance", good)
    assert status == 200 and again["duplicate"] and again["extract_id"] == first["extract_id"]
    assert flow.counts() == before


def _database_text(engine: Engine, db_url: str) -> bytes:
    """Every byte the database holds for us: the SQLite files, or every row of every PostgreSQL table."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    meta = MetaData()
    meta.reflect(engine)
    chunks = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                chunks.append(repr(tuple(row)).encode())
    return b"\n".join(chunks)


def test_canary_no_identifier_or_name_in_database_logs_or_receipts(
    flow: Flow, engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receipts = []
    for dataset in ("fife-attendance", "fife-health-visiting"):
        receipts.append(flow.submit(dataset, flow.extract(dataset))[1])
    raw = pl.read_csv(flow.synth / "education.csv", infer_schema=False)
    canary = raw.filter(pl.col("forename") == CANARY_FORENAME).row(0, named=True)
    probe = {k: canary[k] for k in ("scn", "forename", "surname", "dob", "sex") if canary[k]}
    lookups = [flow.lookup(flow.token("sw-fife", "practitioner"), probe)]
    assert lookups[0][0] == 200, lookups[0]
    lookups.append(flow.lookup(flow.token("sw-fife", "practitioner"), probe, case_reference=None))
    assert lookups[1][0] == 403

    children = pl.read_csv(flow.synth / "children.csv", infer_schema=False)
    secrets: set[str] = {CANARY_FORENAME, CANARY_SURNAME}
    for column in ("chi", "scn"):
        secrets |= {v for v in children[column].drop_nulls().to_list() if len(v) >= 9}
    secrets |= {v for v in children["surname"].to_list() if len(v) >= 7}
    stored = _database_text(engine, db_url)
    logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    answers = json.dumps(receipts) + json.dumps(lookups)
    for secret in sorted(secrets):
        assert secret.encode() not in stored, "an identifier or name reached the database"
        assert secret not in logs, "an identifier or name reached the logs"
        assert secret not in answers, "an identifier or name reached a receipt or answer"


def test_purge_shreds_expired_extracts(flow: Flow) -> None:
    _, receipt = flow.submit("fife-attendance", flow.extract("fife-attendance"))
    assert receipt["status"] == "accepted"
    with transaction(flow.sessions) as session:  # retention of fife-attendance is P2Y
        assert (
            purge_expired(
                session, flow.master, at=datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
            ).extracts
            == 0
        )
        report = purge_expired(
            session, flow.master, at=datetime.now(UTC).replace(year=datetime.now(UTC).year + 3)
        )
    assert report.extracts == 1 and report.index_rows > 0
    with flow.sessions() as session:
        extract = session.get(Extract, receipt["extract_id"])
        assert extract is not None and extract.wrapped_key is None and extract.shredded_at is not None
        assert session.scalar(select(func.count()).select_from(ExtractIndexBucket)) == 0
        # the shredded rows left the linkage space too: nothing of theirs links any more
        assert session.scalar(select(LinkageSnapshot.records)) == 0
        assert session.scalar(select(func.count()).select_from(LinkageSegment)) == 0
