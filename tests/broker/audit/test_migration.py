"""0004_audit carries the foundation's plain audit rows over, in order, hashed and verifiable; 0009 numbers
PostgreSQL appends from a sequence that starts after the events already there (and back)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from audit.event import AuditEvent, Decision
from audit.note import NoteSigner
from broker.audit import service
from broker.audit.models import AuditRecord
from broker.database import _alembic_config, make_engine, session_factory, transaction, upgrade


def test_plain_rows_are_carried_over_and_verify(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0003_keys")
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    with engine.begin() as conn:
        for action in ("agency.register", "principal.create"):
            summary: dict[str, object] = {
                "action": action,
                "decision": "allow",
                "actor": None,
                "subjects": [],
                "at": at.isoformat(),
            }
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, action, decision, body, summary) "
                    "VALUES (:at, :action, 'allow', :body, :summary)"
                ),
                {"at": at, "action": action, "body": json.dumps(summary), "summary": json.dumps(summary)},
            )
    upgrade(engine)
    key = NoteSigner.generate(service.ORIGIN)
    with transaction(session_factory(engine)) as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [(r.seq, r.action, r.tree_size) for r in rows] == [
            (0, "agency.register", 1),
            (1, "principal.create", 2),
        ]
        assert rows[0].summary["time"] == "2026-11-01T12:00:00.000000Z" and "at" not in rows[0].summary
        service.record(session, AuditEvent(action="x", decision=Decision.allow))
    with transaction(session_factory(engine)) as session:
        assert session.scalar(select(AuditRecord.seq).where(AuditRecord.action == "x")) == 2
        service.create_checkpoint(session, key)
        assert service.verify(session, [key.verifier()]).ok
    engine.dispose()


def test_the_sequence_continues_the_numbering_of_existing_events(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    key = NoteSigner.generate(service.ORIGIN)

    def append(n: int) -> None:
        for _ in range(n):
            with transaction(sessions) as session:
                service.record(session, AuditEvent(action="x", decision=Decision.allow))

    upgrade(engine, "0008_audit_subjects")
    append(3)  # numbered max(seq) + 1 under the exclusive lock
    upgrade(engine)
    append(2)  # from the sequence
    command.downgrade(_alembic_config(engine), "0008_audit_subjects")
    append(1)
    upgrade(engine)  # the sequence is recreated after the event appended while it was gone
    append(1)
    with transaction(sessions) as session:
        assert list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq))) == list(range(7))
        assert service.create_checkpoint(session, key).size == 7
        report = service.verify(session, [key.verifier()])
    assert report.ok and report.entries == 7
    engine.dispose()
