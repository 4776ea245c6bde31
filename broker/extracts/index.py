"""The lookup index of an extract: a few thousand bucket rows of packed, sorted entries, not a row per token.

An extract of a million rows carries millions of tokens; one SQL row per token made index writes the
bulk of an ingest. Entries are grouped instead by the top bits of their 64-bit key into ``2**bits``
buckets of a few hundred entries (``bits`` chosen per extract and stored on it); each bucket is one
database row whose blob holds its entries packed big-endian and sorted by key. A lookup computes the
bucket of each key, reads those rows by primary key and binary-searches them: never a scan.

Two kinds per extract:

- ``token``: stage-2 digest (first 16 bytes) -> subject id, one entry per distinct pair, for the key
  types a lookup decides on (``INDEXED_KEYS``). The key is the digest's first 8 bytes and the next 8
  are compared too, so two tokens are confused only if 128 bits of HMAC output agree.
- ``subject``: subject id -> row number, one entry per accepted row.

Subject ids (``s_`` + 24 hex digits, 12 bytes) are the ones linkage gave when the extract was stored. A
later merge retires ids; :class:`~broker.extracts.models.SubjectAlias` maps each retired id to its
survivor, so a blob is never rewritten (see ``broker.extracts.service``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa

from pseudonymise.matchkeys import KEY_INPUTS, STRONG_KEYS
from pseudonymise.normalise import IdentifierKind

# Without a strong key, a lookup must agree on weak keys that carry the date of birth: names (or a name
# and an area) alone are shared by too many children to single one out.
DOB_KEYS: Final = (
    frozenset(k for k, inputs in KEY_INPUTS.items() if IdentifierKind.DOB in inputs) - STRONG_KEYS
)
#: the key types a lookup decides on, so the only ones the token index holds
INDEXED_KEYS: Final = STRONG_KEYS | DOB_KEYS
TARGET_ENTRIES: Final = 256
SUBJECT_PREFIX: Final = "s_"
SUBJECT_BYTES: Final = 12
_SUBJECT_PATTERN: Final = f"^{SUBJECT_PREFIX}[0-9a-f]{{{2 * SUBJECT_BYTES}}}$"

#: digest[0:8] (bucket and search key), digest[8:16] (checked on a hit), subject id (12 bytes)
TOKEN_ENTRY: Final = np.dtype(
    [("key", ">u8"), ("check", ">u8"), ("subject_hi", ">u8"), ("subject_lo", ">u4")]
)
#: subject id[0:8] (bucket and search key), subject id[8:12], row number
SUBJECT_ENTRY: Final = np.dtype([("key", ">u8"), ("check", ">u4"), ("row", ">u4")])


class Kind(enum.IntEnum):
    """Which index a bucket belongs to (a column of its primary key)."""

    TOKEN = 1
    SUBJECT = 2


def bucket_bits(entries: int) -> int:
    """Bits of bucket number so that buckets hold at most ``TARGET_ENTRIES`` entries on average."""
    return max(0, (max(entries, 1) - 1) // TARGET_ENTRIES).bit_length()


def bucket_of(key: int, bits: int) -> int:
    """The bucket of one 64-bit key: its top ``bits`` bits."""
    return key >> (64 - bits) if bits else 0


@dataclass(frozen=True)
class KeyOrder:
    """Entries ranked on their search key alone (``keys`` = the keys in that order): the costly part of
    sorting them, which for the token index needs only the digests."""

    ranked: np.ndarray
    keys: np.ndarray


def _key_order(key: np.ndarray) -> KeyOrder:
    ranked = pl.Series(key).arg_sort().to_numpy(writable=True)
    return KeyOrder(ranked, key[ranked])


def token_order(digests: np.ndarray) -> KeyOrder:
    """The key order of ``digests`` (n, 32) for :func:`token_buckets`, computable before linkage gives
    the subjects."""
    return _key_order(_fields(np.ascontiguousarray(digests[:, :8]), {"key": (0, 8)})["key"])


def _pack(
    raw: np.ndarray, layout: dict[str, tuple[int, int]], order: KeyOrder | None = None
) -> tuple[int, list[tuple[int, memoryview]]]:
    """Bucket bits and (bucket, blob) rows of the (n, width) entries ``raw``, distinct, sorted on ``layout``.

    ``layout`` names the entries' big-endian fields (name -> byte offset, size); the first is the search
    key, the rest break ties, so a blob's entries sort as their integers do. ``order``, if given, is
    the entries' key order, computed earlier.
    """
    raw = np.ascontiguousarray(raw)
    first, *rest = layout.items()
    # Keys are nearly unique (HMAC output): sort on the key alone, then fully sort and de-duplicate
    # only the runs of equal keys (repeated tokens), which keep their places in the key order.
    if order is None:
        order = _key_order(_fields(raw, dict([first]))[first[0]])
    ranked, keys = order.ranked.copy(), order.keys
    same = keys[1:] == keys[:-1]
    if same.any():
        tied = np.flatnonzero(np.concatenate(([False], same)) | np.concatenate((same, [False])))
        at = ranked[tied]
        columns = [keys[tied], *_fields(raw[at], dict(rest)).values()]
        within = np.lexsort(columns[::-1])
        ranked[tied] = at[within]
        repeat = np.logical_and.reduce([c[within][1:] == c[within][:-1] for c in columns])
        keep = np.ones(len(ranked), dtype=bool)
        keep[tied[1:][repeat]] = False
        ranked, keys = ranked[keep], keys[keep]
    bits = bucket_bits(len(ranked))
    buckets = keys >> np.uint64(64 - bits) if bits else np.zeros(len(keys), dtype=np.uint64)
    bounds = (np.flatnonzero(np.diff(buckets)) + 1).tolist()
    width = raw.shape[1]
    # one gather of whole entries (rows of 4-byte words: numpy copies those far faster than opaque
    # records) in bucket order; the buckets are views of it, not copies
    blob = np.take(raw.view(np.uint32), ranked, axis=0).data.cast("B")
    starts: list[int] = [0, *bounds] if len(keys) else []
    ends = [*bounds, len(keys)]
    return bits, [
        (int(buckets[start]), blob[start * width : end * width])
        for start, end in zip(starts, ends, strict=False)
    ]


def _fields(raw: np.ndarray, layout: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Big-endian fields (name -> byte offset, 4 or 8 bytes) of each (n, width) row, as native integers."""
    words = raw.view(">u4")  # raw is C-contiguous and its width a multiple of 4
    out = {}
    for name, (offset, size) in layout.items():
        first = words[:, offset // 4].astype(np.uint64)
        out[name] = (first << np.uint64(32)) | words[:, offset // 4 + 1] if size == 8 else first
    return out


def fixed_bytes(column: pl.Series, width: int) -> np.ndarray:
    """A Binary column of ``width``-byte values as an (n, width) uint8 array, without a Python loop."""
    array = column.to_arrow().cast(pa.binary(width))
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    return data[array.offset * width : (array.offset + len(array)) * width].reshape(-1, width)


def subject_bytes(subjects: pl.Series) -> np.ndarray:
    """Subject ids as an (n, 12) uint8 array; anything not shaped like a subject id is a bug, not data."""
    if not subjects.str.contains(_SUBJECT_PATTERN).all():
        raise ValueError("linkage returned a subject id of an unexpected form")
    return fixed_bytes(subjects.str.strip_prefix(SUBJECT_PREFIX).str.decode("hex"), SUBJECT_BYTES)


def subject_text(raw: np.ndarray) -> pl.Series:
    """Inverse of :func:`subject_bytes` for an (n, 12) uint8 array."""
    flat = pa.py_buffer(np.ascontiguousarray(raw).tobytes())
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(SUBJECT_BYTES), len(raw), [None, flat])
    return (SUBJECT_PREFIX + pl.Series(array).bin.encode("hex")).alias("subject")


def token_buckets(
    digests: np.ndarray, subjects: np.ndarray, order: KeyOrder | None = None
) -> tuple[int, list[tuple[int, memoryview]]]:
    """Bucket bits and (bucket, blob) rows of the token index; ``digests`` (n, 32), ``subjects`` (n, 12),
    ``order`` their :func:`token_order` if already known."""
    raw = np.hstack((digests[:, :16], subjects))
    return _pack(raw, {"key": (0, 8), "check": (8, 8), "hi": (16, 8), "lo": (24, 4)}, order)


def subject_buckets(subjects: np.ndarray, rows: np.ndarray) -> tuple[int, list[tuple[int, memoryview]]]:
    """Bucket bits and (bucket, blob) rows of the subject index; ``subjects`` (n, 12), ``rows`` (n,)."""
    raw = np.hstack((subjects, rows.astype(">u4").view(np.uint8).reshape(-1, 4)))
    return _pack(raw, {"key": (0, 8), "check": (8, 4), "row": (12, 4)})


def digest_key(digest: bytes) -> int:
    """The search key of a stage-2 digest (its first 8 bytes)."""
    return int.from_bytes(digest[:8], "big")


def subject_key(subject: str) -> int:
    """The search key of a subject id (its first 8 bytes)."""
    return int.from_bytes(bytes.fromhex(subject.removeprefix(SUBJECT_PREFIX))[:8], "big")


def _hits(entries: np.ndarray, key: int) -> np.ndarray:
    keys = entries["key"]
    return entries[np.searchsorted(keys, key, "left") : np.searchsorted(keys, key, "right")]


def _subject_id(hi: int, lo: int) -> str:
    return SUBJECT_PREFIX + (int(hi).to_bytes(8, "big") + int(lo).to_bytes(4, "big")).hex()


def token_subjects(blob: bytes, digest: bytes) -> set[str]:
    """The subject ids a token bucket holds for ``digest`` (binary search, then the check bytes)."""
    hits = _hits(np.frombuffer(blob, dtype=TOKEN_ENTRY), digest_key(digest))
    check = int.from_bytes(digest[8:16], "big")
    return {_subject_id(h["subject_hi"], h["subject_lo"]) for h in hits if int(h["check"]) == check}


def subject_rows(blob: bytes, subject: str) -> list[int]:
    """The row numbers a subject bucket holds for ``subject``."""
    raw = bytes.fromhex(subject.removeprefix(SUBJECT_PREFIX))
    hits = _hits(np.frombuffer(blob, dtype=SUBJECT_ENTRY), int.from_bytes(raw[:8], "big"))
    check = int.from_bytes(raw[8:12], "big")
    return [int(h["row"]) for h in hits if int(h["check"]) == check]


def all_subject_rows(blobs: Iterable[bytes]) -> pl.DataFrame:
    """Every (row, subject) of an extract's subject buckets, for whole-extract frames."""
    entries = np.frombuffer(b"".join(blobs), dtype=SUBJECT_ENTRY)
    raw = entries.view(np.uint8).reshape(-1, SUBJECT_ENTRY.itemsize)[:, :SUBJECT_BYTES]
    return pl.DataFrame([pl.Series("_row", entries["row"].astype(np.int64)), subject_text(raw)])
