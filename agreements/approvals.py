"""Approvals bound to the exact bytes of a version: any change to the document voids them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from agreements.model import Agreement


@dataclass(frozen=True)
class Approval:
    """A DPO's approval of one version, identified by the SHA-256 of its canonical JSON."""

    party: str
    approver: str
    digest: str
    at: datetime


@dataclass(frozen=True)
class ApprovalState:
    valid: frozenset[str]
    missing: frozenset[str]

    @property
    def complete(self) -> bool:
        return not self.missing


def document_digest(document: bytes | str) -> str:
    """SHA-256 (hex) of the stored document bytes (UTF-8 for text)."""
    data = document.encode("utf-8") if isinstance(document, str) else document
    return hashlib.sha256(data).hexdigest()


def approval_state(
    agreement: Agreement, document: bytes | str, approvals: Iterable[Approval]
) -> ApprovalState:
    """Which required parties have approved exactly ``document``.

    The digest is taken over the stored bytes, not a re-serialisation, so changing any byte (even one
    that parses to the same content) voids every approval; an approval for a party that is not a
    required approver does not count.
    """
    digest = document_digest(document)
    required = agreement.required_approvers()
    valid = frozenset(a.party for a in approvals if a.digest == digest and a.party in required)
    return ApprovalState(valid=valid, missing=required - valid)
