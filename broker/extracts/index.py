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
    """Entries sorted on their search key alone: the costly part of sorting them, which for the token
    index needs only the digests.

    Each item of ``ranked`` is an entry's key with its low ``shift`` bits replaced by the entry's index:
    sorting plain integers in place is several times cheaper than an argsort and allocates nothing. Keys
    are HMAC output, so entries whose remaining top bits agree are rare; :func:`complete` orders those fully.
    """

    ranked: np.ndarray
    shift: int


#: entries per step of a pass over all of them, so that its temporaries are small and reused
_CHUNK: Final = 1 << 14


def _key_order(words: np.ndarray) -> KeyOrder:
    """The key order of entries whose (n, k) big-endian 32-bit ``words`` start with the 64-bit key."""
    n = len(words)
    shift = max(n - 1, 0).bit_length()
    ranked = words[:, 0].astype(np.uint64)
    ranked <<= np.uint64(32)
    ranked |= words[:, 1]
    ranked >>= np.uint64(shift)  # the low bits make way for the index
    ranked <<= np.uint64(shift)
    for start in range(0, n, _CHUNK):
        ranked[start : start + _CHUNK] |= np.arange(start, min(start + _CHUNK, n), dtype=np.uint64)
    ranked.sort()
    return KeyOrder(ranked, shift)


def token_order(digests: np.ndarray) -> KeyOrder:
    """The key order of ``digests`` (n, 16 or more bytes: an entry keeps the first 16) for
    :func:`token_buckets`, computable before linkage gives the subjects."""
    return _key_order(np.ascontiguousarray(digests).view(">u4"))


#: rows (n, k) uint8 of which an entry takes the first ``width`` bytes, and which row entry i takes: row
#: ``of[i]`` or, if ``of`` is None, row i
_Part = tuple[np.ndarray, int, np.ndarray | None]


@dataclass(frozen=True)
class Layout:
    """Entries in key order with their first parts gathered in place and room left for the rest: the
    bulk of packing an index, done before the rest is known (the token index is laid out while linkage
    is still naming the subjects, and :func:`complete` fills them in).

    ``rest`` is, per part still to come, its width and which of its rows each entry takes, in key order.
    ``tied`` are the positions whose key prefix a neighbour shares: only there do the later parts decide
    the order.
    """

    order: KeyOrder
    out: np.ndarray
    rest: tuple[tuple[int, np.ndarray], ...]
    tied: np.ndarray


def lay_out(
    first: tuple[_Part, ...], rest: tuple[tuple[int, np.ndarray | None], ...], order: KeyOrder
) -> Layout:
    """Gather ``first`` (their bytes start with the 64-bit key ``order`` sorts) into key order and note
    for each later part of ``rest`` (width, ``of``) which of its rows each entry will take. Widths are
    multiples of 4."""
    n, mask = len(order.ranked), np.uint64((1 << order.shift) - 1)
    # raw 4-byte words: copying needs no byte order
    words = [(np.ascontiguousarray(rows).view(np.uint32), width // 4, of) for rows, width, of in first]
    out = np.empty((n, sum(k for _, k, _ in words) + sum(width // 4 for width, _ in rest)), dtype=np.uint32)
    takes = [np.empty(n, dtype=np.uint32) for _ in rest]
    index = np.empty(min(n, _CHUNK), dtype=np.intp)
    gathered = [np.empty((len(index), w.shape[1]), dtype=np.uint32) for w, _, _ in words]
    # One pass in key order, a chunk at a time: each entry is gathered straight into its place. np.take
    # of whole rows of 4-byte words copies far faster than fancy indexing or opaque records, and with
    # mode="clip" (the indices are in range) it writes into the reused buffer without one of its own.
    for start in range(0, n, _CHUNK):
        ranked = order.ranked[start : start + _CHUNK]
        at = np.bitwise_and(ranked, mask, out=index[: len(ranked)], casting="unsafe")
        column = 0
        for (w, k, of), buffer in zip(words, gathered, strict=True):
            rows = np.take(w, at if of is None else of[at], axis=0, out=buffer[: len(at)], mode="clip")
            out[start : start + len(at), column : column + k] = rows[:, :k]
            column += k
        for (_, of), take in zip(rest, takes, strict=True):
            take[start : start + len(at)] = at if of is None else of[at]
    return Layout(order, out, tuple((w, t) for (w, _), t in zip(rest, takes, strict=True)), _tied(order))


def complete(layout: Layout, rest: tuple[np.ndarray, ...]) -> tuple[int, list[tuple[int, memoryview]]]:
    """Bucket bits and (bucket, blob) rows of the entries ``layout`` began, with its later parts' rows
    ``rest`` ((m, k) uint8 each): distinct and sorted, so a blob's entries sort as their integers do.

    ``layout.out`` is filled in and cut in place, so a layout completes once.
    """
    out, order = layout.out, layout.order
    column = out.shape[1] - sum(width // 4 for width, _ in layout.rest)
    for (width, take), rows in zip(layout.rest, rest, strict=True):
        w, k = np.ascontiguousarray(rows).view(np.uint32), width // 4
        if len(take) and int(take.max()) >= len(w):
            raise ValueError("an entry points past the rows given for it")
        buffer = np.empty((min(len(take), _CHUNK), w.shape[1]), dtype=np.uint32)
        for start in range(0, len(take), _CHUNK):
            at = take[start : start + _CHUNK]
            gathered = np.take(w, at, axis=0, out=buffer[: len(at)], mode="clip")
            out[start : start + len(at), column : column + k] = gathered[:, :k]
        column += k
    dropped = _order_ties(out, layout.tied)
    if len(dropped):
        out = _without(out, dropped)
    bits = bucket_bits(len(out))
    # where each bucket starts, found on the sorted keys, less the repeats dropped before it
    cuts = np.searchsorted(order.ranked, np.arange(1, 2**bits, dtype=np.uint64) << np.uint64(64 - bits))
    cuts -= np.searchsorted(dropped, cuts)
    starts, ends = np.append(0, cuts), np.append(cuts, len(out))
    used = np.flatnonzero(ends > starts)
    width = out.shape[1] * 4
    blob = out.view(np.uint8).reshape(-1).data  # also when empty, unlike .data.cast("B")
    return bits, [
        (bucket, blob[start * width : end * width])
        for bucket, start, end in zip(used.tolist(), starts[used].tolist(), ends[used].tolist(), strict=True)
    ]


def _tied(order: KeyOrder) -> np.ndarray:
    """Positions in key order whose key prefix the entry before or after shares."""
    ranked, mask = order.ranked, np.uint64((1 << order.shift) - 1)
    same = [np.empty(0, dtype=np.intp)]  # positions followed by an entry with the same prefix
    for start in range(0, len(ranked), _CHUNK):
        following = ranked[start + 1 : start + _CHUNK + 1]
        same.append(np.flatnonzero((ranked[start : start + len(following)] ^ following) <= mask) + start)
    followed = np.concatenate(same)
    tied = np.sort(np.concatenate((followed, followed + 1)))  # np.union1d hashes: many times slower
    return tied[np.diff(tied, prepend=-1) != 0]


def _order_ties(out: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Order the entries at ``tied`` by all their bytes, in place; returns the positions of repeats.

    The runs follow one another in prefix order, so sorting all their entries at once keeps each in
    place. polars sorts on several columns many times faster than np.lexsort, which matters when
    children are on several rows and most entries are repeated.
    """
    if not len(tied):
        return tied
    fields = out[tied].view(">u4").astype(np.uint32)
    columns = pl.DataFrame({str(j): fields[:, j] for j in range(fields.shape[1])})
    within = columns.select(pl.arg_sort_by(columns.columns)).to_series().to_numpy()
    out[tied] = out[tied[within]]
    fields = fields[within]
    return tied[1:][(fields[1:] == fields[:-1]).all(axis=1)]


def _without(out: np.ndarray, dropped: np.ndarray) -> np.ndarray:
    """``out`` less the rows at ``dropped``, moved down in place a chunk at a time (no second copy)."""
    keep = np.ones(len(out), dtype=bool)
    keep[dropped] = False
    end = 0
    for start in range(0, len(out), _CHUNK):
        block = out[start : start + _CHUNK][keep[start : start + _CHUNK]]
        out[end : end + len(block)] = block
        end += len(block)
    return out[:end]


def _fixed(column: pl.Series, width: int) -> np.ndarray | None:
    """A Binary column as an (n, width) uint8 array (one copy), or None if a value is null or of another
    width."""
    array = column.bin.reinterpret(dtype=pl.Array(pl.UInt8, width))
    return None if array.null_count() else array.to_numpy()


def fixed_bytes(column: pl.Series, width: int) -> np.ndarray:
    """A Binary column of ``width``-byte values as an (n, width) uint8 array, without a Python loop."""
    raw = _fixed(column, width)
    if raw is None:
        raise ValueError(f"column {column.name!r} holds a value that is not {width} bytes")
    return raw


def _hex_pairs() -> np.ndarray:
    """Two lowercase hex digits read as a little-endian uint16 -> the byte they spell; 256 otherwise."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint16)
    table = np.full(1 << 16, 256, dtype=np.uint16)
    table[digits[:, None] | digits[None, :] << np.uint16(8)] = np.arange(256).reshape(16, 16)
    return table


_HEX_PAIRS: Final = _hex_pairs()
_PREFIX_BYTES: Final = np.frombuffer(SUBJECT_PREFIX.encode(), dtype=np.uint8)
_UNEXPECTED_SUBJECT: Final = "linkage returned a subject id of an unexpected form"


def subject_bytes(subjects: pl.Series) -> np.ndarray:
    """Subject ids as an (n, 12) uint8 array; anything not shaped like a subject id is a bug, not data.

    Checked and decoded by looking digit pairs up in a table, a chunk at a time: a regex check and
    polars' hex decoding cost several times more.
    """
    raw = _fixed(subjects.cast(pl.Binary), len(SUBJECT_PREFIX) + 2 * SUBJECT_BYTES)
    if raw is None or (raw[:, : len(SUBJECT_PREFIX)] != _PREFIX_BYTES).any():
        raise ValueError(_UNEXPECTED_SUBJECT)
    pairs = raw[:, len(SUBJECT_PREFIX) :].view("<u2")
    out = np.empty((len(raw), SUBJECT_BYTES), dtype=np.uint8)
    for start in range(0, len(raw), _CHUNK):
        decoded = _HEX_PAIRS[pairs[start : start + _CHUNK]]
        if decoded.max() > 255:
            raise ValueError(_UNEXPECTED_SUBJECT)
        out[start : start + _CHUNK] = decoded
    return out


def subject_text(raw: np.ndarray) -> pl.Series:
    """Inverse of :func:`subject_bytes` for an (n, 12) uint8 array."""
    flat = pa.py_buffer(np.ascontiguousarray(raw).tobytes())
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(SUBJECT_BYTES), len(raw), [None, flat])
    return (SUBJECT_PREFIX + pl.Series(array).bin.encode("hex")).alias("subject")


def token_layout(
    digests: np.ndarray, order: KeyOrder | None = None, subject_of: np.ndarray | None = None
) -> Layout:
    """The token index laid out before the subjects are known: ``digests`` (n, 16 or more bytes: an
    entry keeps the first 16); the subject of token i will be row ``subject_of[i]`` (or row i) of the
    subjects :func:`complete` is given; ``order`` the digests' :func:`token_order` if already known."""
    order = token_order(digests) if order is None else order
    return lay_out(((digests, 16, None),), ((SUBJECT_BYTES, subject_of),), order)


def token_buckets(
    digests: np.ndarray,
    subjects: np.ndarray,
    order: KeyOrder | None = None,
    subject_of: np.ndarray | None = None,
) -> tuple[int, list[tuple[int, memoryview]]]:
    """Bucket bits and (bucket, blob) rows of the token index; ``digests`` as for :func:`token_layout`,
    ``subjects`` (n, 12) or, with ``subject_of`` (n,), the subject of token i is
    ``subjects[subject_of[i]]`` (no copy per token to make)."""
    return complete(token_layout(digests, order, subject_of), (subjects,))


def subject_buckets(subjects: np.ndarray, rows: np.ndarray) -> tuple[int, list[tuple[int, memoryview]]]:
    """Bucket bits and (bucket, blob) rows of the subject index; ``subjects`` (n, 12), ``rows`` (n,)."""
    row_bytes = rows.astype(">u4").view(np.uint8).reshape(-1, 4)
    order = _key_order(np.ascontiguousarray(subjects).view(">u4"))
    return complete(lay_out(((subjects, SUBJECT_BYTES, None), (row_bytes, 4, None)), (), order), ())


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
