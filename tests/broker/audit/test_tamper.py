"""With the triggers out of the way (a superuser, or anyone who can write the SQLite file), any single
change, deletion, insertion or reordering of stored events is caught by ``verify``, on both databases.

"Naive" forgeries leave the stored leaf hash and tree size alone and are named exactly; "careful" ones
rewrite every hash and size to fit and are caught by the signed checkpoints, which can only say that
nothing from the last good checkpoint on can be trusted.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from audit.canonical import canonical_bytes, leaf_bytes
from audit.event import AuditEvent, Decision
from audit.merkle import leaf_hash
from audit.note import NoteSigner
from broker.audit import service
from broker.audit.models import AuditRecord
from broker.database import make_engine, session_factory, transaction

KEY = NoteSigner.generate(service.ORIGIN)
N = 24
TABLE = AuditRecord.__table__


@pytest.fixture
def signed_log(engine: Engine, db_url: str) -> str:
    """A log of N events with checkpoints every 8; returns its URL."""
    sessions = session_factory(engine)
    t0 = datetime(2026, 11, 28, 9, tzinfo=UTC)
    for start in range(0, N, 8):
        with transaction(sessions) as session:
            for i in range(start, start + 8):
                event = AuditEvent(
                    action="records.lookup",
                    decision=Decision.allow if i % 4 else Decision.deny,
                    actor=str(i % 3),
                    agency="edu-fife",
                    agreement_id="agr-1",
                    subjects=(f"tok{i}",),
                    result={"rows": i},
                )
                service.record(session, event, at=t0 + timedelta(seconds=i))
            service.create_checkpoint(session, KEY)
    engine.dispose()
    return db_url


@contextmanager
def _without_triggers(url: str, tmp: Path) -> Iterator[Session]:
    """A session in which the append-only triggers are off; nothing it does outlives the block."""
    if url.startswith("sqlite"):
        copy = tmp / f"tamper-{uuid.uuid4().hex}.db"
        shutil.copyfile(url.removeprefix("sqlite:///"), copy)
        engine = make_engine(f"sqlite:///{copy}")
        with engine.connect() as conn:
            for trigger in ("no_update", "no_delete", "insert_guard"):
                conn.execute(text(f"DROP TRIGGER audit_events_{trigger}"))
            conn.commit()
            with Session(bind=conn) as session:
                yield session
        engine.dispose()
        copy.unlink()
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        with Session(bind=conn) as session:
            yield session
        trans.rollback()
    engine.dispose()


def _rehash(row: dict[str, Any]) -> dict[str, Any]:
    """What a careful forger does: make body, leaf hash and tree size agree with the row's place."""
    body = service.rebuild_leaf(SimpleNamespace(**row))[8:]
    return {**row, "body": body.decode(), "leaf_hash": leaf_hash(leaf_bytes(row["seq"], body))}


def _forged(seq: int) -> dict[str, Any]:
    body = canonical_bytes({"action": "records.lookup", "decision": "allow", "subjects": [], "time": "x"})
    return {
        "seq": seq,
        "at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        "action": "records.lookup",
        "decision": "allow",
        "actor": None,
        "agency": None,
        "agreement_id": None,
        "subjects": "[]",
        "body": body.decode(),
        "leaf_hash": leaf_hash(leaf_bytes(seq, body)),
        "tree_size": seq + 1,
    }


def _tamper(rows: list[dict[str, Any]], kind: str, k: int, j: int, column: str) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    if kind == "change":
        if column == "at":
            out[k]["at"] = out[k]["at"] + timedelta(seconds=1)
        elif column == "body":
            out[k]["body"] = out[k]["body"].replace('"rows":', '"rows":1')
        elif column == "subjects":
            out[k]["subjects"] = '["tok-other"]'
        else:
            out[k][column] = "mallory"
    elif kind == "delete":
        del out[k]
        for row in out[k:]:
            row["seq"] -= 1
    elif kind == "insert":
        for row in out[k:]:
            row["seq"] += 1
        out.insert(k, _forged(k))
    else:
        lo, hi = sorted((j, k))
        out[lo], out[hi] = {**out[hi], "seq": lo}, {**out[lo], "seq": hi}
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["change", "delete", "insert", "reorder"]),
    careful=st.booleans(),
    k=st.integers(0, N - 1),
    j=st.integers(0, N - 1),
    column=st.sampled_from(["actor", "action", "agency", "decision", "subjects", "body", "at"]),
)
def test_any_single_tampering_is_detected(
    signed_log: str, tmp_path: Path, kind: str, careful: bool, k: int, j: int, column: str
) -> None:
    if kind == "reorder" and j == k:
        j = (k + 1) % N
    with _without_triggers(signed_log, tmp_path) as session:
        rows = [dict(r._mapping) for r in session.execute(select(TABLE).order_by(TABLE.c.seq))]
        assert service.verify(session, [KEY.verifier()]).ok
        forged = _tamper(rows, kind, k, j, column)
        if careful:
            forged = [_rehash({**row, "tree_size": row["seq"] + 1}) for row in forged]
        session.execute(text("DELETE FROM audit_events"))
        session.execute(insert(AuditRecord), forged)
        report = service.verify(session, [KEY.verifier()])
    first = min(j, k) if kind == "reorder" else k
    assert not report.ok
    assert report.first_bad_seq is not None
    if kind == "change" and not careful:
        assert report.first_bad_seq == k
    else:
        assert report.first_bad_seq <= first + 1
