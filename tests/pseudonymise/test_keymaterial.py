"""HKDF derivation, AES-GCM sealing and the agency key file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.keymaterial import (
    AgencyKeyFile,
    KeyFileError,
    Purpose,
    SealError,
    derive_key,
    key_info,
    open_sealed,
    read_key_file,
    seal,
    write_key_file,
)
from pseudonymise.tokens import LinkageKey

MASTER = os.urandom(32)
VERSIONED = [Purpose.LINK, Purpose.BROKER]


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"\A[a-z0-9.-]{1,20}\Z"), st.sampled_from(VERSIONED), st.integers(1, 50))
def test_derivation_is_deterministic_and_domain_separated(
    agreement: str, purpose: Purpose, version: int
) -> None:
    key = derive_key(MASTER, agreement, purpose, version)
    assert len(key) == 32
    assert key == derive_key(MASTER, agreement, purpose, version)
    other_purpose = Purpose.BROKER if purpose is Purpose.LINK else Purpose.LINK
    assert key != derive_key(MASTER, agreement, other_purpose, version)
    assert key != derive_key(MASTER, agreement, purpose, version + 1)
    assert key != derive_key(MASTER, agreement + "x", purpose, version)
    assert key != derive_key(os.urandom(32), agreement, purpose, version)
    assert key != derive_key(MASTER, agreement, Purpose.SUBJECT, 1)


@pytest.mark.parametrize(
    ("purpose", "version", "expected"),
    [
        (Purpose.LINK, 1, "5de3455ed99f52012f3f61447f8a69bb020b33384f4e126ab95676a6693d6799"),
        (Purpose.BROKER, 2, "c4c8b867ee72ac8d91a4513b7269585a32d69817fe8382fd8f58b0eedb84a11c"),
        # the subject key as broker.extracts derived it before it moved here: stored pseudonyms keep
        (Purpose.SUBJECT, 1, "0eb99dd2fdedac4f55df9c1ae77572363f3fe732f96ce72463d863ecf5d62630"),
    ],
)
def test_derived_keys_are_pinned(purpose: Purpose, version: int, expected: str) -> None:
    assert derive_key(bytes(range(32)), "isa-fife-early-intervention", purpose, version).hex() == expected


@settings(max_examples=30, deadline=None)
@given(st.from_regex(r"\A[a-z0-9.-]{1,20}\Z"))
def test_subject_keys_are_per_agreement_and_have_one_version(agreement: str) -> None:
    key = derive_key(MASTER, agreement, Purpose.SUBJECT, 1)
    assert key != derive_key(MASTER, agreement + "x", Purpose.SUBJECT, 1)
    assert key not in {derive_key(MASTER, agreement, p, 1) for p in VERSIONED}
    with pytest.raises(ValueError):
        derive_key(MASTER, agreement, Purpose.SUBJECT, 2)


def test_info_cannot_run_together() -> None:
    assert key_info("a1", Purpose.LINK, 1) != key_info("a", Purpose.LINK, 11)
    with pytest.raises(ValueError):
        key_info("a\x00b", Purpose.LINK, 1)
    with pytest.raises(ValueError):
        derive_key(b"too short", "a", Purpose.LINK, 1)


def test_seal_round_trip_and_tamper_detection() -> None:
    wrap = os.urandom(32)
    aad = key_info("a", Purpose.LINK, 1)
    sealed = seal(wrap, b"secret key material.............", aad)
    assert b"secret" not in sealed
    assert open_sealed(wrap, sealed, aad) == b"secret key material............."
    assert seal(wrap, b"x", aad) != seal(wrap, b"x", aad)  # fresh nonce
    with pytest.raises(SealError):
        open_sealed(wrap, sealed, key_info("a", Purpose.LINK, 2))  # moved to another row
    with pytest.raises(SealError):
        open_sealed(os.urandom(32), sealed, aad)
    with pytest.raises(SealError):
        open_sealed(wrap, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
    with pytest.raises(SealError):
        open_sealed(wrap, sealed[:10], aad)


def test_key_file_round_trip_is_0600(tmp_path: Path) -> None:
    key = LinkageKey("edu-health", 3, os.urandom(32))
    path = write_key_file(tmp_path / "k.json", key, "school-a")
    assert path.stat().st_mode & 0o777 == 0o600
    doc = read_key_file(path)
    assert (doc.agreement_id, doc.agency_id, doc.key_version) == ("edu-health", "school-a", 3)
    assert doc.linkage_key() == key
    assert doc.key not in repr(doc)
    with pytest.raises(FileExistsError):
        write_key_file(path, key, "school-a")


def test_key_file_refusals(tmp_path: Path) -> None:
    path = write_key_file(tmp_path / "k.json", LinkageKey("a", 1, os.urandom(32)), "x")
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_key_file(path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "broker-linkage-key/1", "agreement_id": "a"}')
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a valid"):
        read_key_file(bad)
    with pytest.raises(KeyFileError, match="cannot read"):
        read_key_file(tmp_path / "missing.json")
    short = AgencyKeyFile(agreement_id="a", agency_id="x", key_version=1, key="c2hvcnQ=")
    with pytest.raises(KeyFileError, match="32 bytes"):
        short.linkage_key()
