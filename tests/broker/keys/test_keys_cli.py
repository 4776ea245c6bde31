"""``broker keys`` end to end against a migrated database on both backends."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from broker.cli.main import app
from broker.settings import get_settings
from pseudonymise.keymaterial import read_key_file


@pytest.fixture
def env(engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BROKER_DATABASE_URL", db_url)
    monkeypatch.setenv("BROKER_SECRETS_DIR", str(tmp_path / "secrets"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_create_rotate_list_export(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["admin", "bootstrap"]).exit_code == 0
    created = runner.invoke(app, ["keys", "create", "--agreement", "edu-health"])
    assert created.exit_code == 0, created.output
    assert "link key v1" in created.output and "broker key v1" in created.output
    again = runner.invoke(app, ["keys", "create", "--agreement", "edu-health"])
    assert again.exit_code == 1 and "already has keys" in again.output
    rotated = runner.invoke(app, ["keys", "rotate", "--agreement", "edu-health"])
    assert rotated.exit_code == 0 and "v2" in rotated.output
    listed = runner.invoke(app, ["keys", "list", "--agreement", "edu-health"])
    assert listed.exit_code == 0 and listed.output.count("link") == 2

    missing_agency = runner.invoke(
        app,
        ["keys", "export", "--agreement", "edu-health", "--agency", "nobody", "--out", str(env / "k.json")],
    )
    assert missing_agency.exit_code == 1 and "not registered" in missing_agency.output
    # the bootstrap operator's agency is the broker's own; register a real one through the service
    from broker.agencies.models import AgencyKind
    from broker.agencies.service import create_agency
    from broker.cli.context import open_context
    from broker.database import transaction

    with transaction(open_context().sessions) as session:
        create_agency(
            session, id="fife-education", name="Fife", kind=AgencyKind.education, council_code=None, by=None
        )
    out = env / "k.json"
    exported = runner.invoke(
        app, ["keys", "export", "--agreement", "edu-health", "--agency", "fife-education", "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    doc = read_key_file(out)
    assert doc.key_version == 2
    printed = created.output + rotated.output + listed.output + exported.output
    assert doc.key not in printed
    assert base64.b64decode(doc.key).hex() not in printed
