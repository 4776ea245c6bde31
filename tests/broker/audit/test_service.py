"""Appending, checkpoints, proofs and verification through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit.bundle import verify_bundle
from audit.checkpoint import open_checkpoint
from audit.event import AuditEvent, Decision
from audit.merkle import verify_consistency, verify_inclusion
from audit.note import NoteSigner
from broker.agencies.models import Agency
from broker.audit import service
from broker.audit.models import AuditRecord
from broker.database import make_engine, session_factory, transaction, upgrade

KEY = NoteSigner.generate(service.ORIGIN)
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _event(i: int, **overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "action": "records.lookup" if i % 2 else "queries.run",
        "decision": Decision.allow if i % 3 else Decision.deny,
        "actor": str(i % 4),
        "agency": ["edu-fife", "nhs-fife", "sw-fife"][i % 3],
        "role": "practitioner",
        "agreement_id": f"agr-{i % 2}",
        "agreement_version": 1,
        "subjects": (f"tok{i % 5}",),
        "result": {"rows": i},
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def _fill(sessions: sessionmaker[Session], n: int, start: int = 0) -> list[int]:
    """Append events ``start``..``n - 1`` in one transaction; their sequence numbers, read back."""
    with transaction(sessions) as session:
        for i in range(start, n):
            service.record(session, _event(i), at=T0 + timedelta(minutes=i))
    with sessions() as session:
        return list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)))[-(n - start) :]


def test_appends_number_from_zero_and_store_hash_and_size(sessions: sessionmaker[Session]) -> None:
    assert _fill(sessions, 5) == [0, 1, 2, 3, 4]
    with sessions() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.tree_size for r in rows] == [1, 2, 3, 4, 5]
        assert all(bytes(r.leaf_hash) == service.leaf_hash(service.rebuild_leaf(r)) for r in rows)
        assert rows[1].summary["subjects"] == ["tok1"] and rows[1].agency == "nhs-fife"
        assert rows[1].at.replace(tzinfo=rows[1].at.tzinfo or UTC) == T0 + timedelta(minutes=1)


def test_checkpoint_proofs_and_verify(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 7)
    with transaction(sessions) as session:
        first = service.create_checkpoint(session, KEY)
        assert service.create_checkpoint(session, KEY).size == first.size == 7  # nothing new: same one
    _fill(sessions, 12, start=7)
    with transaction(sessions) as session:
        second = service.create_checkpoint(session, KEY)
        opened = open_checkpoint(second.note, [KEY.verifier()], service.ORIGIN)
        assert opened.size == 12 and opened.root == bytes(second.root)
        proof = service.inclusion_proof(session, 3, second)
        verify_inclusion(3, 12, proof.leaf_hash, proof.proof, opened.root)
        verify_consistency(
            7, 12, bytes(first.root), opened.root, service.consistency_proof(session, 7, second)
        )
        report = service.verify(session, [KEY.verifier()])
    assert report.ok and report.entries == 12 and report.checkpoints == 2 and report.unanchored == 0


def test_verify_refuses_checkpoints_signed_by_another_key(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 3)
    with transaction(sessions) as session:
        service.create_checkpoint(session, KEY)
        report = service.verify(session, [NoteSigner.generate(service.ORIGIN).verifier()])
    assert not report.ok and "signature" in (report.reason or "")


def test_proof_for_an_unsigned_event_signs_a_new_checkpoint(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 4)
    with transaction(sessions) as session:
        service.create_checkpoint(session, KEY)
    _fill(sessions, 6, start=4)
    with transaction(sessions) as session:
        proof = service.inclusion_proof(session, 5, service.checkpoint_covering(session, 6, KEY))
        assert proof.checkpoint.size == 6
        verify_inclusion(5, 6, proof.leaf_hash, proof.proof, bytes(proof.checkpoint.root))


def test_search_filters_and_scope(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 12)
    with sessions() as session:

        def seqs(flt: service.EventFilter, scope: service.Scope = service.BROKER_WIDE) -> list[int]:
            return [r.seq for r in service.search(session, flt, scope, limit=100)]

        assert seqs(service.EventFilter(subject="tok2")) == [2, 7]
        assert seqs(service.EventFilter(decision=Decision.deny)) == [0, 3, 6, 9]
        assert seqs(service.EventFilter(), service.Scope(agency="nhs-fife")) == [1, 4, 7, 10]
        assert seqs(service.EventFilter(agency="edu-fife"), service.Scope(agreement_id="agr-1")) == [3, 9]
        window = service.EventFilter(
            since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5), after=3
        )
        assert seqs(window) == [4]
        assert seqs(service.EventFilter(subject="tok%")) == []
        assert seqs(service.EventFilter(after=8), service.Scope(agency="nhs-fife")) == [10]
        assert seqs(service.EventFilter(subject='tok2"')) == []  # a quote cannot widen the match


def test_subject_search_uses_the_index_on_postgresql(pg_url: str) -> None:
    """The subject filter is an index lookup there (the SQLite demo matches the JSON text instead)."""
    engine = make_engine(pg_url)
    upgrade(engine)
    sessions = session_factory(engine)
    _fill(sessions, 12)
    flt = service.EventFilter(subject="tok2")
    query = select(AuditRecord.seq).where(*service.conditions(flt, service.BROKER_WIDE, "postgresql"))
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with sessions() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))  # 12 rows would be scanned anyway
        plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
        assert "ix_audit_events_subjects" in plan
        assert [r.seq for r in service.search(session, flt, service.BROKER_WIDE, limit=10)] == [2, 7]
    engine.dispose()


def test_export_bundle_verifies_outside_the_broker(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 9)
    with transaction(sessions) as session:
        lines = list(service.export_lines(session, KEY, service.EventFilter(agreement_id="agr-1")))
    head = json.loads(lines[0])
    assert head["type"] == "checkpoint" and head["size"] == 9
    report = verify_bundle(lines, [KEY.verifier()], service.ORIGIN)
    assert report.ok and report.events == 4
    forged = json.loads(lines[2])
    forged["body"] = forged["body"].replace('"rows":3', '"rows":4')
    report = verify_bundle([*lines[:2], json.dumps(forged), *lines[3:]], [KEY.verifier()], service.ORIGIN)
    assert not report.ok and report.bad_seqs == (forged["seq"],)


def test_a_failed_append_fails_the_caller(sessions: sessionmaker[Session]) -> None:
    _fill(sessions, 1)
    with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION READ ONLY"))
        else:
            session.execute(text("PRAGMA query_only = ON"))
        with pytest.raises(service.AuditUnavailable):  # at once on SQLite, at commit on PostgreSQL
            service.record(session, _event(1))
            session.commit()
        session.rollback()
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA query_only = OFF"))
    with sessions() as session:
        assert session.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1)) == 0


def test_the_callers_own_failure_at_commit_is_not_reported_as_the_audit_log(
    sessions: sessionmaker[Session],
) -> None:
    """The commit hook flushes the caller's changes before appending, but their errors stay theirs."""
    with transaction(sessions) as session:
        session.add(Agency(id="edu-fife", name="Fife education", kind="school", created_at=T0))
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        service.record(session, _event(0))
        session.add(Agency(id="edu-fife", name="again", kind="school", created_at=T0))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_concurrent_appends_on_sqlite_all_land(tmp_path: Path) -> None:
    """The embedded database serves several request threads: each append must take the next number,
    even when its transaction read nothing else first and another thread committed in between."""
    engine = make_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    failures: list[BaseException] = []

    def writer(w: int) -> None:
        for i in range(40):
            try:
                with transaction(sessions) as session:
                    session.execute(select(func.count()).select_from(AuditRecord))  # a read first
                    service.record(session, _event(w * 100 + i))
            except BaseException as exc:
                failures.append(exc)

    try:
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, f"{len(failures)} appends failed, e.g. {type(failures[0]).__name__}"
        with sessions() as session:
            assert session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all() == list(
                range(160)
            )
            assert service.verify(session, []).ok
    finally:
        engine.dispose()
