"""Catalogue freshness: the due date is one cadence after the last receipt; never received is overdue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broker import demo
from broker.agencies.service import Actor
from broker.catalogue.service import catalogue, dataset_due
from broker.database import transaction
from broker.extracts.models import Extract, ExtractStatus


def test_due_is_one_cadence_after_receipt() -> None:
    received = datetime(2026, 1, 31, 9, tzinfo=UTC)
    assert dataset_due(received, "P1W") == received + timedelta(days=7)
    assert dataset_due(received, "P1M") == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert dataset_due(None, "P1W") is None


def test_catalogue_lists_party_datasets_with_overdue_flags(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    master = client.app.state.secrets.master_key  # type: ignore[attr-defined]
    received = datetime.now(UTC) - timedelta(days=10)
    with transaction(sessions) as session:
        demo.seed_people(session)
        demo.seed_agreement(session, master, demo.EXAMPLES / "early-intervention-fife.yaml")
        for dataset in ("fife-attendance", "fife-health-visiting"):  # cadences P1W and P1M
            session.add(
                Extract(
                    id=f"x-{dataset}",
                    agreement_id="isa-fife-early-intervention",
                    agreement_version=1,
                    dataset_id=dataset,
                    provider="edu-fife",
                    submitted_by=1,
                    as_of=date(2026, 11, 1),
                    received_at=received,
                    content_hash=dataset,
                    file_format="csv",
                    status=ExtractStatus.accepted,
                    rows_total=5,
                    rows_accepted=4,
                    rows_rejected=1,
                    problems=[],
                )
            )
    with sessions() as session:
        housing = catalogue(session, Actor(1, "housing-fife", "x", frozenset({"data_officer"})))
        outsider = catalogue(session, Actor(2, "edu-highland", "x", frozenset({"dpo"})))
    flags = {e.dataset: (e.overdue, e.rows, e.last_as_of) for e in housing}
    assert flags == {
        "fife-attendance": (True, 4, date(2026, 11, 1)),
        "fife-health-visiting": (False, 4, date(2026, 11, 1)),
        "fife-homelessness": (True, None, None),
    }
    assert outsider == []
