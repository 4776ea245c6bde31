"""The agreement lifecycle as pure functions, so the database layer cannot invent a transition."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from agreements.model import Validity

Status = Literal["draft", "in_review", "approved", "active", "suspended", "revoked", "expired", "superseded"]
STATUSES: tuple[Status, ...] = (
    "draft",
    "in_review",
    "approved",
    "active",
    "suspended",
    "revoked",
    "expired",
    "superseded",
)
TERMINAL: frozenset[Status] = frozenset({"revoked", "expired", "superseded"})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    "draft": frozenset({"in_review"}),
    "in_review": frozenset({"approved", "draft"}),
    "approved": frozenset({"active", "revoked", "superseded"}),
    "active": frozenset({"suspended", "revoked", "expired", "superseded"}),
    "suspended": frozenset({"active", "revoked", "expired", "superseded"}),
    "revoked": frozenset(),
    "expired": frozenset(),
    "superseded": frozenset(),
}


class TransitionError(ValueError):
    """A lifecycle step that the state machine does not allow."""

    def __init__(self, current: Status, target: Status) -> None:
        super().__init__(f"an agreement that is {current} cannot become {target}")
        self.current = current
        self.target = target


def transition(current: Status, target: Status) -> Status:
    """Return ``target`` if the lifecycle allows ``current -> target``, else raise TransitionError."""
    if target not in TRANSITIONS[current]:
        raise TransitionError(current, target)
    return target


def effective_status(stored: Status, validity: Validity, at: datetime) -> Status:
    """The status as seen at ``at``: past ``expires_on`` an approved/active/suspended version is expired.

    Expiry is evaluated against the request time, so it takes effect without any job or restart.
    """
    if stored in ("approved", "active", "suspended") and at >= validity.not_after():
        return "expired"
    return stored
