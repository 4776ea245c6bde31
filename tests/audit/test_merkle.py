"""RFC 9162 hashing and proofs: transparency-dev probes, RFC 6962 known answers, and properties."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    CompactTree,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parents[1] / "testdata" / "merkle"
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]


def _b(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _probes(kind: str) -> list[Path]:
    found = sorted((VECTORS / kind).rglob("*.json"))
    assert len(found) >= 98, f"expected the transparency-dev {kind} probes under {VECTORS}"
    return found


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written recursively as the RFC states it."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


@pytest.mark.parametrize("path", _probes("inclusion"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    args = (
        probe["leafIdx"],
        probe["treeSize"],
        _b(probe["leafHash"]),
        [_b(p) for p in probe.get("proof") or []],
        _b(probe["root"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _probes("consistency"), ids=lambda p: str(p.relative_to(VECTORS)))
def test_consistency_probe(path: Path) -> None:
    probe = json.loads(path.read_text())
    args = (
        probe["size1"],
        probe["size2"],
        _b(probe["root1"]),
        _b(probe["root2"]),
        [_b(p) for p in probe.get("proof") or []],
    )
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_rfc6962_hasher_known_answers() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert (
        node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_reference_tree_root_and_proofs_equal_the_valid_probes() -> None:
    """Our proofs are byte-identical to the unmodified transparency-dev proofs for the 8-leaf tree."""
    tree = MerkleTree(leaf_hash(d) for d in REFERENCE_LEAVES)
    assert base64.b64encode(tree.root()).decode() == "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
    compared = 0
    for kind in ("inclusion", "consistency"):
        for path in _probes(kind):
            probe = json.loads(path.read_text())
            if probe["wantErr"]:
                continue
            want = probe.get("proof") or []
            if kind == "inclusion" and _b(probe["root"]) == tree.root(probe["treeSize"]):
                got = tree.inclusion_proof(probe["leafIdx"], probe["treeSize"])
            elif kind == "consistency" and probe["size1"] > 0 and probe["size2"] <= 8:
                got = tree.consistency_proof(probe["size1"], probe["size2"])
            else:
                continue
            assert [base64.b64encode(h).decode() for h in got] == want, path.name
            compared += 1
    assert compared >= 8


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_generated_proofs_verify_and_roots_match_reference(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    tree = MerkleTree(hashes)
    n = data.draw(st.integers(1, len(leaves)))
    m = data.draw(st.integers(1, n))
    i = data.draw(st.integers(0, n - 1))
    root_n, root_m = tree.root(n), tree.root(m)
    assert root_n == _reference_root(leaves[:n])
    assert root_n == root_of(hashes[:n])
    verify_inclusion(i, n, hashes[i], tree.inclusion_proof(i, n), root_n)
    verify_consistency(m, n, root_m, root_n, tree.consistency_proof(m, n))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=4), min_size=2, max_size=40), st.data())
def test_proofs_do_not_verify_against_other_leaves_or_roots(leaves: list[bytes], data: st.DataObject) -> None:
    hashes = [leaf_hash(d) for d in leaves]
    tree = MerkleTree(hashes)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    other = leaf_hash(b"not a stored event")
    with pytest.raises(ProofError):
        verify_inclusion(i, n, other, tree.inclusion_proof(i), tree.root())
    m = data.draw(st.integers(1, n - 1))
    with pytest.raises(ProofError):
        verify_consistency(m, n, node_hash(other, other), tree.root(), tree.consistency_proof(m))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=4), max_size=300))
def test_compact_tree_tracks_the_full_tree(leaves: list[bytes]) -> None:
    compact, full = CompactTree(), MerkleTree()
    for d in leaves:
        compact.append(leaf_hash(d))
        full.append(leaf_hash(d))
        assert compact.root() == full.root()
    resumed = CompactTree(compact.size, compact.hashes)
    resumed.append(leaf_hash(b"next"))
    full.append(leaf_hash(b"next"))
    assert resumed.root() == full.root()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 70), st.lists(st.integers(0, 40), max_size=12))
def test_compact_tree_extends_level_by_level_in_any_batches(start: int, batches: list[int]) -> None:
    """``extend`` pairs a whole level at once: whatever the batch sizes and the size it starts from (odd
    ones need the stored subtree roots), the state is the full tree's right edge and the root its root."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(start + sum(batches))]
    full = MerkleTree(leaves[:start])
    compact = CompactTree()
    compact.extend(leaves[:start])
    for n in batches:
        full.extend(leaves[full.size : full.size + n])
        compact.extend(leaves[compact.size : compact.size + n])
        assert compact.size == full.size and compact.root() == full.root()
        resumed = CompactTree(compact.size, compact.hashes)  # the edge alone carries the tree on
        resumed.append(leaf_hash(b"next"))
        assert resumed.root() == MerkleTree([*leaves[: full.size], leaf_hash(b"next")]).root()


def test_bad_sizes_are_rejected() -> None:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(5))
    with pytest.raises(ProofError):
        tree.root(6)
    with pytest.raises(ProofError):
        tree.inclusion_proof(5)
    with pytest.raises(ProofError):
        tree.consistency_proof(0)
    with pytest.raises(ProofError):
        CompactTree(3, [EMPTY_ROOT])
    assert tree.consistency_proof(5) == []
