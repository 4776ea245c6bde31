"""The bucketed extract index: every entry is found where a lookup looks, nothing else is, and merges
are recorded as aliases instead of rewriting blobs."""

from __future__ import annotations

import base64
import io
import json
import os
import struct

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broker.database import transaction
from broker.extracts import index
from broker.extracts.checks import DIGEST_KEPT
from broker.extracts.models import SubjectAlias
from broker.extracts.service import (
    _cut_segment,
    _pack_segment,
    _pack_state,
    _parts,
    _record_merges,
    _spans,
    _unpack_state,
    retired_pseudonyms,
)
from broker.linkage.engine import LinkageEngine, LinkageState
from pseudonymise.matchkeys import KeyType

subject_ids = st.binary(min_size=12, max_size=12).map(lambda b: "s_" + b.hex())


def _raw(values: list[bytes], width: int) -> np.ndarray:
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, width)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=32, max_size=32), subject_ids),
        min_size=1,
        max_size=600,
    ),
    st.binary(min_size=32, max_size=32),
)
def test_token_index_finds_every_pair_and_nothing_else(
    pairs: list[tuple[bytes, str]], stranger: bytes
) -> None:
    pairs += pairs[: len(pairs) // 3]  # a child on several rows repeats its pairs
    digests = _raw([d for d, _ in pairs], 32)
    subjects = index.subject_bytes(pl.Series([s for _, s in pairs]))
    bits, buckets = index.token_buckets(digests, subjects)
    # the key order sorted ahead (while linkage runs) gives the same buckets, byte for byte
    assert index.token_buckets(digests, subjects, index.token_order(digests)) == (bits, buckets)
    blobs = dict(buckets)
    assert len(blobs) == len(buckets) and bits == index.bucket_bits(len(set(pairs)))
    assert sum(len(b) for b in blobs.values()) == index.TOKEN_ENTRY.itemsize * len(set(pairs))
    expected: dict[bytes, set[str]] = {}
    for digest, subject in pairs:
        expected.setdefault(digest, set()).add(subject)
    for digest, subjects_of in expected.items():
        blob = blobs[index.bucket_of(index.digest_key(digest), bits)]
        assert index.token_subjects(blob, digest) == subjects_of
    if stranger not in expected:
        blob = blobs.get(index.bucket_of(index.digest_key(stranger), bits), memoryview(b""))
        assert index.token_subjects(blob, stranger) == set()


@settings(max_examples=40, deadline=None)
@given(st.lists(subject_ids, min_size=1, max_size=700))
def test_subject_index_maps_each_subject_to_its_rows(subjects: list[str]) -> None:
    rows = np.arange(1, len(subjects) + 1)
    bits, buckets = index.subject_buckets(index.subject_bytes(pl.Series(subjects)), rows)
    blobs = dict(buckets)
    for subject in set(subjects):
        blob = blobs[index.bucket_of(index.subject_key(subject), bits)]
        assert index.subject_rows(blob, subject) == [
            r for r, s in zip(rows, subjects, strict=True) if s == subject
        ]
    back = index.all_subject_rows(blobs.values()).sort("_row")
    assert back["_row"].to_list() == rows.tolist() and back["subject"].to_list() == subjects


def test_buckets_stay_small_at_scale() -> None:
    n = 50_000
    digests = np.frombuffer(os.urandom(32 * n), dtype=np.uint8).reshape(-1, 32)
    subjects = np.frombuffer(os.urandom(12 * n), dtype=np.uint8).reshape(-1, 12)
    bits, buckets = index.token_buckets(digests, subjects)
    sizes = [len(blob) // index.TOKEN_ENTRY.itemsize for _, blob in buckets]
    assert 2**bits * index.TARGET_ENTRIES >= n > 2 ** (bits - 1) * index.TARGET_ENTRIES
    assert max(sizes) < 3 * index.TARGET_ENTRIES and sum(sizes) == n


def test_subject_ids_of_another_form_are_refused() -> None:
    with pytest.raises(ValueError):
        index.subject_bytes(pl.Series(["s_" + "ab" * 12, "subject-7"]))


def test_fixed_bytes_respects_a_sliced_column() -> None:
    values = [os.urandom(32) for _ in range(10)]
    column = pl.Series(values, dtype=pl.Binary).slice(3, 4)
    assert [bytes(r) for r in index.fixed_bytes(column, 32)] == values[3:7]


def test_merges_become_aliases_kept_one_hop(sessions: sessionmaker[Session]) -> None:
    a, b, c, d, f, g = ("s_" + str(i) * 24 for i in range(6))
    with transaction(sessions) as session:
        _record_merges(session, "agr", {a: b})
        _record_merges(session, "agr", {b: c, d: c})
        _record_merges(session, "agr", {c: f, f: g})  # a chain within one batch
        _record_merges(session, "other", {a: d})
    with sessions() as session:
        rows = session.execute(
            select(SubjectAlias.agreement_id, SubjectAlias.alias, SubjectAlias.subject)
        ).all()
    assert sorted(rows) == [("agr", x, g) for x in (a, b, c, d, f)] + [("other", a, d)]
    with sessions() as session:  # a subject access report finds every earlier pseudonym of a child
        assert retired_pseudonyms(session, "agr", g) == sorted([a, b, c, d, f])
        assert retired_pseudonyms(session, "other", d) == [a]
        assert retired_pseudonyms(session, "agr", a) == []


def test_the_token_index_holds_exactly_the_keys_a_lookup_decides_on() -> None:
    assert KeyType.SCN in index.INDEXED_KEYS and KeyType.NAME_DOB in index.INDEXED_KEYS
    assert not {KeyType.NAME, KeyType.NAME_SWAP, KeyType.POSTCODE_AREA} & index.INDEXED_KEYS


def _two_extracts(digests: list[bytes]) -> LinkageState:
    """A state holding two extracts ("a" and "b") of one dataset, their tokens the digests' link tokens."""
    engine = LinkageEngine(b"k" * 32)
    half = len(digests) // 2
    for extract, part in (("a", digests[:half]), ("b", digests[half:])):
        engine.add_batch(
            pl.DataFrame(
                {
                    "dataset": "d",
                    "record_id": [f"{extract}:{i}" for i in range(len(part))],
                    "key_type": "scn",
                    "digest": pl.Series(part, dtype=pl.Binary),
                }
            ).select(
                "dataset", "record_id", "key_type", pl.col("digest").bin.head(DIGEST_KEPT).alias("token")
            )
        )
    return engine.to_state()


def _segments(state: LinkageState) -> dict[str, bytes]:
    """Each extract's segment, as ``_save_engine`` cuts them."""
    return {extract_id: _cut_segment(state, *span) for extract_id, span in _spans(state.records).items()}


def _legacy(state: LinkageState, *, run: bool) -> bytes:
    """A state row as written before segments: tokens inline, in the tokens frame or (``run``) as a
    fifth part of 16-byte values."""
    tokens = state.tokens.drop("token") if run else state.tokens
    parts = [json.dumps(state.meta).encode()]
    for frame in (state.records, tokens, state.aliases):
        buffer = io.BytesIO()
        frame.write_ipc(buffer, compression="zstd")
        parts.append(buffer.getvalue())
    if run:
        parts.append(b"".join(state.tokens["token"].to_list()))
    return b"".join(struct.pack(">Q", len(p)) + p for p in parts)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=50, unique=True))
def test_linkage_state_round_trips_through_its_row_and_segments(digests: list[bytes]) -> None:
    """The state row holds no tokens; with the extracts' segments it loads to the same frames, and
    every older layout (tokens inline as a frame, as a run, or before version 4 as base64url text)
    loads to the same tokens."""
    state = _two_extracts(digests)
    row = _pack_state(state)
    back = _unpack_state(row, _segments(state))
    assert back.meta == state.meta and back.records.equals(state.records)
    assert back.aliases.equals(state.aliases) and back.tokens.equals(state.tokens)
    assert back.tokens["token"].to_list() == [d[:16] for d in digests]
    assert _unpack_state(row).tokens.height == 0  # tokens not asked for (the aliases alone)
    assert len(_parts(row)) == 3  # meta, records, aliases: no tokens in the row
    for blob in (_legacy(state, run=False), _legacy(state, run=True)):
        assert _unpack_state(blob).tokens.equals(state.tokens)
    texts = [base64.urlsafe_b64encode(d).decode("ascii") for d in digests]
    version_3 = LinkageState(
        state.records,
        state.tokens.with_columns(pl.Series("token", texts)),
        state.aliases,
        {**state.meta, "version": 3},
    )
    assert _unpack_state(_legacy(version_3, run=False)).tokens.equals(state.tokens)


def test_segments_must_match_the_records() -> None:
    """A segment without its extract's records, or pointing past them, is a broken state, not data."""
    state = _two_extracts([bytes([i]) * 32 for i in range(6)])
    row, segments = _pack_state(state), _segments(state)
    with pytest.raises(RuntimeError, match="no records"):
        _unpack_state(row, {**segments, "c": segments["a"]})
    with pytest.raises(RuntimeError, match="past"):
        _unpack_state(
            row,
            {
                "a": segments["b"] + b"",
                "b": _pack_segment(pl.DataFrame({"row": [7], "key_type": ["scn"], "token": [b"x" * 16]})),
            },
        )
