"""Whole-log verification: recompute the tree from the stored events and hold it against every checkpoint.

Each stored row is re-serialised by the caller into leaf bytes (so a change to any stored field changes the
leaf), checked against the leaf hash stored beside it, and appended to a ``CompactTree``; when the tree
reaches a checkpoint's size its root must equal the signed one. Every checkpoint matching the one recomputed
tree also makes all checkpoints consistent with each other, which is what a consistency proof would show.

The first bad sequence number is exact when the row itself gives it away (a gap or repeat in the sequence,
a stored leaf hash or tree size that does not match). A forger who also rewrites the stored hashes is
caught by the next checkpoint, which cannot say which row changed; so can a cut-off tail. Then the
report names the first sequence number no good checkpoint vouches for.

A missing sequence number is always a failure, but the reason says which kind: below a checkpoint's size
the event was sealed, so it was deleted; above every checkpoint it may also be a number drawn by a
transaction that never committed (a store that numbers from a sequence files those as gap events when it
next signs a checkpoint), and the report says so rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import NamedTuple

from audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from audit.merkle import LEAF_PREFIX, CompactTree
from audit.note import NoteVerifier


class LogEntry(NamedTuple):
    """One stored row as the verifier sees it: its sequence number, its leaf bytes re-serialised from the
    stored fields, and (if the store keeps them) the leaf hash and tree size written at append time.

    A tuple, not a dataclass: the verifier unpacks a million of these and attribute lookups show up."""

    seq: int
    data: bytes
    leaf_hash: bytes | None = None
    tree_size: int | None = None


_BATCH = 4096


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    root: bytes
    first_bad_seq: int | None = None
    reason: str | None = None
    unanchored: int = 0
    """Entries after the last good checkpoint: intact as far as the stored hashes go, but not yet signed."""


def open_checkpoints(
    notes: Iterable[str], verifiers: Sequence[NoteVerifier], origin: str
) -> tuple[list[Checkpoint], str | None]:
    """Verify and parse signed checkpoints, sorted by size; stop at the first bad one and say which."""
    opened: list[Checkpoint] = []
    for i, note in enumerate(notes):
        try:
            opened.append(open_checkpoint(note, verifiers, origin))
        except CheckpointError as exc:
            return opened, f"checkpoint #{i}: {exc}"
    return sorted(opened, key=lambda c: c.size), None


def _missing(seq: int, checkpoints: Sequence[Checkpoint]) -> str:
    sealed = max((c.size for c in checkpoints), default=0)
    if seq < sealed:
        return (
            f"sequence number {seq} is missing below the checkpoint at size {sealed}: the event was deleted"
        )
    return (
        f"sequence number {seq} is missing and no checkpoint covers it yet: either the transaction that "
        "drew it did not commit (the next checkpoint records it as a gap event) or the event was deleted"
    )


def verify_log(entries: Iterable[LogEntry], checkpoints: Sequence[Checkpoint]) -> VerifyReport:
    """Stream ``entries`` (ordered by seq, starting at 0) against already-verified ``checkpoints``.

    After a checkpoint mismatch the scan goes on, because a row further on may still say exactly which
    sequence number is bad; row evidence inside the failed checkpoint's range wins over the range's start.
    """
    pending = sorted(checkpoints, key=lambda c: c.size)
    tree = CompactTree()
    anchored = 0
    next_cp = 0
    failed: tuple[int, int, str] | None = None  # first unvouched seq, failing checkpoint size, reason

    def bad(seq: int, reason: str) -> VerifyReport:
        if failed is not None and not failed[0] <= seq < failed[1]:
            seq, reason = failed[0], failed[2]
        return VerifyReport(False, tree.size, next_cp, tree.root(), seq, reason, tree.size - anchored)

    def check_checkpoints() -> None:
        nonlocal anchored, next_cp, failed
        while next_cp < len(pending) and pending[next_cp].size == tree.size:
            if failed is None and pending[next_cp].root != tree.root():
                failed = (
                    anchored,
                    tree.size,
                    f"checkpoint at size {tree.size} does not match the recomputed tree",
                )
            elif failed is None:
                anchored = tree.size
            next_cp += 1

    check_checkpoints()
    # The loop below is the verifier's whole cost: it hashes leaves inline (RFC 9162 leaf_hash) and hands
    # them to the tree in batches, flushed at every checkpoint size and before any report.
    batch: list[bytes] = []
    keep, hasher, prefix = batch.append, sha256, LEAF_PREFIX
    next_size = pending[next_cp].size if next_cp < len(pending) else -1
    flush_at = min(_BATCH, next_size) if next_size > 0 else _BATCH
    for expected, (seq, data, stored_hash, stored_size) in enumerate(entries):
        if seq != expected:
            tree.extend(batch)
            if seq > expected:
                return bad(expected, _missing(expected, pending))
            return bad(seq, "sequence repeats or goes back")
        h = hasher(prefix + data).digest()
        if stored_hash != h and stored_hash is not None:
            tree.extend(batch)
            return bad(expected, "stored leaf hash does not match the event")
        size = expected + 1
        if stored_size != size and stored_size is not None:
            tree.extend(batch)
            return bad(expected, "stored tree size does not match the position")
        keep(h)
        if size == flush_at:
            tree.extend(batch)
            batch.clear()
            if size == next_size:
                check_checkpoints()
                next_size = pending[next_cp].size if next_cp < len(pending) else -1
            flush_at = min(size + _BATCH, next_size) if next_size > size else size + _BATCH
    tree.extend(batch)
    if failed is not None:
        return bad(failed[0], failed[2])
    if next_cp < len(pending):
        return bad(anchored, f"checkpoint at size {pending[next_cp].size} is beyond the end of the log")
    return VerifyReport(True, tree.size, next_cp, tree.root(), unanchored=tree.size - anchored)
