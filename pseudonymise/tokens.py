"""Two-stage keyed tokens.

Stage 1 (agency): ``t1 = HMAC-SHA256(K_link, key_type || 0x00 || normalised)``.
Stage 2 (broker): ``t2 = HMAC-SHA256(K_broker, text(t1))``; hashing the text form binds the key type and
linkage key version of t1 into t2.

Tokens carry stage, key type and key versions in their text form, so a token from the wrong stage,
key type or key version is rejected with a reason instead of silently never matching:

    t1.<key_type>.v<link_version>.<digest>
    t2.<key_type>.v<link_version>.b<broker_version>.<digest>

``digest`` is the 32-byte HMAC in unpadded base64url (43 characters).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymise import _hmacbatch
from pseudonymise.matchkeys import KeyType
from pseudonymise.normalise import fixed_width_strings

KEY_BYTES: Final = 32
DIGEST_BYTES: Final = 32
_B64_LEN: Final = 43
_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


class TokenInvalid(enum.Enum):
    """Why a token text was refused. Never includes the token itself."""

    MALFORMED = "malformed"
    UNKNOWN_KEY_TYPE = "unknown_key_type"
    WRONG_STAGE = "wrong_stage"
    WRONG_KEY_TYPE = "wrong_key_type"
    WRONG_KEY_VERSION = "wrong_key_version"


class TokenError(ValueError):
    """A token that cannot be used here; ``reason`` says why."""

    def __init__(self, reason: TokenInvalid) -> None:
        super().__init__(f"token refused: {reason.value}")
        self.reason = reason


class Token(NamedTuple):
    """An immutable token. A NamedTuple because the tokeniser builds millions of them."""

    stage: int
    key_type: KeyType
    link_version: int
    broker_version: int | None
    digest: bytes

    def __str__(self) -> str:
        b64 = binascii.b2a_base64(self.digest, newline=False)[:_B64_LEN].translate(_URLSAFE).decode("ascii")
        if self.stage == 1:
            return f"t1.{self.key_type}.v{self.link_version}.{b64}"
        return f"t2.{self.key_type}.v{self.link_version}.b{self.broker_version}.{b64}"

    def __repr__(self) -> str:
        # The digest is pseudonymous data: keep it out of reprs, tracebacks and logs.
        return f"Token(stage={self.stage}, key_type={self.key_type.value}, v{self.link_version})"

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        stage: int | None = None,
        key_type: KeyType | None = None,
        link_version: int | None = None,
        broker_version: int | None = None,
    ) -> Token:
        """Parse a token text; each given expectation that does not hold raises :class:`TokenError`."""
        parts = text.split(".")
        if len(parts) not in (4, 5) or parts[0] not in ("t1", "t2"):
            raise TokenError(TokenInvalid.MALFORMED)
        parsed_stage = int(parts[0][1])
        if len(parts) != (4 if parsed_stage == 1 else 5):
            raise TokenError(TokenInvalid.MALFORMED)
        try:
            parsed_type = KeyType(parts[1])
        except ValueError:
            raise TokenError(TokenInvalid.UNKNOWN_KEY_TYPE) from None
        parsed_link = _version(parts[2], "v")
        parsed_broker = _version(parts[3], "b") if parsed_stage == 2 else None
        digest = _digest(parts[-1])
        if stage is not None and parsed_stage != stage:
            raise TokenError(TokenInvalid.WRONG_STAGE)
        if key_type is not None and parsed_type is not key_type:
            raise TokenError(TokenInvalid.WRONG_KEY_TYPE)
        if (link_version is not None and parsed_link != link_version) or (
            broker_version is not None and parsed_broker != broker_version
        ):
            raise TokenError(TokenInvalid.WRONG_KEY_VERSION)
        return cls(parsed_stage, parsed_type, parsed_link, parsed_broker, digest)


def _version(part: str, prefix: str) -> int:
    digits = part[1:]
    if not part.startswith(prefix) or not (digits.isascii() and digits.isdigit()) or digits.startswith("0"):
        raise TokenError(TokenInvalid.MALFORMED)
    return int(digits)


def _digest(part: str) -> bytes:
    if len(part) != _B64_LEN:
        raise TokenError(TokenInvalid.MALFORMED)
    try:
        digest = base64.urlsafe_b64decode(part + "=")
    except (binascii.Error, ValueError):
        raise TokenError(TokenInvalid.MALFORMED) from None
    if len(digest) != DIGEST_BYTES or base64.urlsafe_b64encode(digest)[:_B64_LEN].decode("ascii") != part:
        raise TokenError(TokenInvalid.MALFORMED)  # padding inside the text, or non-canonical trailing bits
    return digest


def _check_material(material: bytes, version: int) -> None:
    if len(material) != KEY_BYTES:
        raise ValueError(f"key material must be {KEY_BYTES} bytes")
    if version < 1:
        raise ValueError("key version must be >= 1")


def _column_buffers(values: pa.Array) -> tuple[pa.Buffer, int, pa.Buffer | bytes] | None:
    """The offsets (cut to the array's own values), their width and the data buffer of an Arrow string or
    binary column, as the C functions take them; None for an empty column (it may have no buffers)."""
    if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
        width = 8
    elif pa.types.is_string(values.type) or pa.types.is_binary(values.type):
        width = 4
    else:
        raise TypeError("the column must be of Arrow type string, large_string, binary or large_binary")
    if not len(values):
        return None
    _, offsets, data = values.buffers()
    offsets = offsets.slice(values.offset * width, (len(values) + 1) * width)
    return offsets, width, b"" if data is None else data


def _hmac_column(key: bytes, prefix: bytes, values: pa.Array, keep: int = DIGEST_BYTES) -> bytes:
    """``HMAC-SHA256(key, prefix || value)`` of every value of an Arrow string or binary column without
    nulls, the first ``keep`` bytes of each back to back: computed in C from the column's own buffers
    (no Python object per value, GIL released), about eight times faster than a loop over a pre-keyed
    ``hmac`` object.
    """
    if values.null_count:
        raise ValueError("a column to hash must be without nulls")
    buffers = _column_buffers(values)
    return b"" if buffers is None else _hmacbatch.hmac_sha256(key, prefix, *buffers, keep=keep)


def _not_null(values: pa.Array) -> npt.NDArray[np.bool_]:
    """Which values of an Arrow array with nulls are not null, unpacked from its validity bitmap (no
    pyarrow cast or pandas conversion on this path)."""
    bits = np.frombuffer(values.buffers()[0], dtype=np.uint8)
    unpacked = np.unpackbits(bits, count=values.offset + len(values), bitorder="little")
    return unpacked[values.offset :].view(np.bool_)


def _arrow_mask(mask: npt.NDArray[np.bool_]) -> pa.BooleanArray:
    """numpy booleans as an Arrow boolean array, bit-packed here (``pa.array`` would import pandas)."""
    return pa.Array.from_buffers(
        pa.bool_(), len(mask), [None, pa.py_buffer(np.packbits(mask, bitorder="little"))]
    )


def _token_cells(head: bytes, values: pa.ChunkedArray) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """``(canonical, present)`` for each value of an Arrow string or binary column.

    Canonical: ``head`` followed by the canonical base64url text of a 32-byte digest, exactly what
    :meth:`Token.parse` accepts of that kind, decided in C from each chunk's own buffers (a regular
    expression per value costs about 3.5 times more). Present: neither null nor empty.
    """
    canonical, present = [np.zeros(0, dtype=np.bool_)], [np.zeros(0, dtype=np.bool_)]
    for chunk in values.chunks:
        buffers = _column_buffers(chunk)
        if buffers is None:
            continue
        offsets, width, _ = buffers
        is_canonical = np.frombuffer(_hmacbatch.canonical_tokens(head, *buffers), dtype=np.bool_)
        is_present = np.diff(np.frombuffer(offsets, dtype=np.int32 if width == 4 else np.int64)) > 0
        if chunk.null_count:
            not_null = _not_null(chunk)
            is_canonical, is_present = is_canonical & not_null, is_present & not_null
        canonical.append(is_canonical)
        present.append(is_present)
    return np.concatenate(canonical), np.concatenate(present)


@dataclass(frozen=True)
class LinkageKey:
    """K_link for one agreement and version: what an agency holds to compute stage-1 tokens."""

    agreement_id: str
    version: int
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_material(self.material, self.version)


@dataclass(frozen=True)
class BrokerKey:
    """K_broker for one agreement and version: never leaves the broker."""

    agreement_id: str
    version: int
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_material(self.material, self.version)


class Tokeniser:
    """Stage-1 tokens under one linkage key.

    Single values go through stdlib ``hmac`` (a pre-keyed object per key type, the reference); columns
    through :func:`_hmac_column`, tested equal to it.
    """

    __slots__ = ("_keyed", "_material", "_version")

    def __init__(self, key: LinkageKey) -> None:
        if not isinstance(key, LinkageKey):
            raise TypeError("Tokeniser needs a LinkageKey (a BrokerKey is for stage 2)")
        self._version = key.version
        self._material = key.material
        self._keyed = {kt: hmac.new(key.material, _stage1_prefix(kt), hashlib.sha256) for kt in KeyType}

    def tokenise(self, key_type: KeyType, normalised: str) -> Token:
        """One stage-1 token. ``normalised`` must come from :mod:`pseudonymise.normalise`/``matchkeys``."""
        keyed = self._keyed[key_type].copy()
        keyed.update(normalised.encode("utf-8"))
        return Token(1, key_type, self._version, None, keyed.digest())

    def tokenise_many(self, key_type: KeyType, values: Iterable[str]) -> TokenBatch:
        """Stage-1 tokens for a column of normalised values (no per-value object)."""
        return self.tokenise_array(key_type, pa.array(values, pa.large_string()))

    def tokenise_array(self, key_type: KeyType, values: pa.Array) -> TokenBatch:
        """:meth:`tokenise_many` of an Arrow string column without nulls, hashing the UTF-8 bytes Arrow
        already holds (the pipeline's hot path)."""
        digests = _hmac_column(self._material, _stage1_prefix(key_type), values)
        return TokenBatch(key_type, self._version, digests)


def _stage1_prefix(key_type: KeyType) -> bytes:
    return key_type.value.encode("ascii") + b"\x00"


@dataclass(frozen=True)
class TokenBatch(Sequence[Token]):
    """Stage-1 tokens of one key type and key version, stored as their digests back to back."""

    key_type: KeyType
    link_version: int
    digests: bytes = field(repr=False)

    def __len__(self) -> int:
        return len(self.digests) // DIGEST_BYTES

    @overload
    def __getitem__(self, index: int) -> Token: ...
    @overload
    def __getitem__(self, index: slice) -> list[Token]: ...
    def __getitem__(self, index: int | slice) -> Token | list[Token]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        start = range(len(self))[index] * DIGEST_BYTES  # IndexError and negative indices as for a list
        return Token(1, self.key_type, self.link_version, None, self.digests[start : start + DIGEST_BYTES])

    def text_rows(self) -> npt.NDArray[np.uint8]:
        """The text form of every token (same as ``str(token)``) as ASCII bytes, one row per token (all
        one width), encoded in C: ready to be an Arrow data buffer as it is."""
        prefix = f"t1.{self.key_type}.v{self.link_version}.".encode("ascii")
        text = _hmacbatch.token_texts(prefix, self.digests)
        return np.frombuffer(text, dtype=np.uint8).reshape(len(self), len(prefix) + _B64_LEN)

    def texts(self) -> list[str]:
        """The text form of every token, without per-token objects until the list itself."""
        return fixed_width_strings(np.ones(len(self), dtype=np.bool_), self.text_rows()).to_pylist()


@dataclass(frozen=True)
class Stage2Column:
    """Stage-2 digests of one column of stage-1 token texts.

    ``rows`` are the 0-based positions of the cells that held a valid token, ``digests`` their stage-2
    digests in the same order; ``refused`` names each non-empty cell that was not a valid token and why.
    Empty and null cells are in neither (the agency could not form that key).
    """

    key_type: KeyType
    rows: npt.NDArray[np.int64]
    digests: pa.ChunkedArray = field(repr=False)  # fixed_size_binary(keep), chunked as the texts were
    refused: list[tuple[int, TokenInvalid]]


def _refusal(text: str, key_type: KeyType, link_version: int) -> TokenInvalid:
    """Why :meth:`Token.parse` refuses a text the column check refused (the two must agree)."""
    try:
        Token.parse(text, stage=1, key_type=key_type, link_version=link_version)
    except TokenError as exc:
        return exc.reason
    raise AssertionError("the canonical token check refused a token Token.parse accepts")


class BrokerRekeyer:
    """Stage 2 at the broker: re-key an agency's stage-1 token under the agreement's broker key."""

    __slots__ = ("_keyed", "_material", "_version")

    def __init__(self, key: BrokerKey) -> None:
        if not isinstance(key, BrokerKey):
            raise TypeError("BrokerRekeyer needs a BrokerKey (a LinkageKey is for stage 1)")
        self._version = key.version
        self._material = key.material
        self._keyed = hmac.new(key.material, digestmod=hashlib.sha256)

    def stage2(self, token: Token) -> Token:
        """``t2 = HMAC(K_broker, text(t1))``; refuses anything that is not a stage-1 token."""
        if token.stage != 1:
            raise TokenError(TokenInvalid.WRONG_STAGE)
        keyed = self._keyed.copy()
        keyed.update(str(token).encode())
        return Token(2, token.key_type, token.link_version, self._version, keyed.digest())

    def stage2_column(
        self,
        texts: pa.Array | pa.ChunkedArray | Sequence[str | None],
        *,
        key_type: KeyType,
        link_version: int,
        keep: int = DIGEST_BYTES,
    ) -> Stage2Column:
        """Check and re-key a whole column of submitted stage-1 token texts (an extract's hot path).

        Validity is decided chunk by chunk in C (:func:`_token_cells`), which admits exactly the
        canonical texts :meth:`Token.parse` accepts, so each valid text is hashed as it stands from the
        Arrow buffers (a string column is never copied); only refused cells are parsed one by one, to
        say why. ``keep``: how many leading bytes of each digest to return, for a caller that compares
        and stores no more than those (half the memory of a column of ten million).
        """
        if isinstance(texts, pa.ChunkedArray):
            column = texts
        else:
            column = pa.chunked_array(
                [texts if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())]
            )
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.large_string())
        valid, present = _token_cells(f"t1.{key_type.value}.v{link_version}.".encode("ascii"), column)
        rows = np.flatnonzero(valid)
        hashed = column if len(rows) == len(column) else column.filter(_arrow_mask(valid))
        digests = pa.chunked_array(
            [
                pa.FixedSizeBinaryArray.from_buffers(
                    pa.binary(keep),
                    len(chunk),
                    [None, pa.py_buffer(_hmac_column(self._material, b"", chunk, keep))],
                )
                for chunk in hashed.chunks
            ],
            pa.binary(keep),
        )
        refused = [
            (int(row), _refusal(column[row].as_py(), key_type, link_version))
            for row in np.flatnonzero(present & ~valid)
        ]
        return Stage2Column(key_type, rows, digests, refused)

    def stage2_text(
        self, text: str, *, key_type: KeyType | None = None, link_version: int | None = None
    ) -> str:
        """Parse a submitted stage-1 token text, check it, and return the stage-2 token text."""
        return str(self.stage2(Token.parse(text, stage=1, key_type=key_type, link_version=link_version)))
