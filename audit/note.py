"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, via pycryptodome.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
``— <key name> <base64(key id || signature)>``. The key id is the first four bytes of
``SHA-256(name || 0x0A || 0x01 || public key)``, so a verifier picks the right key without trying all.
Key strings follow golang.org/x/mod/sumdb/note: ``name+hexid+base64(0x01 || public key)`` for verifiers and
``PRIVATE+KEY+name+hexid+base64(0x01 || seed)`` for signers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

ED25519 = 0x01
_SIG_PREFIX = "— "
_MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or signature is malformed or does not verify; messages name the check, not the data."""


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError("key name must be non-empty, without spaces or '+'")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("invalid base64") from exc


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 public key with its note name; parsed from or printed as a verifier key string."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("Ed25519 public keys are 32 bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @classmethod
    def from_string(cls, vkey: str) -> NoteVerifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must be name+id+key")
        name, hex_id, encoded = parts
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("verifier key is not an Ed25519 key")
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != hex_id:
            raise NoteError("verifier key id does not match the key")
        return verifier

    def to_string(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        key = eddsa.import_public_key(self.public_key)
        try:
            eddsa.new(key, "rfc8032").verify(message, signature)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 private key (its 32-byte seed) with its note name."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.seed) != 32:
            raise NoteError("Ed25519 seeds are 32 bytes")

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        key = ECC.generate(curve="Ed25519")
        return cls(name, key.seed)

    @classmethod
    def from_string(cls, skey: str) -> NoteSigner:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("signer key must be PRIVATE+KEY+name+id+key")
        name, hex_id, encoded = parts[2:]
        raw = _b64decode(encoded)
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("signer key is not an Ed25519 key")
        signer = cls(name, raw[1:])
        if signer.verifier().key_id.hex() != hex_id:
            raise NoteError("signer key id does not match the key")
        return signer

    def to_string(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id.hex()}+{encoded}"

    def verifier(self) -> NoteVerifier:
        public = eddsa.import_private_key(self.seed).public_key().export_key(format="raw")
        return NoteVerifier(self.name, public)

    def sign(self, message: bytes) -> bytes:
        return eddsa.new(eddsa.import_private_key(self.seed), "rfc8032").sign(message)


def _check_text(text: str) -> bytes:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(c < " " and c != "\n" for c in text):
        raise NoteError("note text must not contain control characters")
    return text.encode("utf-8")


def sign_note(text: str, *signers: NoteSigner) -> str:
    """The signed note: ``text``, a blank line and one signature line per signer."""
    message = _check_text(text)
    lines = []
    for signer in signers:
        blob = signer.verifier().key_id + signer.sign(message)
        lines.append(f"{_SIG_PREFIX}{signer.name} {base64.b64encode(blob).decode()}\n")
    return text + "\n" + "".join(lines)


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> tuple[str, list[NoteVerifier]]:
    """Split and check a signed note; return its text and the known keys that signed it.

    Signatures by unknown keys are ignored, as the spec requires; a signature by a known key that does not
    verify, or a note no known key signed, is an error.
    """
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("note has no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    message = _check_text(text)
    known = {(v.name, v.key_id): v for v in verifiers}
    signed: list[NoteVerifier] = []
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError("too many signatures")
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed signature line")
        fields = line[len(_SIG_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise NoteError("malformed signature line")
        name, blob = fields[0], _b64decode(fields[1])
        if len(blob) < 5:
            raise NoteError("signature too short")
        verifier = known.get((name, blob[:4]))
        if verifier is None:
            continue
        if not verifier.verify(message, blob[4:]):
            raise NoteError("a signature by a known key does not verify")
        if verifier not in signed:
            signed.append(verifier)
    if not signed:
        raise NoteError("no known key signed the note")
    return text, signed
