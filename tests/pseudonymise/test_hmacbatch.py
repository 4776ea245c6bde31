"""The C batch HMAC and token text encoder: RFC 4231 vectors, equality with stdlib, argument checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise import _hmacbatch
from pseudonymise.tokens import _column_buffers, _hmac_column

PROPS = settings(max_examples=200, deadline=None)

# RFC 4231 section 4: (key, data, HMAC-SHA-256; case 5 defines only the first 128 bits).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        b"\xaa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. The key "
        b"needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


def column(messages: list[bytes], width: int = 4) -> tuple[bytes, bytes]:
    """Offsets and data of ``messages`` laid out as an Arrow variable-size column."""
    offsets = np.zeros(len(messages) + 1, dtype=np.int32 if width == 4 else np.int64)
    np.cumsum([len(m) for m in messages], out=offsets[1:])
    return offsets.tobytes(), b"".join(messages)


@pytest.mark.parametrize("key,data,expected", RFC4231)
@pytest.mark.parametrize("width", [4, 8])
def test_rfc4231_vectors(key: bytes, data: bytes, expected: str, width: int) -> None:
    offsets, blob = column([data], width)
    assert _hmacbatch.hmac_sha256(key, b"", offsets, width, blob).hex().startswith(expected)
    # The same vector with part of the message given as the prefix absorbed once.
    offsets, blob = column([data[5:]], width)
    assert _hmacbatch.hmac_sha256(key, data[:5], offsets, width, blob).hex().startswith(expected)


@pytest.mark.parametrize("key,data,expected", RFC4231)
def test_keep_returns_the_leading_bytes_of_each_digest(key: bytes, data: bytes, expected: str) -> None:
    offsets, blob = column([data, data])
    kept = _hmacbatch.hmac_sha256(key, b"", offsets, 4, blob, keep=16)
    assert kept.hex() == 2 * expected[:32]
    for keep in (0, 33):
        with pytest.raises(ValueError, match="keep must be 1 to 32"):
            _hmacbatch.hmac_sha256(key, b"", offsets, 4, blob, keep=keep)


def test_rfc4231_case_2_key_is_refused_as_too_short() -> None:
    """Case 2's key is 4 bytes: the batch path takes no key shorter than 128 bits."""
    offsets, blob = column([b"what do ya want for nothing?"])
    with pytest.raises(ValueError, match="at least 16 bytes"):
        _hmacbatch.hmac_sha256(b"Jefe", b"", offsets, 4, blob)


messages = st.one_of(
    st.binary(max_size=200),  # empty, one block, several blocks
    st.text(max_size=80).map(lambda s: s.encode("utf-8")),  # any UTF-8, non-ASCII included
)


@PROPS
@given(
    st.binary(min_size=16, max_size=100),  # keys longer than the block are hashed first
    st.binary(max_size=80),
    st.lists(messages, max_size=20),
    st.sampled_from([pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]),
    st.data(),
)
def test_column_equals_stdlib_hmac(
    key: bytes, prefix: bytes, values: list[bytes], arrow_type: pa.DataType, data: st.DataObject
) -> None:
    textual = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if textual:
        values = [v.decode("utf-8", "replace").encode("utf-8") for v in values]
    array = pa.array([v.decode("utf-8") if textual else v for v in values], arrow_type)
    start = data.draw(st.integers(0, len(values)))
    stop = data.draw(st.integers(start, len(values)))
    digests = _hmac_column(key, prefix, array.slice(start, stop - start))  # a view with an offset
    expected = [hmac.new(key, prefix + v, hashlib.sha256).digest() for v in values[start:stop]]
    assert digests == b"".join(expected)


@PROPS
@given(st.binary(max_size=30), st.lists(st.binary(min_size=32, max_size=32), max_size=20))
def test_token_texts_equal_base64url(prefix: bytes, digests: list[bytes]) -> None:
    text = _hmacbatch.token_texts(prefix, b"".join(digests))
    width = len(prefix) + 43
    assert [text[i : i + width] for i in range(0, len(text), width)] == [
        prefix + base64.urlsafe_b64encode(d)[:43] for d in digests
    ]


#: The reference for ``canonical_tokens``: head, 42 URL-safe base64 characters, then one whose low two
#: bits are zero (43 characters carry 258 bits, a digest has 256).
CANONICAL_B64 = rb"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]"
URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def near_tokens(head: bytes) -> st.SearchStrategy[bytes]:
    """Canonical token texts after ``head`` and near misses: any byte (ASCII neighbours of the alphabet,
    UTF-8 of other letters, a newline, invalid UTF-8) in any place, one too few or too many, another
    last character, another head."""
    canonical = st.tuples(st.text(URLSAFE, min_size=42, max_size=42), st.sampled_from(URLSAFE[::4])).map(
        lambda parts: head + "".join(parts).encode()
    )
    odd = st.sampled_from([*b"@[`{/:.=+ \n\x00\xff", *"é\u212a\uff21".encode()]) | st.integers(0, 255)
    return st.one_of(
        canonical,
        st.tuples(canonical, st.integers(0, 80), odd).map(
            lambda t: t[0][: t[1]] + bytes([t[2]]) + t[0][t[1] + 1 :]
        ),
        st.tuples(canonical, st.integers(0, 80)).map(lambda t: t[0][: t[1]] + t[0][t[1] + 1 :]),
        st.tuples(canonical, odd).map(lambda t: t[0] + bytes([t[1]])),
        st.tuples(canonical, st.sampled_from(URLSAFE)).map(lambda t: t[0][:-1] + t[1].encode()),
        st.binary(max_size=70),
    )


@PROPS
@given(
    st.sampled_from([b"t1.scn.v1.", b"t1.postcode_area.v12.", b""]),
    st.data(),
    st.sampled_from([pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]),
)
def test_canonical_tokens_equal_the_regular_expression(
    head: bytes, data: st.DataObject, arrow_type: pa.DataType
) -> None:
    values = data.draw(st.lists(near_tokens(head), max_size=12))
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        values = [v.decode("utf-8", "replace").encode("utf-8") for v in values]
    array = pa.array(values, pa.binary()).cast(arrow_type)
    view = array.slice(data.draw(st.integers(0, len(values))))  # a view with an offset
    buffers = _column_buffers(view)
    canonical = b"" if buffers is None else _hmacbatch.canonical_tokens(head, *buffers)
    pattern = re.compile(re.escape(head) + CANONICAL_B64)
    assert list(canonical) == [
        int(pattern.fullmatch(v) is not None) for v in values[len(values) - len(view) :]
    ]


KEY = bytes(range(32))


@pytest.mark.parametrize(
    "key,offsets,width,data,problem",
    [
        (KEY[:15], [0, 1], 4, b"a", "at least 16 bytes"),
        (KEY, [0, 5], 4, b"abcd", "past the data buffer"),
        (KEY, [0, 2**31 - 1], 4, b"a", "past the data buffer"),
        (KEY, [0, 3, 2], 4, b"abc", "must not decrease"),
        (KEY, [1, 0], 8, b"a", "must not decrease"),
        (KEY, [0, 2**62], 8, b"a", "past the data buffer"),
        (KEY, [-1, 0], 4, b"a", "must not be negative"),
        (KEY, [-(2**63), 0], 8, b"a", "must not be negative"),
        (KEY, [0, 1], 2, b"a", "width must be 4 or 8"),
        (KEY, [], 4, b"", "count \\+ 1"),
    ],
)
def test_bad_arguments_raise(key: bytes, offsets: list[int], width: int, data: bytes, problem: str) -> None:
    packed = np.array(offsets, dtype=np.int64 if width == 8 else np.int32).tobytes()
    with pytest.raises(ValueError, match=problem):
        _hmacbatch.hmac_sha256(key, b"", packed, width, data)


@pytest.mark.parametrize(
    "offsets,width,data,problem",
    [
        ([0, 5], 4, b"abcd", "past the data buffer"),
        ([0, 2**31 - 1], 4, b"a", "past the data buffer"),
        ([0, 3, 2], 4, b"abc", "must not decrease"),
        ([1, 0], 8, b"a", "must not decrease"),
        ([0, 2**62], 8, b"a", "past the data buffer"),
        ([-1, 0], 4, b"a", "must not be negative"),
        ([0, 1], 2, b"a", "width must be 4 or 8"),
        ([], 4, b"", "count \\+ 1"),
    ],
)
def test_canonical_tokens_bad_arguments_raise(
    offsets: list[int], width: int, data: bytes, problem: str
) -> None:
    packed = np.array(offsets, dtype=np.int64 if width == 8 else np.int32).tobytes()
    with pytest.raises(ValueError, match=problem):
        _hmacbatch.canonical_tokens(b"t1.", packed, width, data)


def test_ragged_buffers_raise() -> None:
    with pytest.raises(ValueError, match="count \\+ 1"):
        _hmacbatch.hmac_sha256(KEY, b"", b"\0\0\0\0\0\0", 4, b"")  # 1.5 offsets
    with pytest.raises(ValueError, match="32-byte digests"):
        _hmacbatch.token_texts(b"t1.", b"\0" * 33)
    with pytest.raises(ValueError, match="count \\+ 1"):
        _hmacbatch.canonical_tokens(b"t1.", b"\0" * 7, 8, b"")


def test_arrow_columns_the_path_cannot_take() -> None:
    with pytest.raises(ValueError, match="without nulls"):
        _hmac_column(KEY, b"", pa.array(["a", None], pa.string()))
    with pytest.raises(TypeError):
        _hmac_column(KEY, b"", pa.array([1, 2]))
    assert _hmac_column(KEY, b"", pa.array([], pa.string())) == b""
    assert _hmac_column(KEY, b"", pa.array(["", ""], pa.string())) == 2 * hmac.digest(KEY, b"", "sha256")
