"""What every command needs: settings, a reachable database and the secrets, checked up front."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from broker.database import check_reachable, make_engine, session_factory
from broker.secrets import Secrets, load_secrets
from broker.settings import Settings, get_settings


@dataclass(frozen=True)
class Context:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secrets: Secrets


def open_context(settings: Settings | None = None) -> Context:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    check_reachable(engine)
    secrets = load_secrets(settings.secrets_dir)
    return Context(settings, engine, session_factory(engine), secrets)
