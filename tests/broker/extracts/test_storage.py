import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.extracts import storage
from pseudonymise.keymaterial import SealError, seal


def _frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({"_row": list(range(1, n + 1)), "attendance": [i / 10 for i in range(n)]})


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.integers(min_value=1, max_value=3000))
def test_chunks_round_trip_and_cover_every_row(n: int, chunk_rows: int) -> None:
    key = storage.new_data_key()
    frame = _frame(n)
    chunks = list(storage.seal_chunks(key, "ext1", frame, chunk_rows))
    assert [first for _, first, _ in chunks] == list(range(1, n + 1, chunk_rows))
    back = pl.concat([storage.open_chunk(key, "ext1", seq, sealed) for seq, _, sealed in chunks])
    assert back.equals(frame)


def test_chunks_are_compressed_and_uncompressed_ones_still_open() -> None:
    key = storage.new_data_key()
    frame = pl.DataFrame({"_row": list(range(1, 2049)), "stage": ["P1", "P2", "S1", "S4"] * 512})
    ((_, _, sealed),) = storage.seal_chunks(key, "ext1", frame)
    plain = io.BytesIO()
    frame.write_ipc(plain, compression="uncompressed")
    assert len(sealed) < len(plain.getvalue()) / 2
    # a chunk sealed before chunks were compressed
    old = seal(key, plain.getvalue(), storage._chunk_ad("ext1", 0))
    assert storage.open_chunk(key, "ext1", 0, old).equals(frame)


def test_chunk_moved_to_another_extract_or_position_does_not_open() -> None:
    key = storage.new_data_key()
    (seq, _, sealed), (seq2, _, _) = list(storage.seal_chunks(key, "ext1", _frame(10), 5))
    with pytest.raises(SealError):
        storage.open_chunk(key, "ext2", seq, sealed)
    with pytest.raises(SealError):
        storage.open_chunk(key, "ext1", seq2, sealed)


def test_wrapped_key_opens_only_with_master_and_extract() -> None:
    master, data_key = storage.new_data_key(), storage.new_data_key()
    wrapped = storage.wrap_key(master, "ext1", data_key)
    assert data_key not in wrapped
    assert storage.unwrap_key(master, "ext1", wrapped) == data_key
    with pytest.raises(SealError):
        storage.unwrap_key(master, "ext2", wrapped)
    with pytest.raises(SealError):
        storage.unwrap_key(storage.new_data_key(), "ext1", wrapped)


def test_sealed_chunk_holds_no_plaintext() -> None:
    key = storage.new_data_key()
    frame = pl.DataFrame({"_row": [1], "note": ["canary-PLAINTEXT-4242"]})
    ((_, _, sealed),) = storage.seal_chunks(key, "ext1", frame)
    assert b"canary-PLAINTEXT-4242" not in sealed
