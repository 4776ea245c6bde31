"""The budget ledger: charged before noise, never past the budget, never refunded, safe under concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agreements.loader import load_file
from broker.queries.ledger import LedgerKey, budget_view, ledger_key, reserve
from broker.queries.models import PrivacyBudget
from disclosure import (
    BudgetExceeded,
    Catalogue,
    DisclosurePolicy,
    FieldSpec,
    FrameSet,
    GeographyLookup,
    QueryEngine,
    QuerySpec,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "agreements" / "examples"
START = datetime(2026, 1, 1, tzinfo=UTC)


def key(budget: float = 1.0, agency: str = "edu-fife") -> LedgerKey:
    return LedgerKey("isa-test", agency, START, datetime(2027, 1, 1, tzinfo=UTC), budget)


def test_budget_period_follows_the_agreement() -> None:
    agreement = load_file(EXAMPLES / "attainment-planning.yaml")  # P1Y from 2026-08-01, 4.0 per period
    first = ledger_key(agreement, "edu-fife", datetime(2027, 3, 1, tzinfo=UTC))
    assert (first.period_start, first.period_end) == (
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2027, 8, 1, tzinfo=UTC),
    )
    second = ledger_key(agreement, "edu-fife", datetime(2027, 8, 1, tzinfo=UTC))
    assert second.period_start == datetime(2027, 8, 1, tzinfo=UTC) and second.budget == 4.0


def test_refused_charges_cost_nothing_and_later_small_ones_pass(sessions: sessionmaker[Session]) -> None:
    outcomes = []
    with sessions() as session:
        for epsilon in (0.4, 0.4, 0.4, 0.1):
            try:
                reserve(session, key(), epsilon)
                outcomes.append(True)
            except BudgetExceeded:
                outcomes.append(False)
        view = budget_view(session, key())
    assert outcomes == [True, True, False, True]
    assert view.epsilon_spent == pytest.approx(0.9) and view.queries == 3
    assert view.epsilon_remaining == pytest.approx(0.1)
    with sessions() as session:  # another agency has its own budget
        assert budget_view(session, key(agency="edu-highland")).epsilon_spent == 0.0


def test_a_charge_is_committed_before_the_caller_continues(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        reserve(session, key(), 0.25)
        session.rollback()  # a later failure in the request cannot refund it
    with sessions() as other:
        row = other.scalars(select(PrivacyBudget)).one()
        assert row.epsilon_spent == 0.25


def small_frame_set() -> FrameSet:
    rng = np.random.default_rng(3)
    geography = GeographyLookup(
        pl.DataFrame(
            {
                "data_zone": [f"DZ{i}" for i in range(6)],
                "intermediate_zone": ["IZ0"] * 3 + ["IZ1"] * 3,
                "council": ["C0"] * 6,
                "population": [200] * 6,
            }
        )
    )
    n = 500
    frame = pl.DataFrame(
        {
            "subject": [f"s{i}" for i in range(n)],
            "data_zone": rng.choice([f"DZ{i}" for i in range(6)], n),
            "flag": rng.random(n) < 0.3,
        }
    )
    catalogue = Catalogue(
        datasets={
            "pupils": {
                "data_zone": FieldSpec(kind="geography", dtype="string"),
                "flag": FieldSpec(kind="categorical", dtype="bool"),
            }
        },
        geography_fields=("pupils.data_zone",),
        max_subjects=10_000,
    )
    return FrameSet(catalogue, {"pupils": frame}, geography)


def test_fifty_concurrent_queries_against_a_budget_for_ten(sessions: sessionmaker[Session]) -> None:
    frames = small_frame_set()
    engine = QueryEngine(frames, DisclosurePolicy(max_epsilon_per_query=1.0))
    spec = QuerySpec(datasets=["pupils"], geography="data_zone", group_by=["pupils.flag"], epsilon=0.1)
    charge = engine.cost(spec)
    budget = 10 * charge + charge / 2  # fits ten, not eleven
    start = threading.Barrier(50)

    def one(_: int) -> bool:
        with sessions() as session:

            def charge(epsilon: float) -> None:
                reserve(session, key(budget), epsilon)

            start.wait()
            try:
                engine.run(spec, charge)
            except BudgetExceeded:
                return False
            return True

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert sum(results) == 10
    with sessions() as session:
        view = budget_view(session, key(budget))
    assert view.queries == 10
    assert view.epsilon_spent <= budget
    assert view.epsilon_spent == pytest.approx(10 * charge)
    # noise was drawn for exactly the ten charged queries: OpenDP's own odometer agrees with the ledger
    assert frames.opendp_privacy_loss() == pytest.approx(view.epsilon_spent)
