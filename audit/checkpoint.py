"""C2SP tlog-checkpoints (c2sp.org/tlog-checkpoint): the signed statement "the log named ``origin`` had
``size`` entries with root ``root``", handed to auditors and witnesses so the operator cannot later
rewrite history without the signature giving it away."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from audit.merkle import HASH_SIZE
from audit.note import NoteError, NoteSigner, NoteVerifier, open_note, sign_note


class CheckpointError(ValueError):
    """A checkpoint body is malformed or its note does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("origin must be one non-empty line")
        if self.size < 0:
            raise CheckpointError("tree size must not be negative")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError("root hash has the wrong length")
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointError("extension lines must be non-empty single lines")

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        if not body.endswith("\n"):
            raise CheckpointError("checkpoint must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
            raise CheckpointError("tree size must be a decimal number without leading zeros")
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError("root hash is not base64") from exc
        return cls(origin, int(size_text), root, tuple(extensions))

    def sign(self, *signers: NoteSigner) -> str:
        return sign_note(self.body(), *signers)


def open_checkpoint(note: str, verifiers: Sequence[NoteVerifier], origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; ``origin`` pins which log it must be about."""
    try:
        text, _ = open_note(note, verifiers)
    except NoteError as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from exc
    checkpoint = Checkpoint.parse(text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError("checkpoint is for a different log")
    return checkpoint
