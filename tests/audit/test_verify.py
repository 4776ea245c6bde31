"""Whole-log verification: any single change, deletion, insertion or reordering is found and named."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import verify
from audit.canonical import canonical_bytes, leaf_bytes
from audit.checkpoint import Checkpoint
from audit.merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from audit.note import NoteSigner
from audit.verify import LogEntry, open_checkpoints, verify_log

ORIGIN = "broker.test/audit"
SIGNER = NoteSigner.generate(ORIGIN)


@dataclass(frozen=True)
class Row:
    """A stored row as a database would hold it: fields, plus the leaf hash and size written at append."""

    seq: int
    fields: dict[str, Any]
    leaf_hash: bytes
    tree_size: int

    def entry(self) -> LogEntry:
        return LogEntry(self.seq, _data(self.seq, self.fields), self.leaf_hash, self.tree_size)


def _data(seq: int, fields: dict[str, Any]) -> bytes:
    return leaf_bytes(seq, canonical_bytes(fields))


def _row(seq: int, fields: dict[str, Any]) -> Row:
    return Row(seq, fields, leaf_hash(_data(seq, fields)), seq + 1)


def _log(n: int, checkpoint_every: int) -> tuple[list[Row], list[str]]:
    rows = [_row(i, {"action": "lookup", "actor": f"user-{i % 3}", "request_id": f"r{i}"}) for i in range(n)]
    tree = MerkleTree(r.leaf_hash for r in rows)
    sizes = sorted({*range(checkpoint_every, n + 1, checkpoint_every), n})
    notes = [Checkpoint(ORIGIN, s, tree.root(s)).sign(SIGNER) for s in sizes]
    return rows, notes


def _verify(rows: list[Row], notes: list[str]) -> Any:
    checkpoints, problem = open_checkpoints(notes, [SIGNER.verifier()], ORIGIN)
    assert problem is None
    return verify_log((r.entry() for r in rows), checkpoints)


def _renumber(rows: list[Row]) -> list[Row]:
    """What a careful forger does after editing: rewrite every seq, leaf hash and tree size to fit."""
    return [_row(i, r.fields) for i, r in enumerate(rows)]


def test_intact_log_verifies() -> None:
    rows, notes = _log(37, 10)
    report = _verify(rows, notes)
    assert report.ok and report.entries == 37 and report.checkpoints == 4 and report.unanchored == 0
    assert report.first_bad_seq is None
    assert report.root == MerkleTree(r.leaf_hash for r in rows).root()


def test_unsigned_tail_is_reported_as_unanchored() -> None:
    rows, notes = _log(20, 10)
    rows = [*rows, _row(20, {"action": "query"})]
    report = _verify(rows, notes)
    assert report.ok and report.unanchored == 1


TAMPERS = ["change", "delete", "insert", "reorder"]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 40),
    every=st.integers(1, 12),
    kind=st.sampled_from(TAMPERS),
    careful=st.booleans(),
    data=st.data(),
)
def test_any_single_tampering_is_detected(n: int, every: int, kind: str, careful: bool, data: Any) -> None:
    rows, notes = _log(n, every)
    k = data.draw(st.integers(0, n - 1), label="position")
    tampered = list(rows)
    if kind == "change":
        tampered[k] = replace(rows[k], fields={**rows[k].fields, "actor": "mallory"})
    elif kind == "delete":
        del tampered[k]
    elif kind == "insert":
        tampered.insert(k, _row(k, {"action": "forged"}))
    else:
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != k), label="other")
        k, hi = min(j, k), max(j, k)
        a, b = rows[k], rows[hi]
        tampered[k] = replace(b, seq=a.seq, tree_size=a.tree_size)
        tampered[hi] = replace(a, seq=b.seq, tree_size=b.tree_size)
    if careful:
        tampered = _renumber(tampered)
    report = _verify(tampered, notes)
    assert not report.ok
    assert report.first_bad_seq is not None
    if careful or (kind == "delete" and k == n - 1):
        # Only a checkpoint catches a consistent forgery or a cut-off tail, and it cannot say which row
        # changed: the report names the first seq after the last checkpoint that still matches.
        assert report.first_bad_seq <= k
        assert "checkpoint" in (report.reason or "")
    else:
        assert report.first_bad_seq == k


def test_truncating_the_tail_is_detected_by_the_last_checkpoint() -> None:
    rows, notes = _log(30, 7)
    report = _verify(rows[:25], notes)
    assert not report.ok and report.first_bad_seq == 21 and report.entries == 25


@pytest.mark.parametrize(("missing", "sealed"), [(3, True), (12, False)])
def test_a_missing_sequence_number_says_whether_a_checkpoint_sealed_it(missing: int, sealed: bool) -> None:
    """Below a checkpoint only a deletion explains a hole; above, it may be an append that never committed."""
    rows, notes = _log(16, 10)
    report = _verify([r for r in rows if r.seq != missing], notes[:1])
    assert not report.ok and report.first_bad_seq == missing
    assert f"sequence number {missing} is missing" in (report.reason or "")
    assert ("did not commit" not in (report.reason or "")) is sealed


def test_forged_or_foreign_checkpoints_are_refused() -> None:
    _, notes = _log(8, 4)
    forged = notes[0].replace("\n4\n", "\n5\n")
    _, problem = open_checkpoints([notes[1], forged], [SIGNER.verifier()], ORIGIN)
    assert problem is not None and problem.startswith("checkpoint #1")
    foreign = Checkpoint("other/log", 8, EMPTY_ROOT).sign(SIGNER)
    _, problem = open_checkpoints([foreign], [SIGNER.verifier()], ORIGIN)
    assert problem is not None and "different log" in problem


def test_checkpoint_signed_over_a_forked_tree_is_detected() -> None:
    rows, _ = _log(12, 12)
    fork = MerkleTree(leaf_hash(b"other") for _ in range(12))
    report = verify_log((r.entry() for r in rows), [Checkpoint(ORIGIN, 12, fork.root())])
    assert not report.ok and report.first_bad_seq == 0


@pytest.mark.parametrize("root", [EMPTY_ROOT, leaf_hash(b"x")])
def test_size_zero_checkpoint_must_have_the_empty_root(root: bytes) -> None:
    report = verify_log([], [Checkpoint(ORIGIN, 0, root)])
    assert report.ok is (root == EMPTY_ROOT)


CHUNK = verify._BATCH


@pytest.mark.parametrize("k", [CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 7])
@pytest.mark.parametrize("kind", ["change", "delete", "repeat", "size"])
def test_a_bad_row_in_a_later_chunk_is_named_exactly(k: int, kind: str) -> None:
    """Chunks are checked as a whole and only a failing one entry by entry: the row that gives itself
    away is still the one named, on either side of a chunk boundary, whatever the checkpoints' spacing."""
    rows, notes = _log(2 * CHUNK + 20, 300)
    tampered = list(rows)
    if kind == "change":
        tampered[k] = replace(rows[k], fields={**rows[k].fields, "actor": "mallory"})
    elif kind == "delete":
        del tampered[k]
    elif kind == "repeat":
        tampered.insert(k + 1, rows[k])
    else:
        tampered[k] = replace(rows[k], tree_size=rows[k].tree_size + 1)
    report = _verify(tampered, notes)
    reason = {"change": "leaf hash", "delete": "missing", "repeat": "repeats", "size": "tree size"}[kind]
    assert not report.ok and report.first_bad_seq == k and reason in (report.reason or "")
    assert report.entries == k + (kind == "repeat")  # the rows before it are in the tree


def test_rows_without_stored_hashes_verify_and_a_change_is_caught_by_the_checkpoint() -> None:
    rows, notes = _log(CHUNK + 50, 100)
    checkpoints, _ = open_checkpoints(notes, [SIGNER.verifier()], ORIGIN)
    assert verify_log((LogEntry(r.seq, r.entry().data) for r in rows), checkpoints).ok
    rows[CHUNK + 3] = replace(rows[CHUNK + 3], fields={"action": "forged"})
    report = verify_log((LogEntry(r.seq, r.entry().data) for r in rows), checkpoints)
    assert not report.ok and report.first_bad_seq == CHUNK - CHUNK % 100
