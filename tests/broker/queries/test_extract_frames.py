"""Queries over real submitted extracts: synthetic agency files, pseudonymised, submitted and linked, then
read through ``broker.extracts.frames.linked_frame`` (the frame source the HTTP API uses)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from broker.agencies.models import Role
from broker.agencies.service import Actor, authenticate
from broker.database import transaction
from broker.demo import DEMO_AS_OF, EXAMPLES, demo_extracts, seed_agreement
from broker.extracts.service import submit
from broker.queries.service import QueryRequest, extract_frames, public_geography, run_query
from broker.secrets import load_secrets
from broker.settings import Settings
from broker.synth import Config, run


def actor(sessions: sessionmaker[Session], token: str) -> Actor:
    with sessions() as session:
        found = authenticate(session, token)
    assert found is not None
    return found


@pytest.fixture(params=["sqlite"])
def db_url(tmp_path: Path) -> str:
    """SQLite is enough here: the ledger and API run on both databases in test_api.py and test_ledger.py."""
    return f"sqlite:///{tmp_path / 'broker.db'}"


def test_a_query_over_linked_extracts(
    tmp_path: Path, settings: Settings, sessions: sessionmaker[Session], make_principal: Callable[..., str]
) -> None:
    synth = tmp_path / "synth"
    run(Config(name="queries", n_children=8_000), 5, synth)
    master_key = load_secrets(settings.secrets_dir).master_key
    with transaction(sessions) as session:
        agreement = seed_agreement(session, master_key, EXAMPLES / "early-intervention-fife.yaml")
    with sessions() as session:
        files = demo_extracts(session, master_key, agreement, synth, tmp_path / "extracts")
    assert files
    for dataset, path in files:
        officer = actor(sessions, make_principal(dataset.provider, Role.data_officer))
        with transaction(sessions) as session:
            receipt = submit(session, master_key, officer, agreement.id, dataset.id, path, "csv", DEMO_AS_OF)
        assert receipt.status == "accepted", receipt.problems[:3]

    analyst = actor(sessions, make_principal("edu-fife", Role.analyst))
    request = QueryRequest(
        purpose="EI-PLAN",
        datasets=["fife-attendance"],
        geography="council",
        group_by=["fife-attendance.fsm"],
        measures=[{"kind": "count"}, {"kind": "mean", "field": "fife-attendance.attendance_pct"}],
        epsilon=0.25,
    )
    lookup = synth / "geography.csv"
    with sessions() as session:  # as over HTTP: a plain session, committed at the end
        response = run_query(session, analyst, agreement.id, request, extract_frames(master_key, lookup))
        session.commit()
    assert response.epsilon_spent == pytest.approx(0.25)
    assert response.epsilon_remaining == pytest.approx(2.0 - 0.25)
    councils = {r["area"] for r in response.rows}
    assert councils == set(public_geography(lookup).frame["council"].to_list())
    fife = [r for r in response.rows if r["area"] == "S12000047"]
    assert len(fife) == 2  # fsm false / true, with noisy counts or withheld
