"""Key derivation, sealing at rest and the agency key file.

Every key is derived from one master secret with HKDF-SHA256 and an info string naming the agreement,
the purpose (``link`` for the agency's stage-1 key, ``broker`` for stage 2, ``subject`` for the
per-agreement subject pseudonyms) and the version, so no two keys are related and a rotation is just a
new version. Sealed key material is AES-256-GCM with
associated data naming the same triple, so a sealed key copied to another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Final

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pseudonymise.tokens import KEY_BYTES, LinkageKey

_INFO_PREFIX: Final = b"broker/pseudonymise/v1"
#: the subject key's info as first issued; changing it would rename every stored subject pseudonym
_SUBJECT_INFO: Final = b"broker/subjects/v1\x00"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
MIN_MASTER_BYTES: Final = 32


class Purpose(enum.StrEnum):
    LINK = "link"
    BROKER = "broker"
    #: subject pseudonyms of one agreement, so subjects cannot be compared across agreements
    SUBJECT = "subject"


def key_info(agreement_id: str, purpose: Purpose, version: int) -> bytes:
    """The HKDF info (also the AES-GCM associated data): NUL-separated, so fields cannot run together.

    ``SUBJECT`` keeps the info it was first derived with (its own prefix, no version field), so the
    pseudonyms already stored keep their values; it has only version 1, as a new one would rename
    every child.
    """
    if "\x00" in agreement_id or not agreement_id:
        raise ValueError("agreement id must be non-empty and contain no NUL")
    if version < 1:
        raise ValueError("key version must be >= 1")
    if purpose is Purpose.SUBJECT:
        if version != 1:
            raise ValueError("subject keys have only version 1")
        return _SUBJECT_INFO + agreement_id.encode("utf-8")
    return b"\x00".join(
        (_INFO_PREFIX, purpose.value.encode(), agreement_id.encode("utf-8"), str(version).encode())
    )


def derive_key(master: bytes, agreement_id: str, purpose: Purpose, version: int) -> bytes:
    """32 bytes of key material for (agreement, purpose, version) from the master secret."""
    if len(master) < MIN_MASTER_BYTES:
        raise ValueError(f"master secret must be at least {MIN_MASTER_BYTES} bytes")
    derived = HKDF(master, KEY_BYTES, b"", SHA256, context=key_info(agreement_id, purpose, version))
    assert isinstance(derived, bytes)
    return derived


def wrapping_key(master: bytes) -> bytes:
    """The key that seals a keyring at rest; its own HKDF domain, so it equals no agreement key."""
    if len(master) < MIN_MASTER_BYTES:
        raise ValueError(f"master secret must be at least {MIN_MASTER_BYTES} bytes")
    derived = HKDF(master, KEY_BYTES, b"", SHA256, context=_INFO_PREFIX + b"\x00keyring-wrap")
    assert isinstance(derived, bytes)
    return derived


def fingerprint(material: bytes) -> str:
    """First 8 bytes of SHA-256 (hex): lets an agency and the broker confirm they hold the same key."""
    return hashlib.sha256(b"broker-key-fingerprint\x00" + material).hexdigest()[:16]


class SealError(Exception):
    """Sealed data did not authenticate: wrong key, wrong associated data, or tampering."""


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM: ``nonce (12) || ciphertext || tag (16)`` with a fresh random nonce."""
    if len(key) != 32:
        raise ValueError("sealing key must be 32 bytes")
    nonce = os.urandom(_NONCE_BYTES)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(associated_data)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return nonce + ciphertext + tag


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Inverse of :func:`seal`; raises :class:`SealError` rather than returning unauthenticated bytes."""
    if len(key) != 32:
        raise ValueError("sealing key must be 32 bytes")
    if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        raise SealError("sealed data is truncated")
    nonce, body, tag = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(associated_data)
    try:
        return cipher.decrypt_and_verify(body, tag)
    except ValueError:
        raise SealError("sealed data failed authentication") from None


KEY_FILE_FORMAT: Final = "broker-linkage-key/1"


class KeyFileError(Exception):
    """The agency key file cannot be used; the message says why, never the key."""


class AgencyKeyFile(BaseModel):
    """The JSON an agency's data officer receives: one linkage key for one agreement and agency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = Field(default=KEY_FILE_FORMAT, pattern=f"^{KEY_FILE_FORMAT}$")
    agreement_id: str = Field(min_length=1)
    agency_id: str = Field(min_length=1)
    key_version: int = Field(ge=1)
    key: str = Field(repr=False, description="base64 of the 32-byte linkage key")
    fingerprint: str | None = Field(default=None, description="see keymaterial.fingerprint")

    def linkage_key(self) -> LinkageKey:
        try:
            material = base64.b64decode(self.key, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFileError("key is not valid base64") from None
        if self.fingerprint is not None and fingerprint(material) != self.fingerprint:
            raise KeyFileError("key does not match its fingerprint (damaged or edited file)")
        try:
            return LinkageKey(self.agreement_id, self.key_version, material)
        except ValueError as exc:
            raise KeyFileError(str(exc)) from None


def write_key_file(path: Path, key: LinkageKey, agency_id: str) -> Path:
    """Create ``path`` with mode 0600 (never overwriting) holding ``key`` for ``agency_id``."""
    doc = AgencyKeyFile(
        agreement_id=key.agreement_id,
        agency_id=agency_id,
        key_version=key.version,
        key=base64.b64encode(key.material).decode("ascii"),
        fingerprint=fingerprint(key.material),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(doc.model_dump_json(indent=2) + "\n")
    return path


def read_key_file(path: Path) -> AgencyKeyFile:
    """Load an agency key file, refusing one that group or others can read (like ssh does)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"cannot read key file ({exc.strerror})") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError("key file is readable by group or others; chmod 600 it")
    try:
        return AgencyKeyFile.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError):
        raise KeyFileError("key file is not a valid broker linkage key file") from None
