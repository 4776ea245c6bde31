"""SQLite engines: the write-ahead log is copied back into the database file off the committing thread."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from broker import database
from broker.database import WalCheckpointer, make_engine
from broker.keys.models import KeyringEntry


def _eventually(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_commits_do_not_checkpoint_and_the_log_is_copied_back_soon_after(tmp_path: Path) -> None:
    path = tmp_path / "broker.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            conn.execute(text("CREATE TABLE blobs (b BLOB)"))
            conn.execute(text("INSERT INTO blobs VALUES (:b)"), {"b": bytes(2_000_000)})
        assert _eventually(lambda: path.stat().st_size > 2_000_000)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT length(b) FROM blobs").scalar() == 2_000_000
    finally:
        engine.dispose()


def test_the_checkpointer_copies_only_after_it_is_told_of_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE blobs (b BLOB)")
    writer.execute("INSERT INTO blobs VALUES (?)", (bytes(1_000_000),))
    writer.commit()
    checkpointer = WalCheckpointer(str(path), delay=0.05)
    try:
        time.sleep(0.3)
        assert path.stat().st_size < 1_000_000  # nothing asked for a copy yet
        checkpointer.committed()
        assert _eventually(lambda: path.stat().st_size > 1_000_000)
    finally:
        checkpointer.stop()
        writer.close()


def test_a_removed_database_is_not_created_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gone.db"
    checkpointer = WalCheckpointer(str(path), delay=0.01)
    try:
        checkpointer.committed()
        assert _eventually(lambda: "sqlite checkpoint failed" in caplog.text)
        assert not path.exists()
    finally:
        checkpointer.stop()


def test_a_forked_child_checkpoints_its_own_commits(tmp_path: Path) -> None:
    """The parent's checkpointer thread does not survive a fork; the child gets its own."""
    path = tmp_path / "broker.db"
    with closing(sqlite3.connect(path)) as setup:  # not through the engine: its checkpointer stays idle
        setup.execute("CREATE TABLE blobs (b BLOB)")
    engine = make_engine(f"sqlite:///{path}")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which reports through its exit status
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO blobs VALUES (:b)"), {"b": bytes(2_000_000)})
            os._exit(0 if _eventually(lambda: path.stat().st_size > 2_000_000) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    engine.dispose()
    assert os.waitstatus_to_exitcode(status) == 0


def _key_row(created_at: datetime) -> KeyringEntry:
    return KeyringEntry(
        agreement_id="agr-utc", purpose="t", version=1, sealed=b"x", fingerprint="f", created_at=created_at
    )


def test_times_are_stored_in_utc_and_read_back_aware(sessions: sessionmaker[Session]) -> None:
    """Either database: an aware time in another zone is stored as the same instant and comes back in
    UTC; a naive one is refused before anything is written."""
    moment = datetime(2026, 7, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    with sessions() as session, session.begin():
        session.add(_key_row(moment))
    with sessions() as session:
        stored = session.scalars(select(KeyringEntry.created_at)).one()
        assert stored == moment and stored.utcoffset() == timedelta(0) and stored.hour == 8
        # compared in SQL against the stored UTC value: one microsecond either side of the instant
        at = KeyringEntry.created_at
        assert session.scalar(select(func.count()).where(at > moment - timedelta(microseconds=1))) == 1
        assert session.scalar(select(func.count()).where(at > moment + timedelta(microseconds=1))) == 0
    with sessions() as session, pytest.raises(StatementError, match="naive datetime"):
        session.add(_key_row(datetime(2026, 7, 1)))
        session.flush()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(KeyringEntry)) == 1


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pg_url: str, pid: int) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    time.sleep(0.1)  # the backend is gone once the server has handled the signal


@pytest.mark.postgres
def test_an_idle_pooled_connection_is_checked_and_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle past PING_AFTER_IDLE (as across a database restart): the checkout pings, finds the
    connection dead and hands out a new one, so no request sees the failure."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 0.05)
    engine = make_engine(pg_url, pool_size=1)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other side of the trade, stated: inside PING_AFTER_IDLE there is no round trip, so a dead
    connection fails the one request that meets it; the pool is then dropped and the next request works."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE", 60.0)
    engine = make_engine(pg_url, pool_size=1)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
