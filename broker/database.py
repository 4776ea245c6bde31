"""SQLAlchemy engine, sessions and migrations: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, MetaData, create_engine, event, make_url, text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

from audit.canonical import leaf_bytes
from audit.merkle import leaf_hash
from broker.settings import ConfigError

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_SETTING = "BROKER_DATABASE_URL"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC, stored and read back as an aware datetime on either database.

    SQLite keeps no offset (SQLAlchemy writes the wall-clock digits and reads them back naive) and
    PostgreSQL answers in the session's time zone, so both directions convert: an aware value is turned
    into UTC before it is stored or compared, and what comes back is UTC. A naive value is refused: it
    would be guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: the broker stores aware times only (use datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # the engine's WalCheckpointer does it
    cursor.close()
    dbapi_connection.create_function("audit_leaf_hash", 2, _audit_leaf_hash, deterministic=True)


def _audit_leaf_hash(seq: int, body: str) -> bytes:
    """The audit log's leaf hash in SQL: SQLite appends compute it in their INSERT, as PostgreSQL's
    append function does (``broker.audit.service``). On every connection, whenever it was opened."""
    return leaf_hash(leaf_bytes(seq, body.encode()))


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into the database file on its own thread.

    Left to itself SQLite checkpoints inside the COMMIT that takes the log past 1,000 pages, so the
    request that stored a large extract also waited for a second write of everything it wrote and an
    fsync (about half a second a million rows). The commit still syncs the log (synchronous=FULL), so
    what a request was told is stored is durable; the copy follows within ``delay`` seconds. PASSIVE
    never waits for readers or writers: what it cannot copy now it copies after a later commit.
    """

    _live: ClassVar[weakref.WeakSet[WalCheckpointer]] = weakref.WeakSet()

    def __init__(self, path: str, delay: float = 0.2) -> None:
        self._path, self._delay = path, delay
        self._live.add(self)
        self._start()

    def _start(self) -> None:
        self._wake, self._stopping = threading.Event(), threading.Event()
        threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    @classmethod
    def restart_all(cls) -> None:
        """In a forked child: the parent's threads did not come along, and their events' locks may be
        held by a thread that no longer exists, so each gets new ones."""
        for checkpointer in list(cls._live):
            checkpointer._start()

    def committed(self, *_: Any) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._live.discard(self)
        self._stopping.set()
        self._wake.set()

    def _run(self) -> None:
        while self._wake.wait():
            self._wake.clear()
            # the commit event comes before the commit: try again until the whole log is copied
            while not self._stopping.wait(self._delay) and not self._checkpoint():
                pass
            if self._stopping.is_set():
                return

    def _checkpoint(self) -> bool:
        """One PASSIVE checkpoint; True once every frame of the log is in the database (or on failure:
        the next commit tries again)."""
        try:
            # mode=rw: a database file removed in the meantime is not created again, empty
            uri = f"{Path(self._path).resolve().as_uri()}?mode=rw"
            with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
                _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the log keeps growing, nothing is lost: say so and go on
            log.warning("sqlite checkpoint failed", extra={"error_type": type(exc).__name__})
            return True
        return bool(frames == copied)


os.register_at_fork(after_in_child=WalCheckpointer.restart_all)


PING_AFTER_IDLE = 1.0
"""Seconds a pooled PostgreSQL connection may sit unused before a checkout checks it with a round trip."""


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has sat idle.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per request, which cost a fifth
    of the throughput of short transactions (8 writers: 3,300 against 4,300 INSERTs/s without it). A
    connection handed back less than ``PING_AFTER_IDLE`` seconds ago was working then; one idle for longer
    may have outlived a database restart or an idle timeout, so it is pinged and, if it does not answer,
    replaced (the pool retries the checkout with a new connection). A restart inside that second fails
    the one request that meets a dead connection, and SQLAlchemy then drops the rest of the pool.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi: Any, entry: ConnectionPoolEntry) -> None:
        entry.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi: Any, entry: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        idle_from = entry.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < PING_AFTER_IDLE:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection did not answer") from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get their directory, WAL and foreign keys."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ConfigError(_SETTING, "is not a valid database URL (e.g. sqlite:///./var/broker.db)") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if parsed.database and parsed.database != ":memory:":
            checkpointer = WalCheckpointer(parsed.database)
            event.listen(engine, "commit", checkpointer.committed)
            weakref.finalize(engine, checkpointer.stop)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(parsed, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _ping_when_idle(engine)
        return engine
    raise ConfigError(
        _SETTING, f"unsupported database '{parsed.get_backend_name()}': use sqlite or postgresql"
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``admin_url`` (a role that may create
    databases), its URL yielded and the database dropped afterwards: for tests and benchmarks, which
    must never write into a database someone else uses."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def check_reachable(engine: Engine) -> None:
    """Fail with one line naming the setting when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        raise ConfigError(_SETTING, f"cannot connect to {where} ({reason})") from None


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    check_reachable(engine)
    command.upgrade(_alembic_config(engine), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config(create_engine("sqlite://"))).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
