"""The stored format of the extract index: blobs already in databases are read by the same lookups, so
building the index faster must not change a byte of it."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.extracts import index

Buckets = tuple[int, list[tuple[int, memoryview]]]


def _stream(label: bytes, n: int, width: int) -> np.ndarray:
    """``n`` pseudo-random rows of ``width`` bytes that never depend on a library's random generator."""
    data = b"".join(hashlib.sha256(label + i.to_bytes(4, "big")).digest()[:width] for i in range(n))
    return np.frombuffer(data, dtype=np.uint8).reshape(n, width).copy()


def _sha256(bits: int, buckets: list[tuple[int, memoryview]]) -> str:
    digest = hashlib.sha256(bits.to_bytes(1, "big"))
    for bucket, blob in buckets:
        digest.update(bucket.to_bytes(4, "big") + len(blob).to_bytes(4, "big") + bytes(blob))
    return digest.hexdigest()


def test_the_token_index_of_a_fixed_input_is_pinned() -> None:
    """The hash is of the blobs the implementation made before its rewrite for speed (commit 4f9ea0b)."""
    digests, subjects = _stream(b"digest", 20_000, 32), _stream(b"subject", 20_000, 12)
    digests[1:2000:2] = digests[0:2000:2]  # a token shared by two children
    subjects[2001:4000:2] = subjects[2000:4000:2]  # ... and a child on two rows: repeated pairs
    digests[2001:4000:2] = digests[2000:4000:2]
    digests[4001:6000:2, :8] = digests[4000:6000:2, :8]  # the same key, other check bytes
    digests[6001:8000:2, :6] = digests[6000:8000:2, :6]  # keys that share their top 48 bits
    assert (
        _sha256(*index.token_buckets(digests, subjects))
        == "2b06954b133d9e6bea9b7de7f789c0e890827f452ca5dd6cde39905cbf4db606"
    )


def test_the_subject_index_of_a_fixed_input_is_pinned() -> None:
    subjects = _stream(b"subject", 5000, 12)[np.arange(8000) % 5000]  # some children on two rows
    text = "s_" + pl.Series([bytes(r) for r in subjects], dtype=pl.Binary).bin.encode("hex")
    raw = index.subject_bytes(text)
    assert (raw == subjects).all()
    assert (
        _sha256(*index.subject_buckets(raw, np.arange(8000, 0, -1)))
        == "f040aac7a11a6db7074b5818e8dd07094ca7fe0d166628519df62e18fecdfda3"
    )


def _expected(entries: list[bytes]) -> Buckets:
    """The format, spelled out: distinct entries in byte order, grouped by the top bits of their key."""
    distinct = sorted(set(entries))
    bits = index.bucket_bits(len(distinct))
    grouped: dict[int, bytes] = {}
    for entry in distinct:
        bucket = index.bucket_of(int.from_bytes(entry[:8], "big"), bits)
        grouped[bucket] = grouped.get(bucket, b"") + entry
    return bits, [(bucket, memoryview(blob)) for bucket, blob in grouped.items()]


@st.composite
def _close_digests(draw: st.DrawFn) -> bytes:
    """Digests that often agree on all, the first 8 (the key) or the first 6 bytes of another."""
    base = draw(st.sampled_from([bytes([i]) * 32 for i in range(4)]))
    keep = draw(st.sampled_from([0, 6, 8, 32]))
    return base[:keep] + draw(st.binary(min_size=32 - keep, max_size=32 - keep))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            _close_digests(),
            st.sampled_from([bytes([i]) * 12 for i in range(3)]) | st.binary(min_size=12, max_size=12),
        ),
        max_size=700,
    )
)
def test_token_buckets_are_the_distinct_entries_in_byte_order(pairs: list[tuple[bytes, bytes]]) -> None:
    digests = np.frombuffer(b"".join(d for d, _ in pairs), dtype=np.uint8).reshape(-1, 32)
    subjects = np.frombuffer(b"".join(s for _, s in pairs), dtype=np.uint8).reshape(-1, 12)
    expected = _expected([d[:16] + s for d, s in pairs])
    assert index.token_buckets(digests, subjects) == expected
    # each child's subject once, and which one each token has (as the service passes them)
    children, subject_of = np.unique(subjects.reshape(-1, 12), axis=0, return_inverse=True)
    assert index.token_buckets(digests, children, subject_of=subject_of.reshape(-1)) == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=12, max_size=12), st.integers(0, 2**32 - 1)), max_size=700))
def test_subject_buckets_are_the_distinct_entries_in_byte_order(pairs: list[tuple[bytes, int]]) -> None:
    pairs += pairs[: len(pairs) // 2]
    subjects = np.frombuffer(b"".join(s for s, _ in pairs), dtype=np.uint8).reshape(-1, 12)
    rows = np.array([r for _, r in pairs], dtype=np.int64)
    assert index.subject_buckets(subjects, rows) == _expected([s + r.to_bytes(4, "big") for s, r in pairs])


@given(st.lists(st.binary(min_size=12, max_size=12), max_size=50))
def test_subject_ids_round_trip(raw: list[bytes]) -> None:
    subjects = pl.Series("subject", ["s_" + r.hex() for r in raw], dtype=pl.String)
    decoded = index.subject_bytes(subjects)
    assert decoded.shape == (len(raw), 12) and index.subject_text(decoded).equals(subjects)


@pytest.mark.parametrize(
    "subject", ["S_" + "ab" * 12, "s_" + "AB" * 12, "s_" + "ab" * 11, "s_" + "ab" * 13, "s_" + "g" * 24, None]
)
def test_every_malformed_subject_id_is_refused(subject: str | None) -> None:
    with pytest.raises(ValueError):
        index.subject_bytes(pl.Series(["s_" + "ab" * 12, subject], dtype=pl.String))


def test_fixed_bytes_refuses_a_value_of_another_width() -> None:
    with pytest.raises(ValueError):
        index.fixed_bytes(pl.Series([b"a" * 32, b"b" * 31], dtype=pl.Binary), 32)
