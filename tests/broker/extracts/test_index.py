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
from broker.extracts.models import SubjectAlias
from broker.extracts.service import _pack_state, _record_merges, _unpack_state, link_token
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


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=50, unique=True))
def test_linkage_state_round_trips_and_a_version_3_state_gets_the_same_tokens(digests: list[bytes]) -> None:
    """Version 3 states held each digest as padded base64url text; loading one gives the bytes a new
    submission links with, so old and new extracts keep linking."""
    engine = LinkageEngine(b"k" * 32)
    batch = pl.DataFrame(
        {
            "dataset": "d",
            "record_id": [f"e:{i}" for i in range(len(digests))],
            "key_type": "scn",
            "digest": pl.Series(digests, dtype=pl.Binary),
        }
    ).select("dataset", "record_id", "key_type", link_token(pl.col("digest")).alias("token"))
    engine.add_batch(batch)
    state = engine.to_state()
    back = _unpack_state(_pack_state(state))
    assert back.meta == state.meta and back.tokens.equals(state.tokens) and back.records.equals(state.records)
    assert back.tokens["token"].to_list() == [d[:16] for d in digests]
    texts = [base64.urlsafe_b64encode(d).decode("ascii") for d in digests]
    old = LinkageState(
        state.records,
        state.tokens.with_columns(pl.Series("token", texts)),
        state.aliases,
        {**state.meta, "version": 3},
    )
    assert _unpack_state(_pack_state(old)).tokens.equals(state.tokens)


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


def test_the_token_index_holds_exactly_the_keys_a_lookup_decides_on() -> None:
    assert KeyType.SCN in index.INDEXED_KEYS and KeyType.NAME_DOB in index.INDEXED_KEYS
    assert not {KeyType.NAME, KeyType.NAME_SWAP, KeyType.POSTCODE_AREA} & index.INDEXED_KEYS


def test_a_linkage_state_packed_before_the_token_run_still_loads() -> None:
    """States written before the link tokens moved to their own uncompressed run (four parts, tokens
    inside the IPC frame) load to the same frames as the current layout."""
    engine = LinkageEngine(b"k" * 32)
    engine.add_batch(
        pl.DataFrame(
            {"dataset": "d", "record_id": ["e:1", "e:2"], "key_type": "scn", "token": [b"a" * 16, b"b" * 16]},
            schema={"dataset": pl.String, "record_id": pl.String, "key_type": pl.String, "token": pl.Binary},
        )
    )
    state = engine.to_state()
    meta = json.dumps(state.meta).encode()
    parts = [meta]
    for frame in (state.records, state.tokens, state.aliases):
        buffer = io.BytesIO()
        frame.write_ipc(buffer, compression="zstd")
        parts.append(buffer.getvalue())
    old = b"".join(struct.pack(">Q", len(p)) + p for p in parts)
    new = _pack_state(state)
    sizes, offset = [], 0
    while offset < len(new):
        sizes.append(struct.unpack_from(">Q", new, offset)[0])
        offset += 8 + sizes[-1]
    assert len(sizes) == 5 and sizes[-1] == 2 * 16  # the current layout: the tokens' own run
    for blob in (old, new):
        back = _unpack_state(blob)
        assert back.tokens.select("rec", "key_type", "token").equals(state.tokens)
        assert back.records.equals(state.records) and back.meta == state.meta
