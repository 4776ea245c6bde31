"""Approvals are bound to the exact bytes; the lifecycle allows only the documented transitions."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agreements import (
    STATUSES,
    TRANSITIONS,
    Agreement,
    Approval,
    Status,
    TransitionError,
    approval_state,
    effective_status,
    load_file,
    transition,
)
from agreements.model import Validity

EXAMPLES = sorted((Path(__file__).parents[2] / "agreements" / "examples").glob("*.yaml"))
AT = datetime(2026, 10, 1, tzinfo=UTC)


@functools.cache
def _approved(path: Path) -> tuple[Agreement, bytes, tuple[Approval, ...]]:
    agreement = load_file(path)
    document = agreement.canonical_json().encode("utf-8")
    approvals = tuple(
        Approval(p, f"dpo-{p}", agreement.digest(), AT) for p in sorted(agreement.required_approvers())
    )
    return agreement, document, approvals


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_all_required_dpos_complete_the_approval(path: Path) -> None:
    agreement, document, approvals = _approved(path)
    assert approval_state(agreement, document, approvals).complete
    partial = approval_state(agreement, document, approvals[1:])
    assert not partial.complete and partial.missing == {approvals[0].party}


def test_an_approval_from_a_party_that_is_not_required_does_not_count() -> None:
    agreement, document, approvals = _approved(EXAMPLES[0])
    stranger = Approval("socsec-scotland", "dpo", approvals[0].digest, AT)
    assert stranger.party not in approval_state(agreement, document, [stranger]).valid


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_changing_any_byte_of_an_approved_document_voids_its_approvals(data: st.DataObject) -> None:
    agreement, document, approvals = _approved(data.draw(st.sampled_from(EXAMPLES)))
    position = data.draw(st.integers(0, len(document) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != document[position]))
    tampered = document[:position] + bytes([replacement]) + document[position + 1 :]
    state = approval_state(agreement, tampered, approvals)
    assert state.valid == frozenset()
    assert state.missing == agreement.required_approvers()


def test_a_semantic_change_changes_the_digest() -> None:
    agreement = load_file(EXAMPLES[0])
    retitled = agreement.model_copy(update={"title": agreement.title + "."})
    assert retitled.digest() != agreement.digest()


def test_lifecycle_happy_path_and_suspension() -> None:
    status: Status = "draft"
    steps: list[Status] = ["in_review", "approved", "active", "suspended", "active", "revoked"]
    for target in steps:
        status = transition(status, target)
    assert status == "revoked"


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_every_transition_not_listed_is_refused(current: Status, target: Status) -> None:
    if target in TRANSITIONS[current]:
        assert transition(current, target) == target
    else:
        with pytest.raises(TransitionError, match="cannot become"):
            transition(current, target)


def test_draft_cannot_skip_review_and_terminal_states_are_final() -> None:
    assert "active" not in TRANSITIONS["draft"]
    assert "active" not in TRANSITIONS["in_review"]
    for final in ("revoked", "expired", "superseded"):
        assert TRANSITIONS[final] == frozenset()


def test_expiry_is_judged_at_the_request_time() -> None:
    validity = Validity(effective_from=date(2026, 8, 1), expires_on=date(2027, 7, 31))
    assert effective_status("active", validity, datetime(2027, 7, 31, 23, 59, tzinfo=UTC)) == "active"
    assert effective_status("active", validity, datetime(2027, 8, 1, tzinfo=UTC)) == "expired"
    assert effective_status("suspended", validity, datetime(2028, 1, 1, tzinfo=UTC)) == "expired"
    assert effective_status("revoked", validity, datetime(2028, 1, 1, tzinfo=UTC)) == "revoked"
    assert effective_status("draft", validity, datetime(2028, 1, 1, tzinfo=UTC)) == "draft"
