"""The aggregate frame (one row per subject) and the `broker submit` / `broker retention run` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from agreements.loader import load_file
from broker import demo
from broker.cli.main import app
from broker.database import transaction
from broker.extracts import frames
from broker.extracts.models import Extract, ExtractIndexBucket
from broker.extracts.service import load_engine
from broker.secrets import load_secrets
from broker.settings import Settings, get_settings
from broker.synth.generator import generate

EXAMPLE = demo.EXAMPLES / "early-intervention-fife.yaml"
AGREEMENT = "isa-fife-early-intervention"


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate("tiny", 11, out)
    return out


@pytest.fixture
def seeded(
    sessions: sessionmaker[Session], settings: Settings, synth_dir: Path, tmp_path: Path
) -> tuple[bytes, dict[tuple[str, str], str], dict[str, Path]]:
    """People, the active agreement and its keys, and each dataset pseudonymised (not yet submitted)."""
    master = load_secrets(settings.secrets_dir).master_key
    with transaction(sessions) as session:
        tokens = {(t.agency, t.roles): t.token for t in demo.seed_people(session)}
        agreement = demo.seed_agreement(session, master, EXAMPLE)
    with sessions() as session:
        files = demo.demo_extracts(session, master, agreement, synth_dir, tmp_path / "out")
    return master, tokens, {dataset.id: path for dataset, path in files}


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, token: str, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("BROKER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BROKER_SECRETS_DIR", str(settings.secrets_dir))
    monkeypatch.setenv("BROKER_TOKEN", token)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def test_submit_command_and_linked_frame(
    seeded: tuple, settings: Settings, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    master, tokens, files = seeded
    for dataset, provider in (("fife-attendance", "edu-fife"), ("fife-health-visiting", "health-nhs-fife")):
        code, output = _cli(
            settings,
            monkeypatch,
            tokens[(provider, "data_officer")],
            "submit",
            str(files[dataset]),
            "-a",
            AGREEMENT,
            "-d",
            dataset,
            "--as-of",
            "2026-11-01",
        )
        assert code == 0, output
        receipt = json.loads(output)
        assert receipt["status"] == "accepted"
        # the HTTP API's JSON: ISO 8601 in UTC with a Z, not Python's str() of a datetime
        assert datetime.fromisoformat(receipt["received_at"]).tzinfo is not None
        assert receipt["received_at"].endswith("Z") and "T" in receipt["received_at"]
    code, output = _cli(
        settings,
        monkeypatch,
        tokens[("edu-fife", "practitioner")],
        "submit",
        str(files["fife-attendance"]),
        "-a",
        AGREEMENT,
        "-d",
        "fife-attendance",
        "--as-of",
        "2026-11-01",
    )
    assert code == 1 and json.loads(output).get("reason") == "role", output

    with sessions() as session:
        frame = frames.linked_frame(
            session,
            AGREEMENT,
            ["fife-attendance", "fife-health-visiting"],
            datetime.now(UTC),
            master_key=master,
        )
        linkage = load_engine(session, master, AGREEMENT)[0]
        subjects = linkage.membership()["subject_id"].n_unique()
        again = frames.linked_frame(
            session, AGREEMENT, ["fife-attendance"], datetime.now(UTC), master_key=master
        )
    assert frame["subject"].is_unique().all() and frame.height == subjects
    attendance = load_file(EXAMPLE).dataset("fife-attendance")
    expected = {f"fife-attendance.{f}" for f in attendance.field_names("payload", "geography")}
    assert expected <= set(frame.columns)
    assert "fife-attendance.pastoral_note" not in frame.columns
    assert frame["fife-attendance.attendance_pct"].dtype == pl.Float64
    # both datasets contribute, and a child in both sits on one row
    both = frame.filter(
        pl.col("fife-attendance.stage").is_not_null()
        & pl.col("fife-health-visiting.review_stage").is_not_null()
    )
    assert both.height > 0
    assert again.height <= frame.height and set(again.columns) == {"subject"} | expected


def test_retention_command_shreds(
    seeded: tuple, settings: Settings, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tokens, files = seeded
    code, output = _cli(
        settings,
        monkeypatch,
        tokens[("edu-fife", "data_officer")],
        "submit",
        str(files["fife-attendance"]),
        "-a",
        AGREEMENT,
        "-d",
        "fife-attendance",
        "--as-of",
        "2026-11-01",
    )
    assert code == 0, output
    code, output = _cli(settings, monkeypatch, "", "retention", "run")
    assert code == 0 and "Shredded 0 extract(s)" in output
    with transaction(sessions) as session:
        extract = session.scalars(select(Extract)).one()
        extract.retain_until = datetime(2020, 1, 1, tzinfo=UTC)
    code, output = _cli(settings, monkeypatch, "", "retention", "run")
    assert code == 0 and "Shredded 1 extract(s)" in output
    with sessions() as session:
        assert session.scalars(select(Extract)).one().wrapped_key is None
        assert session.scalar(select(func.count()).select_from(ExtractIndexBucket)) == 0
