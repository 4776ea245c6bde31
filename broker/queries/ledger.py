"""The privacy-budget ledger: per agreement x consumer agency x period, charged before noise, never refunded.

``reserve`` commits the charge in its own short transaction before OpenDP draws any noise: the row is
locked with ``SELECT ... FOR UPDATE`` on PostgreSQL, and a guarded UPDATE (``spent + epsilon <= budget``)
cannot take the spend past the budget on either database (a CHECK constraint backs it). A refused charge
rolls back, so it costs nothing and leaves later, smaller queries possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agreements.durations import parse_duration
from agreements.model import Agreement
from broker.errors import Invalid
from broker.queries.models import PrivacyBudget
from disclosure import BudgetExceeded


class BudgetView(BaseModel):
    agreement_id: str
    agency_id: str
    period_start: datetime
    period_end: datetime
    epsilon_budget: float
    epsilon_spent: float
    epsilon_remaining: float
    queries: int


# --- the ledger -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerKey:
    agreement_id: str
    agency_id: str
    period_start: datetime
    period_end: datetime
    budget: float


def _now() -> datetime:
    return datetime.now(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def ledger_key(agreement: Agreement, agency_id: str, at: datetime) -> LedgerKey:
    """The budget period containing ``at``: periods of ``disclosure.period`` from the agreement's start."""
    disclosure = agreement.disclosure
    if disclosure is None or disclosure.epsilon_per_period is None:
        raise Invalid(f"Agreement '{agreement.id}' sets no epsilon budget, so it allows no dp queries.")
    start = _midnight(agreement.validity.effective_from)
    end = _midnight(agreement.validity.expires_on)
    if disclosure.period is not None:
        step = parse_duration(disclosure.period)
        following = step.add_to(start)
        while following <= at:
            start, following = following, step.add_to(following)
        end = following
    return LedgerKey(agreement.id, agency_id, start, end, disclosure.epsilon_per_period)


def _ledger_row(session: Session, key: LedgerKey, *, lock: bool = False) -> PrivacyBudget | None:
    query = select(PrivacyBudget).where(
        PrivacyBudget.agreement_id == key.agreement_id,
        PrivacyBudget.agency_id == key.agency_id,
        PrivacyBudget.period_start == key.period_start,
    )
    return session.scalars(query.with_for_update() if lock else query).one_or_none()


def _ensure_ledger_row(session: Session, key: LedgerKey) -> None:
    if _ledger_row(session, key) is not None:
        return
    try:
        with session.begin_nested():
            session.add(
                PrivacyBudget(
                    agreement_id=key.agreement_id,
                    agency_id=key.agency_id,
                    period_start=key.period_start,
                    period_end=key.period_end,
                    epsilon_budget=key.budget,
                    epsilon_spent=0.0,
                    queries=0,
                    updated_at=_now(),
                )
            )
    except IntegrityError:
        pass  # another request created it first


def reserve(session: Session, key: LedgerKey, epsilon: float) -> float:
    """Charge ``epsilon`` and commit, or raise ``BudgetExceeded`` having changed nothing; returns the rest.

    Commits the caller's session: the charge must be durable before any noise is drawn.
    """
    _ensure_ledger_row(session, key)
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        _ledger_row(session, key, lock=True)  # SELECT ... FOR UPDATE: concurrent charges queue here
    charged = session.execute(
        update(PrivacyBudget)
        .where(
            PrivacyBudget.agreement_id == key.agreement_id,
            PrivacyBudget.agency_id == key.agency_id,
            PrivacyBudget.period_start == key.period_start,
            PrivacyBudget.epsilon_spent + epsilon <= PrivacyBudget.epsilon_budget,
        )
        .values(
            epsilon_spent=PrivacyBudget.epsilon_spent + epsilon,
            queries=PrivacyBudget.queries + 1,
            updated_at=_now(),
        )
        .execution_options(synchronize_session=False)
    )
    if charged.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise BudgetExceeded("the epsilon budget of this period does not cover the query")
    row = _ledger_row(session, key)
    assert row is not None
    remaining = row.epsilon_budget - row.epsilon_spent
    session.commit()
    return remaining


def budget_view(session: Session, key: LedgerKey) -> BudgetView:
    row = _ledger_row(session, key)
    spent, queries = (row.epsilon_spent, row.queries) if row is not None else (0.0, 0)
    return BudgetView(
        agreement_id=key.agreement_id,
        agency_id=key.agency_id,
        period_start=key.period_start,
        period_end=key.period_end,
        epsilon_budget=key.budget,
        epsilon_spent=spent,
        epsilon_remaining=max(key.budget - spent, 0.0),
        queries=queries,
    )
