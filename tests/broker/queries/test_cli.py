"""``broker query budget`` and ``broker query run`` against the local database (token from BROKER_TOKEN)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from agreements import load_file
from broker.agencies.models import Role
from broker.agreements.service import seed_active_agreement
from broker.cli.main import app
from broker.database import transaction
from broker.settings import get_settings

PLAN = Path(__file__).parents[3] / "agreements" / "examples" / "attainment-planning.yaml"
AID = "isa-attainment-planning"
runner = CliRunner()


@pytest.fixture
def cli_env(db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BROKER_DATABASE_URL", db_url)
    monkeypatch.setenv("BROKER_SECRETS_DIR", str(tmp_path / "secrets"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_budget_and_a_refused_run(
    cli_env: None, sessions: sessionmaker[Session], make_principal: Callable[..., str], tmp_path: Path
) -> None:
    with transaction(sessions) as session:
        seed_active_agreement(session, load_file(PLAN))
    analyst = make_principal("edu-fife", Role.analyst)
    shown = runner.invoke(app, ["query", "budget", "-a", AID], env={"BROKER_TOKEN": analyst})
    assert shown.exit_code == 0, shown.output
    budget = json.loads(shown.output)
    assert budget["epsilon_budget"] == 4.0 and budget["epsilon_spent"] == 0.0

    spec = tmp_path / "query.json"
    spec.write_text(json.dumps({"purpose": "ATT-PLAN", "datasets": ["fife-pupils"], "epsilon": 0.1}))
    officer = make_principal("edu-fife", Role.data_officer)
    refused = runner.invoke(app, ["query", "run", str(spec), "-a", AID], env={"BROKER_TOKEN": officer})
    assert refused.exit_code == 1
    assert json.loads(refused.stderr)["reason"] == "role"
    bad = runner.invoke(app, ["query", "budget", "-a", AID], env={"BROKER_TOKEN": "brk_not-a-token"})
    assert bad.exit_code != 0
