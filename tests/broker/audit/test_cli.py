"""``broker audit``: checkpoint, verify (exit 1 naming the first bad seq), export for outsiders, key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from audit.bundle import verify_bundle
from audit.event import AuditEvent, Decision
from audit.note import NoteVerifier
from broker.audit import service
from broker.cli.main import app
from broker.database import transaction
from broker.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli_env(db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BROKER_DATABASE_URL", db_url)
    monkeypatch.setenv("BROKER_SECRETS_DIR", str(tmp_path / "secrets"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _append(sessions: sessionmaker[Session], n: int) -> None:
    with transaction(sessions) as session:
        for i in range(n):
            service.record(
                session, AuditEvent(action="records.lookup", decision=Decision.allow, subjects=(f"t{i}",))
            )


def test_checkpoint_verify_export_and_key(
    cli_env: None, sessions: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    _append(sessions, 5)
    signed = runner.invoke(app, ["audit", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    assert signed.output.startswith(f"{service.ORIGIN}\n5\n")
    key = runner.invoke(app, ["audit", "key"]).output.strip()
    assert NoteVerifier.from_string(key).name == service.ORIGIN

    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and ok.output.startswith("OK: 5 events, 1 signed checkpoints")
    assert runner.invoke(app, ["audit", "verify", "--key", key]).exit_code == 0

    out = tmp_path / "bundle.jsonl"
    assert runner.invoke(app, ["audit", "export", "-o", str(out), "--subject", "t3"]).exit_code == 0
    report = verify_bundle(out.read_text().splitlines(), [NoteVerifier.from_string(key)], service.ORIGIN)
    assert report.ok and report.events == 1
    assert json.loads(out.read_text().splitlines()[1])["seq"] == 3

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("UPDATE audit_events SET agency = 'mallory' WHERE seq = 2"))
        conn.commit()
    bad = runner.invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "FAIL at seq 2" in bad.output


def test_verify_rejects_a_malformed_key(cli_env: None) -> None:
    result = runner.invoke(app, ["audit", "verify", "--key", "not-a-key"])
    assert result.exit_code == 2 and "--key" in result.output


def test_export_takes_a_time_window_in_utc(
    cli_env: None, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Times on the command line carry no offset: they are read as UTC, not refused or guessed at."""
    _append(sessions, 3)
    out = tmp_path / "window.jsonl"
    until = datetime.now(UTC) + timedelta(minutes=5)
    for since, expected in (("2000-01-01", 3), (until.strftime("%Y-%m-%dT%H:%M:%S"), 0)):
        done = runner.invoke(app, ["audit", "export", "-o", str(out), "--since", since])
        assert done.exit_code == 0, done.output
        assert len(out.read_text().splitlines()) - 1 == expected  # the checkpoint line, then the events
