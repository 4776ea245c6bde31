"""The keyring use cases: create, rotate, read and export per-agreement keys.

Key material is derived with HKDF from the master secret (``pseudonymise.keymaterial``) when a version
is created, then stored sealed (AES-256-GCM under the keyring wrapping key, bound to agreement,
purpose and version). Reads unseal the stored copy rather than re-deriving, so a future change of
master secret only needs the rows re-wrapped. Nothing here logs or returns key material except
:func:`export`, which writes the agency's 0600 key file and is audited.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.event import AuditEvent, Decision
from broker.agencies.models import Agency
from broker.audit.service import record
from broker.errors import Conflict, NotFound
from broker.keys.models import KeyringEntry
from broker.secrets import load_secrets
from broker.settings import get_settings
from pseudonymise.keymaterial import (
    Purpose,
    SealError,
    derive_key,
    fingerprint,
    key_info,
    open_sealed,
    seal,
    wrapping_key,
    write_key_file,
)
from pseudonymise.tokens import BrokerKey, LinkageKey


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the material."""

    agreement_id: str
    purpose: str
    version: int
    fingerprint: str
    created_at: datetime
    created_by: str | None


class KeyringError(Exception):
    """A stored key did not unseal: the master secret changed or the row was tampered with."""


@functools.cache
def _settings_master_key(secrets_dir: Path) -> bytes:
    return load_secrets(secrets_dir).master_key


def _master(master_key: bytes | None) -> bytes:
    """The caller's master key, else the one in ``BROKER_SECRETS_DIR`` (the app and CLI hold the same)."""
    return master_key if master_key is not None else _settings_master_key(get_settings().secrets_dir)


def _info(entry: KeyringEntry) -> KeyInfo:
    return KeyInfo(
        entry.agreement_id,
        entry.purpose,
        entry.version,
        entry.fingerprint,
        entry.created_at,
        entry.created_by,
    )


def _latest_version(session: Session, agreement_id: str, purpose: Purpose) -> int | None:
    return session.scalar(
        select(func.max(KeyringEntry.version)).where(
            KeyringEntry.agreement_id == agreement_id, KeyringEntry.purpose == purpose.value
        )
    )


def _add(
    session: Session, master: bytes, agreement_id: str, purpose: Purpose, version: int, actor: str | None
) -> KeyringEntry:
    material = derive_key(master, agreement_id, purpose, version)
    entry = KeyringEntry(
        agreement_id=agreement_id,
        purpose=purpose.value,
        version=version,
        sealed=seal(wrapping_key(master), material, key_info(agreement_id, purpose, version)),
        fingerprint=fingerprint(material),
        created_at=datetime.now(UTC),
        created_by=actor,
    )
    session.add(entry)
    session.flush()
    return entry


def _material(
    session: Session, master: bytes, agreement_id: str, purpose: Purpose, version: int | None
) -> tuple[int, bytes]:
    if version is None:
        version = _latest_version(session, agreement_id, purpose)
    entry = None
    if version is not None:
        entry = session.scalar(
            select(KeyringEntry).where(
                KeyringEntry.agreement_id == agreement_id,
                KeyringEntry.purpose == purpose.value,
                KeyringEntry.version == version,
            )
        )
    if entry is None or version is None:
        raise NotFound(
            f"no {purpose.value} key for agreement {agreement_id}"
            + (f" at version {version}" if version is not None else "")
            + "; an operator creates one with `broker keys create`",
            agreement_id=agreement_id,
        )
    try:
        return version, open_sealed(
            wrapping_key(master), entry.sealed, key_info(agreement_id, purpose, version)
        )
    except SealError:
        raise KeyringError(
            f"stored {purpose.value} key v{version} of agreement {agreement_id} does not unseal with this "
            "master secret (BROKER_SECRETS_DIR changed, or the row was altered)"
        ) from None


def linkage_key(
    session: Session, agreement_id: str, version: int | None = None, *, master_key: bytes | None = None
) -> LinkageKey:
    """The agreement's stage-1 key: the latest version, or ``version``. NotFound when none exists."""
    found, material = _material(session, _master(master_key), agreement_id, Purpose.LINK, version)
    return LinkageKey(agreement_id, found, material)


def broker_key(session: Session, agreement_id: str, *, master_key: bytes | None = None) -> BrokerKey:
    """The agreement's current stage-2 key (it never leaves the broker)."""
    found, material = _material(session, _master(master_key), agreement_id, Purpose.BROKER, None)
    return BrokerKey(agreement_id, found, material)


def keys(session: Session, agreement_id: str) -> list[KeyInfo]:
    """Every key version of the agreement, metadata only."""
    rows = session.scalars(
        select(KeyringEntry)
        .where(KeyringEntry.agreement_id == agreement_id)
        .order_by(KeyringEntry.purpose, KeyringEntry.version)
    )
    return [_info(r) for r in rows]


def create(
    session: Session, agreement_id: str, *, actor: str | None, master_key: bytes | None = None
) -> list[KeyInfo]:
    """Version 1 of the linkage key and of the broker key. Conflict if the agreement has keys already."""
    if _latest_version(session, agreement_id, Purpose.LINK) is not None:
        raise Conflict(
            f"agreement {agreement_id} already has keys; use `broker keys rotate`", agreement_id=agreement_id
        )
    master = _master(master_key)
    entries = [_add(session, master, agreement_id, p, 1, actor) for p in (Purpose.LINK, Purpose.BROKER)]
    record(
        session,
        AuditEvent(
            action="keys.create",
            decision=Decision.allow,
            actor=actor,
            agreement_id=agreement_id,
            result={"link_version": 1, "broker_version": 1},
        ),
    )
    return [_info(e) for e in entries]


def rotate(
    session: Session, agreement_id: str, *, actor: str | None, master_key: bytes | None = None
) -> KeyInfo:
    """A new linkage-key version; agencies must fetch it and pseudonymise again.

    The broker key is not rotated here: stage-2 tokens already stored are bound to it.
    """
    current = _latest_version(session, agreement_id, Purpose.LINK)
    if current is None:
        raise NotFound(
            f"agreement {agreement_id} has no keys; use `broker keys create`", agreement_id=agreement_id
        )
    entry = _add(session, _master(master_key), agreement_id, Purpose.LINK, current + 1, actor)
    record(
        session,
        AuditEvent(
            action="keys.rotate",
            decision=Decision.allow,
            actor=actor,
            agreement_id=agreement_id,
            result={"link_version": entry.version, "previous_version": current},
        ),
    )
    return _info(entry)


def export(
    session: Session,
    agreement_id: str,
    agency_id: str,
    target: Path,
    *,
    actor: str | None,
    version: int | None = None,
    master_key: bytes | None = None,
) -> Path:
    """Write the agency's linkage-key file (mode 0600, never overwriting) and audit the export.

    The audit event is recorded before the file is written, so an export that cannot be audited
    never happens; if writing fails the caller's transaction rolls the event back.
    """
    if session.get(Agency, agency_id) is None:
        raise NotFound(f"agency {agency_id} is not registered", agency_id=agency_id)
    key = linkage_key(session, agreement_id, version, master_key=master_key)
    if target.exists():
        raise Conflict(f"{target.name} already exists; choose another path", path=str(target))
    record(
        session,
        AuditEvent(
            action="keys.export",
            decision=Decision.allow,
            actor=actor,
            agreement_id=agreement_id,
            result={
                "recipient_agency": agency_id,
                "link_version": key.version,
                "fingerprint": fingerprint(key.material),
            },
        ),
    )
    return write_key_file(target, key, agency_id)
