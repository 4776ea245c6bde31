"""The one interface through which every decision reaches the audit log.

``record`` appends inside the caller's transaction, so an allowed action and its audit event land
together or not at all. ``record_denial`` discards the request's pending work, appends the denial and
commits it, so a refused request is audited even though it fails. Either raises if the append fails:
the request then fails too (fail closed).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from audit.event import AuditEvent, Decision
from broker.audit.models import AuditRecord
from broker.logs import request_id_var


def record(session: Session, event: AuditEvent, at: datetime | None = None) -> int:
    if event.request_id is None and request_id_var.get():
        event = replace(event, request_id=request_id_var.get())
    moment = at or datetime.now(UTC)
    body = event.to_dict() | {"at": moment.isoformat()}
    row = AuditRecord(
        at=moment,
        action=event.action,
        decision=str(event.decision),
        actor=event.actor,
        agency=event.agency,
        agreement_id=event.agreement_id,
        body=json.dumps(body, sort_keys=True, separators=(",", ":")),
        summary=body,
    )
    session.add(row)
    session.flush()
    return row.seq


def record_denial(session: Session, event: AuditEvent) -> int:
    if event.decision is not Decision.deny:
        raise ValueError("record_denial takes deny events only")
    session.rollback()
    seq = record(session, event)
    session.commit()
    return seq
