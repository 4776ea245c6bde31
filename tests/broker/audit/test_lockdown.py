"""The database refuses to rewrite history: what the application role, and even a superuser, cannot do.

PostgreSQL: the application's role (here a fresh login role granted ``broker_audit_writer``) appends only
through ``audit_append`` and cannot INSERT, UPDATE, DELETE, TRUNCATE, upsert or disable triggers; a
superuser is still stopped by the ``ENABLE ALWAYS`` triggers, even under ``session_replication_role``.
SQLite: triggers refuse UPDATE and DELETE and the insert guard refuses ``INSERT OR REPLACE``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from audit.event import AuditEvent, Decision
from audit.note import NoteSigner
from broker.audit import service
from broker.database import make_engine, session_factory, transaction, upgrade

FORGED_ROW = (
    "INSERT INTO audit_events (seq, at, action, decision, subjects, body, leaf_hash, tree_size) "
    "VALUES ({seq}, CURRENT_TIMESTAMP, 'forged', 'allow', '[]', '{{}}', {blob}, {size})"
)


def _append(engine: Engine, n: int) -> None:
    """Append ``n`` events and sign a checkpoint over them, as the application does."""
    with transaction(session_factory(engine)) as session:
        for _ in range(n):
            service.record(session, AuditEvent(action="records.lookup", decision=Decision.allow))
        service.create_checkpoint(session, NoteSigner.generate(service.ORIGIN))


def _refused(engine: Engine, statement: str, params: dict[str, object] | None = None) -> str:
    with engine.connect() as conn, pytest.raises(DBAPIError) as info:
        conn.execute(text(statement), params)
        conn.commit()
    return str(info.value.orig)


def _assert_denied(engine: Engine, statement: str) -> None:
    message = _refused(engine, statement)
    assert "permission denied" in message or "must be owner" in message, statement


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app_role(pg_engine: Engine) -> Iterator[Engine]:
    """A login role like the application's own: member of broker_audit_writer and nothing else."""
    engine = pg_engine
    name = f"broker_app_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        conn.execute(text(f"GRANT broker_audit_writer TO {name}"))
        conn.commit()
    app = create_engine(make_url(str(engine.url.render_as_string(hide_password=False))).set(username=name))
    try:
        yield app
    finally:
        app.dispose()
        with engine.connect() as conn:
            conn.execute(text(f"DROP ROLE {name}"))
            conn.commit()


@pytest.mark.postgres
def test_application_role_can_only_append(app_role: Engine) -> None:
    _append(app_role, 3)
    with app_role.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar_one() == 1
    blob = "'\\x00'::bytea"
    for statement in (
        FORGED_ROW.format(seq=3, blob=blob, size=4),
        FORGED_ROW.format(seq=0, blob=blob, size=1) + " ON CONFLICT (seq) DO UPDATE SET action = 'forged'",
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events WHERE seq = 1",
        "TRUNCATE audit_events",
        "UPDATE audit_checkpoints SET note = ''",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TABLE audit_events",
    ):
        _assert_denied(app_role, statement)
    with app_role.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 3


@pytest.mark.postgres
def test_application_role_cannot_draw_numbers_or_fill_holes_itself(app_role: Engine) -> None:
    """Only the SECURITY DEFINER functions use the sequence, and a gap event goes in only with a checkpoint,
    only where a number was drawn and never committed."""
    _append(app_role, 3)
    for statement in (
        "SELECT nextval('audit_seq')",
        "SELECT setval('audit_seq', 1)",
        "SELECT currval('audit_seq')",
        "ALTER SEQUENCE audit_seq RESTART WITH 1",
    ):
        _assert_denied(app_role, statement)
    with app_role.connect() as conn:
        callable_: list[str] = list(
            conn.execute(
                text(
                    "SELECT p.proname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner "
                    "WHERE r.rolname = 'broker_audit_owner' AND p.prosecdef "
                    "AND has_function_privilege(p.oid, 'EXECUTE') "
                    "ORDER BY 1"
                )
            ).scalars()
        )
        assert callable_ == ["audit_add_checkpoint", "audit_append"]
    with transaction(session_factory(app_role)) as session:  # seqs 3 and 4, not yet checkpointed
        for _ in range(2):
            service.record(session, AuditEvent(action="records.lookup", decision=Decision.allow))
    for seq, size, why in (
        (1, 5, "only fill a hole"),  # sealed by the checkpoint at 3
        (4, 5, "only fill a hole"),  # a stored event
        (5, 6, "stay within the log"),  # a number nobody has drawn yet
    ):
        gap = service.gap_body(seq, datetime.now(UTC)).decode()
        statement = f"SELECT audit_add_checkpoint({size}, '\\x00', '', '', ARRAY[:gap])"
        assert why in _refused(app_role, statement, {"gap": gap}), seq
    with app_role.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 5


@pytest.mark.postgres
def test_triggers_stop_even_a_superuser(pg_engine: Engine) -> None:
    engine = pg_engine
    _append(engine, 2)
    for statement in (
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
        "SET session_replication_role = replica; DELETE FROM audit_events",
    ):
        assert "append-only" in _refused(engine, statement), statement


def test_sqlite_triggers_and_insert_guard(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    _append(engine, 3)
    blob = "x'00'"
    for statement in (
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events WHERE seq = 1",
        "INSERT OR REPLACE INTO audit_events SELECT * FROM audit_events WHERE seq = 1",
        FORGED_ROW.replace("INSERT", "INSERT OR REPLACE").format(seq=1, blob=blob, size=2),
        FORGED_ROW.format(seq=5, blob=blob, size=6),  # a gap
        FORGED_ROW.format(seq=3, blob=blob, size=9),  # a wrong tree size
        "UPDATE audit_checkpoints SET note = ''",
        "DELETE FROM audit_checkpoints",
        "INSERT INTO audit_checkpoints SELECT * FROM audit_checkpoints",
    ):
        message = _refused(engine, statement)
        assert any(m in message for m in ("append-only", "next sequence number", "must grow")), statement
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 3


def test_sqlite_checkpoint_refuses_a_hole(sqlite_engine: Engine) -> None:
    """SQLite never files gap events: its appends cannot leave a hole, so one there is forged."""
    engine = sqlite_engine
    _append(engine, 3)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_events_insert_guard"))
        conn.execute(text(FORGED_ROW.format(seq=4, blob="x'00'", size=5)))
    key = NoteSigner.generate(service.ORIGIN)
    with (
        pytest.raises(service.AuditUnavailable, match="Sequence number 3 is missing"),
        transaction(session_factory(engine)) as session,
    ):
        service.create_checkpoint(session, key)
