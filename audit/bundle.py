"""Checking an exported audit bundle without access to the broker.

A bundle is JSON lines: one ``checkpoint`` line (the signed note) and then ``event`` lines, each with the
event's canonical body, its sequence number and an RFC 9162 inclusion proof against that checkpoint. An
agency, DPO or regulator who holds the broker's verifier key can confirm that every event is in the log
the broker signed, and unchanged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from audit.canonical import leaf_bytes
from audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from audit.merkle import ProofError, leaf_hash, verify_inclusion
from audit.note import NoteVerifier


@dataclass(frozen=True)
class BundleReport:
    ok: bool
    events: int
    checkpoint: Checkpoint | None
    bad_seqs: tuple[int, ...] = ()
    reason: str | None = None


def verify_bundle(lines: Iterable[str], verifiers: Sequence[NoteVerifier], origin: str) -> BundleReport:
    """Check the checkpoint signature and every event's inclusion proof; list the seqs that fail."""
    it = iter(line for line in lines if line.strip())
    try:
        head = json.loads(next(it))
        checkpoint = open_checkpoint(head["note"], verifiers, origin)
    except (StopIteration, ValueError, KeyError, TypeError, CheckpointError) as exc:
        return BundleReport(False, 0, None, reason=f"checkpoint line: {exc}")
    bad: list[int] = []
    count = 0
    for count, line in enumerate(it, start=1):  # noqa: B007  (count is the number of events read)
        seq = -1
        try:
            event = json.loads(line)
            seq = int(event["seq"])
            proof = [base64.b64decode(p, validate=True) for p in event["proof"]]
            leaf = leaf_hash(leaf_bytes(seq, event["body"].encode("utf-8")))
            verify_inclusion(seq, checkpoint.size, leaf, proof, checkpoint.root)
        except (ValueError, KeyError, TypeError, binascii.Error, ProofError):
            bad.append(seq)
    reason = None if not bad else f"{len(bad)} events fail their inclusion proof"
    return BundleReport(not bad, count, checkpoint, tuple(bad), reason)
