"""Shared fixtures: real SQLite and real PostgreSQL databases, migrated to head, and an HTTP client.

PostgreSQL tests create a uniquely named throwaway database on 127.0.0.1:5432 and drop it afterwards.
Without a reachable server they skip locally; with BROKER_REQUIRE_POSTGRES=1 (CI) they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from broker.agencies.models import Agency, AgencyKind, Role
from broker.agencies.service import bootstrap, create_agency, create_principal
from broker.api.app import create_app
from broker.database import make_engine, scratch_database, session_factory, transaction, upgrade
from broker.settings import Settings

PG_ADMIN_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("BROKER_REQUIRE_POSTGRES") == "1"

# Property tests explore new random examples on every local run; CI (HYPOTHESIS_PROFILE=ci) draws a
# fixed sequence, so a commit passes or fails there the same way every time.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _pg_admin() -> Engine | None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect():
            return engine
    except OperationalError:
        engine.dispose()
        if REQUIRE_PG:
            pytest.fail(
                f"PostgreSQL is required (BROKER_REQUIRE_POSTGRES=1) but {PG_ADMIN_URL} is unreachable"
            )
        return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    admin = _pg_admin()
    if admin is None:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    admin.dispose()
    with scratch_database(PG_ADMIN_URL, "broker_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'broker.db'}"
    return str(request.getfixturevalue("pg_url"))


def _migrated(url: str) -> Iterator[Engine]:
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    yield from _migrated(db_url)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database migrated to head (for PostgreSQL-only tests)."""
    yield from _migrated(pg_url)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, secrets_dir=tmp_path / "secrets")


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def operator_token(sessions: sessionmaker[Session]) -> str:
    with transaction(sessions) as session:
        return bootstrap(session)


MakePrincipal = Callable[..., str]


@pytest.fixture
def make_principal(sessions: sessionmaker[Session]) -> MakePrincipal:
    """Register (if needed) an agency and a principal with ``roles``; returns its bearer token."""

    def make(
        agency: str, *roles: Role | str, kind: AgencyKind = AgencyKind.education, name: str = "Person"
    ) -> str:
        with transaction(sessions) as session:
            if session.get(Agency, agency) is None:
                create_agency(session, id=agency, name=agency, kind=kind, council_code=None, by=None)
            _, token = create_principal(
                session, agency_id=agency, name=name, email=None, roles=[Role(r) for r in roles], by=None
            )
        return token

    return make


@pytest.fixture
def bearer() -> Callable[[str], dict[str, str]]:
    """Authorization headers for a token."""
    return lambda token: {"Authorization": f"Bearer {token}"}
