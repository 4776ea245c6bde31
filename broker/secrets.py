"""Key files under ``BROKER_SECRETS_DIR``: created once with 0600 permissions, never logged."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from Crypto.PublicKey import ECC

from broker.settings import ConfigError

MASTER_KEY_FILE = "master.key"
SIGNING_KEY_FILE = "signing.key"
_SETTING = "BROKER_SECRETS_DIR"


@dataclass(frozen=True)
class Secrets:
    """The broker's long-lived secrets. ``repr`` hides them so they cannot leak into logs."""

    master_key: bytes = field(repr=False)
    signing_key: ECC.EccKey = field(repr=False)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            _SETTING, f"cannot read {path.name} ({exc.strerror}); check the directory's permissions"
        ) from None


def load_secrets(directory: Path) -> Secrets:
    """Load the master and signing keys, creating them on first run."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(_SETTING, f"cannot create {directory} ({exc.strerror})") from None
    if not os.access(directory, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(_SETTING, f"{directory} is not readable and writable by this user")
    master_path = directory / MASTER_KEY_FILE
    signing_path = directory / SIGNING_KEY_FILE
    try:
        if not master_path.exists():
            _write_private(master_path, secrets.token_bytes(32))
        if not signing_path.exists():
            pem = ECC.generate(curve="ed25519").export_key(format="PEM")
            _write_private(signing_path, pem.encode())
    except OSError as exc:
        raise ConfigError(_SETTING, f"cannot create key files in {directory} ({exc.strerror})") from None
    master = _read(master_path)
    if len(master) != 32:
        raise ConfigError(_SETTING, f"{MASTER_KEY_FILE} must hold exactly 32 bytes")
    try:
        signing = ECC.import_key(_read(signing_path).decode())
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(_SETTING, f"{SIGNING_KEY_FILE} is not an Ed25519 private key in PEM form") from None
    if signing.curve != "Ed25519" or not signing.has_private():
        raise ConfigError(_SETTING, f"{SIGNING_KEY_FILE} is not an Ed25519 private key")
    return Secrets(master_key=master, signing_key=signing)
