"""Keyring on both databases: create, rotate, read, export, sealing at rest and auditing."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from broker.agencies.models import AgencyKind
from broker.agencies.service import create_agency
from broker.audit.models import AuditRecord
from broker.database import transaction
from broker.errors import Conflict, NotFound
from broker.keys import service
from broker.keys.models import KeyringEntry
from pseudonymise.keymaterial import Purpose, derive_key, read_key_file
from pseudonymise.matchkeys import KeyType
from pseudonymise.tokens import BrokerRekeyer, Tokeniser

MASTER = os.urandom(32)
AGREEMENT = "edu-health-fife"


def _audit(session: Session) -> list[AuditRecord]:
    return list(
        session.scalars(
            select(AuditRecord).where(AuditRecord.action.like("keys.%")).order_by(AuditRecord.seq)
        )
    )


def test_create_read_rotate(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        created = service.create(session, AGREEMENT, actor="op", master_key=MASTER)
    assert [(i.purpose, i.version) for i in created] == [("link", 1), ("broker", 1)]
    with transaction(sessions) as session:
        link = service.linkage_key(session, AGREEMENT, master_key=MASTER)
        stage2 = service.broker_key(session, AGREEMENT, master_key=MASTER)
        with pytest.raises(Conflict):
            service.create(session, AGREEMENT, actor="op", master_key=MASTER)
    assert (link.version, stage2.version) == (1, 1)
    assert link.material == derive_key(MASTER, AGREEMENT, Purpose.LINK, 1)
    assert link.material != stage2.material
    # the two keys work together end to end
    t2 = BrokerRekeyer(stage2).stage2(Tokeniser(link).tokenise(KeyType.CHI, "0101011237"))
    assert str(t2).startswith("t2.chi.v1.b1.")

    with transaction(sessions) as session:
        rotated = service.rotate(session, AGREEMENT, actor="op", master_key=MASTER)
    assert rotated.version == 2
    with transaction(sessions) as session:
        assert service.linkage_key(session, AGREEMENT, master_key=MASTER).version == 2
        assert service.linkage_key(session, AGREEMENT, 1, master_key=MASTER) == link
        assert service.broker_key(session, AGREEMENT, master_key=MASTER) == stage2  # not rotated
        infos = service.keys(session, AGREEMENT)
        events = _audit(session)
    assert [(i.purpose, i.version) for i in infos] == [("broker", 1), ("link", 1), ("link", 2)]
    assert [e.action for e in events] == ["keys.create", "keys.rotate"]


def test_material_is_sealed_at_rest_and_bound_to_its_row(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        service.create(session, AGREEMENT, actor="op", master_key=MASTER)
        service.create(session, "other", actor="op", master_key=MASTER)
    material = derive_key(MASTER, AGREEMENT, Purpose.LINK, 1)
    with transaction(sessions) as session:
        rows = list(session.scalars(select(KeyringEntry)))
        assert all(material not in r.sealed for r in rows)
        with pytest.raises(service.KeyringError):
            service.linkage_key(session, AGREEMENT, master_key=os.urandom(32))
        # a sealed key copied onto another agreement's row does not open there
        other = next(r for r in rows if r.agreement_id == "other" and r.purpose == "link")
        mine = next(r for r in rows if r.agreement_id == AGREEMENT and r.purpose == "link")
        session.execute(update(KeyringEntry).where(KeyringEntry.id == other.id).values(sealed=mine.sealed))
        with pytest.raises(service.KeyringError) as err:
            service.linkage_key(session, "other", master_key=MASTER)
        assert material.hex() not in str(err.value)


def test_missing_keys_are_not_found(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        with pytest.raises(NotFound):
            service.linkage_key(session, "nope", master_key=MASTER)
        with pytest.raises(NotFound):
            service.rotate(session, "nope", actor="op", master_key=MASTER)
        service.create(session, AGREEMENT, actor="op", master_key=MASTER)
        with pytest.raises(NotFound):
            service.linkage_key(session, AGREEMENT, 7, master_key=MASTER)


def test_export_writes_0600_file_and_audits(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(sessions) as session:
        create_agency(
            session, id="fife-education", name="Fife", kind=AgencyKind.education, council_code=None, by=None
        )
        service.create(session, AGREEMENT, actor="op", master_key=MASTER)
        path = service.export(
            session, AGREEMENT, "fife-education", tmp_path / "k.json", actor="op", master_key=MASTER
        )
    assert path.stat().st_mode & 0o777 == 0o600
    doc = read_key_file(path)
    assert (doc.agreement_id, doc.agency_id, doc.key_version) == (AGREEMENT, "fife-education", 1)
    assert doc.linkage_key().material == derive_key(MASTER, AGREEMENT, Purpose.LINK, 1)
    with transaction(sessions) as session:
        events = _audit(session)
        with pytest.raises(NotFound):
            service.export(session, AGREEMENT, "unknown", tmp_path / "x.json", actor="op", master_key=MASTER)
        with pytest.raises(Conflict):
            service.export(session, AGREEMENT, "fife-education", path, actor="op", master_key=MASTER)
    assert events[-1].action == "keys.export"
    body = json.dumps([json.loads(e.body) for e in events])
    assert "fife-education" in body
    assert doc.key not in body and base64.b64decode(doc.key).hex() not in body


def test_master_key_defaults_to_broker_secrets_dir(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from broker.secrets import load_secrets
    from broker.settings import get_settings

    monkeypatch.setenv("BROKER_SECRETS_DIR", str(tmp_path / "secrets"))
    get_settings.cache_clear()
    try:
        master = load_secrets(tmp_path / "secrets").master_key
        with transaction(sessions) as session:
            service.create(session, AGREEMENT, actor="op")
        with transaction(sessions) as session:
            assert service.linkage_key(session, AGREEMENT, master_key=master).material == derive_key(
                master, AGREEMENT, Purpose.LINK, 1
            )
            assert service.broker_key(session, AGREEMENT) == service.broker_key(
                session, AGREEMENT, master_key=master
            )
    finally:
        get_settings.cache_clear()
