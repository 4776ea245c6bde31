"""PostgreSQL numbers appends from a sequence under a shared lock (migration 0009): concurrent appends,
commits out of order, and the holes a transaction that drew a number and did not commit leaves behind."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from audit.event import AuditEvent, Decision
from audit.note import NoteSigner
from broker.audit import service
from broker.audit.models import AuditRecord
from broker.database import session_factory, transaction

pytestmark = pytest.mark.postgres

KEY = NoteSigner.generate(service.ORIGIN)


def _event(i: int) -> AuditEvent:
    return AuditEvent(action="records.lookup", decision=Decision.allow, actor=str(i), result={"rows": i})


def _append(sessions: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with transaction(sessions) as session:
            service.record(session, _event(i))


def _draw_and_roll_back(sessions: sessionmaker[Session]) -> int:
    """A transaction that appends and then does not commit: its sequence number is gone for good."""
    with sessions() as session:
        body = service.event_body(_event(-1), datetime.now(UTC)).decode()
        seq = int(session.execute(text("SELECT audit_append(:b)"), {"b": body}).scalar_one())
        session.rollback()
    return seq


def _checkpoint(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        return service.create_checkpoint(session, KEY).size


def _verify(sessions: sessionmaker[Session]) -> service.VerifyReport:
    with sessions() as session:
        return service.verify(session, [KEY.verifier()])


def _rows(sessions: sessionmaker[Session]) -> list[AuditRecord]:
    with sessions() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def test_concurrent_appends_and_checkpoints_give_a_contiguous_verifying_log(pg_engine: Engine) -> None:
    sessions = session_factory(pg_engine)
    writers, per_writer = 6, 30
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported below: a thread's exception would vanish otherwise
            errors.append(exc)

    def checkpoints() -> None:
        for _ in range(5):
            _checkpoint(sessions)

    threads = [
        threading.Thread(target=run, args=(lambda: _append(sessions, per_writer),)) for _ in range(writers)
    ]
    threads.append(threading.Thread(target=run, args=(checkpoints,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _checkpoint(sessions) == writers * per_writer
    rows = _rows(sessions)
    assert [r.seq for r in rows] == list(range(writers * per_writer))
    assert {r.action for r in rows} == {"records.lookup"}  # no hole, so no gap event
    report = _verify(sessions)
    assert report.ok and report.entries == writers * per_writer and report.unanchored == 0


def test_a_hole_is_reported_then_filed_as_a_gap_event_by_the_next_checkpoint(pg_engine: Engine) -> None:
    sessions = session_factory(pg_engine)
    _append(sessions, 3)
    assert _checkpoint(sessions) == 3
    assert _draw_and_roll_back(sessions) == 3
    assert _checkpoint(sessions) == 3 and _verify(sessions).ok  # a hole at the tail is not a hole yet
    _append(sessions, 2)

    report = _verify(sessions)
    assert not report.ok and report.first_bad_seq == 3 and report.entries == 3
    assert "did not commit" in (report.reason or "") and "deleted" in (report.reason or "")

    assert _checkpoint(sessions) == 6
    rows = _rows(sessions)
    assert [(r.seq, r.action) for r in rows][2:] == [
        (2, "records.lookup"),
        (3, service.GAP_ACTION),
        (4, "records.lookup"),
        (5, "records.lookup"),
    ]
    gap = rows[3]
    assert gap.body.encode() == service.gap_body(3, gap.at)  # the canonical body, as Python makes it
    assert gap.summary["reason"] == "sequence number 3 was drawn by a transaction that did not commit"
    report = _verify(sessions)
    assert report.ok and report.entries == 6 and report.checkpoints == 2 and report.unanchored == 0
    with sessions() as session:  # the lost number may have been any agency's: every DPO sees the gap
        found = service.search(session, service.EventFilter(), service.Scope(agency="edu-fife"), limit=10)
        assert [r.seq for r in found] == [3]


def test_a_hole_below_the_latest_checkpoint_is_never_filled(pg_engine: Engine) -> None:
    sessions = session_factory(pg_engine)
    _append(sessions, 5)
    _checkpoint(sessions)
    with pg_engine.begin() as conn:  # a superuser deletes a sealed event
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        conn.execute(text("DELETE FROM audit_events WHERE seq = 2"))
        for trigger in ("no_change", "no_truncate"):
            conn.execute(text(f"ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_{trigger}"))
    _append(sessions, 1)

    report = _verify(sessions)
    assert not report.ok and report.first_bad_seq == 2 and "deleted" in (report.reason or "")
    assert "did not commit" not in (report.reason or "")
    gap = service.gap_body(2, datetime.now(UTC)).decode()
    with pg_engine.connect() as conn, pytest.raises(DBAPIError, match="only fill a hole above"):
        conn.execute(text("SELECT audit_add_checkpoint(6, '\\x00', '', '', ARRAY[:gap])"), {"gap": gap})
    assert _checkpoint(sessions) == 6  # extends the sealed frontier, which still holds seq 2's leaf
    assert [r.seq for r in _rows(sessions)] == [0, 1, 3, 4, 5]
    report = _verify(sessions)
    assert not report.ok and report.first_bad_seq == 2


def test_appends_do_not_wait_for_each_other_but_verify_waits_for_them(pg_engine: Engine) -> None:
    sessions = session_factory(pg_engine)
    _append(sessions, 3)
    reports: list[service.VerifyReport] = []
    verifier = threading.Thread(target=lambda: reports.append(_verify(sessions)))
    with sessions() as in_flight:
        body = service.event_body(_event(3), datetime.now(UTC)).decode()
        assert in_flight.execute(text("SELECT audit_append(:b)"), {"b": body}).scalar_one() == 3
        _append(sessions, 1)  # seq 4 commits while 3 is still in flight
        verifier.start()
        verifier.join(0.5)
        assert verifier.is_alive() and not reports  # the settled prefix is not there yet
        in_flight.commit()
    verifier.join(30)
    assert len(reports) == 1 and reports[0].ok and reports[0].entries == 5
