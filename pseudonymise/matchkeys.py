"""Match keys: the normalised strings a record is tokenised under, one per key type it can form.

Strong keys are single identifiers. Weak keys combine name parts and date of birth so that linkage
survives a typo in any one field (research/linkage.md): several weak keys with different failure modes
beat one exact name+DOB key. Key type names are stable: they are hashed into every token.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import jellyfish
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymise.normalise import (
    NORMALISERS,
    REPEATING,
    IdentifierKind,
    Invalid,
    Normaliser,
    as_text,
    cached,
    normalise_array,
)


class KeyType(enum.StrEnum):
    """Stable match-key type names (part of the token format and the HMAC input)."""

    CHI = "chi"
    SCN = "scn"
    NHS = "nhs"
    UPN = "upn"
    NINO = "nino"
    NAME_DOB = "name_dob"
    SLK = "slk"
    PHONETIC_DOB = "phonetic_dob"
    DOB_SWAP = "dob_swap"
    NAME = "name"
    NAME_SWAP = "name_swap"
    SURNAME_DOB = "surname_dob"
    FORENAME_DOB = "forename_dob"
    POSTCODE_DOB = "postcode_dob"
    DOB_AREA = "dob_area"
    POSTCODE_AREA = "postcode_area"

    @property
    def strong(self) -> bool:
        """A strong key identifies a child on its own; weak keys only suggest a match."""
        return self in STRONG_KEYS


STRONG_KEYS: Final = frozenset({KeyType.CHI, KeyType.SCN, KeyType.NHS, KeyType.UPN, KeyType.NINO})
WEAK_KEYS: Final = frozenset(KeyType) - STRONG_KEYS

# Which identifier kinds each key needs; a key is formed only when all of them are valid.
KEY_INPUTS: Final[dict[KeyType, tuple[IdentifierKind, ...]]] = {
    KeyType.CHI: (IdentifierKind.CHI,),
    KeyType.SCN: (IdentifierKind.SCN,),
    KeyType.NHS: (IdentifierKind.NHS,),
    KeyType.UPN: (IdentifierKind.UPN,),
    KeyType.NINO: (IdentifierKind.NINO,),
    KeyType.NAME_DOB: (IdentifierKind.FORENAME, IdentifierKind.SURNAME, IdentifierKind.DOB),
    KeyType.SLK: (IdentifierKind.FORENAME, IdentifierKind.SURNAME, IdentifierKind.DOB, IdentifierKind.SEX),
    KeyType.PHONETIC_DOB: (IdentifierKind.FORENAME, IdentifierKind.SURNAME, IdentifierKind.DOB),
    KeyType.DOB_SWAP: (IdentifierKind.FORENAME, IdentifierKind.SURNAME, IdentifierKind.DOB),
    # Pair keys: each survives an error in any field it leaves out (research/linkage.md).
    KeyType.NAME: (IdentifierKind.FORENAME, IdentifierKind.SURNAME),
    KeyType.NAME_SWAP: (IdentifierKind.FORENAME, IdentifierKind.SURNAME),
    KeyType.SURNAME_DOB: (IdentifierKind.SURNAME, IdentifierKind.DOB),
    KeyType.FORENAME_DOB: (IdentifierKind.FORENAME, IdentifierKind.DOB),
    KeyType.POSTCODE_DOB: (IdentifierKind.POSTCODE, IdentifierKind.DOB),
    KeyType.DOB_AREA: (IdentifierKind.DOB, IdentifierKind.AREA),
    KeyType.POSTCODE_AREA: (IdentifierKind.POSTCODE, IdentifierKind.AREA),
}

_SLK_SEX: Final = {"m": "1", "f": "2", "x": "3"}


def slk_value(forename: str, surname: str, dob: str, sex: str) -> str:
    """SLK-581 style: surname letters 2, 3, 5 + forename letters 2, 3 + DOB (YYYYMMDD) + sex code.

    As in SLK-581, a name too short to have a letter at a position contributes '2' there.
    """
    return _slk_surname(surname) + _slk_forename(forename) + dob.replace("-", "") + _SLK_SEX[sex]


def _slk_surname(surname: str) -> str:
    padded = surname.ljust(5, "2")
    return (padded[1] + padded[2] + padded[4]).upper()


def _slk_forename(forename: str) -> str:
    padded = forename.ljust(3, "2")
    return (padded[1] + padded[2]).upper()


def swapped_dob(dob: str) -> str | None:
    """The ISO date with day and month exchanged, or None when that is not a different real date."""
    year, month, day = dob.split("-")
    if month == day or int(day) > 12:
        return None
    return f"{year}-{day}-{month}"


def _dob_pair(dob: str) -> str | None:
    """Both DOB orders, sorted, so a record with the true DOB and one with day and month exchanged
    produce the same value (tokens of different key types never compare equal)."""
    swapped = swapped_dob(dob)
    if swapped is None:
        return None
    first, second = sorted((dob, swapped))
    return f"{first}|{second}"


def _phonetic_dob(forename: str, surname: str, dob: str) -> str:
    return f"{jellyfish.soundex(surname)}|{forename[0]}|{dob}"


def _dob_swap(forename: str, surname: str, dob: str) -> str | None:
    pair = _dob_pair(dob)
    return None if pair is None else f"{forename}|{surname}|{pair}"


def _joined(*parts: str) -> str:
    return "|".join(parts)


def _name_swap(forename: str, surname: str) -> str:
    """Both names, sorted, so a record with forename and surname exchanged gives the same value."""
    return "|".join(sorted((forename, surname)))


# The reference: one record's key from its normalised KEY_INPUTS[key_type] values, in that order.
_BUILDERS: Final[dict[KeyType, Callable[..., str | None]]] = {
    KeyType.NAME_DOB: _joined,
    KeyType.SLK: slk_value,
    KeyType.PHONETIC_DOB: _phonetic_dob,
    KeyType.DOB_SWAP: _dob_swap,
    KeyType.NAME: _joined,
    KeyType.NAME_SWAP: _name_swap,
    KeyType.SURNAME_DOB: _joined,
    KeyType.FORENAME_DOB: _joined,
    KeyType.POSTCODE_DOB: _joined,
    KeyType.DOB_AREA: _joined,
    KeyType.POSTCODE_AREA: _joined,
}


def _per_distinct(function: Callable[[str], str | None], column: pa.Array) -> pa.Array:
    """``function`` of each row of a column of repeating values, called once per distinct value."""
    encoded = column.dictionary_encode()
    mapped = pa.array([function(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return mapped.take(encoded.indices)


def _join(*columns: pa.Array, separator: str = "|") -> pa.Array:
    """Row-wise join; null where any part is null (the key cannot be formed)."""
    return pc.binary_join_element_wise(*columns, separator)


def _name_swap_array(forename: pa.Array, surname: pa.Array) -> pa.Array:
    """:func:`_name_swap` by column: Arrow compares UTF-8 bytes, which order as Python's code points."""
    first = pc.less_equal(forename, surname)
    return pc.if_else(first, _join(forename, surname), _join(surname, forename))


def _slk_array(forename: pa.Array, surname: pa.Array, dob: pa.Array, sex: pa.Array) -> pa.Array:
    parts = (
        _per_distinct(_slk_surname, surname),
        _per_distinct(_slk_forename, forename),
        pc.binary_replace_slice(pc.binary_replace_slice(dob, 7, 8, ""), 4, 5, ""),  # ISO: YYYY-MM-DD
        _per_distinct(_SLK_SEX.__getitem__, sex),
    )
    return _join(*parts, separator="")


def _phonetic_array(forename: pa.Array, surname: pa.Array, dob: pa.Array) -> pa.Array:
    return _join(_per_distinct(jellyfish.soundex, surname), pc.utf8_slice_codeunits(forename, 0, 1), dob)


def _dob_swap_array(forename: pa.Array, surname: pa.Array, dob: pa.Array) -> pa.Array:
    return _join(forename, surname, _per_distinct(_dob_pair, dob))


# The column-wise builders: the same keys as _BUILDERS, from whole Arrow columns.
_ARRAY_BUILDERS: Final[dict[KeyType, Callable[..., pa.Array]]] = {
    KeyType.NAME_DOB: _join,
    KeyType.SLK: _slk_array,
    KeyType.PHONETIC_DOB: _phonetic_array,
    KeyType.DOB_SWAP: _dob_swap_array,
    KeyType.NAME: _join,
    KeyType.NAME_SWAP: _name_swap_array,
    KeyType.SURNAME_DOB: _join,
    KeyType.FORENAME_DOB: _join,
    KeyType.POSTCODE_DOB: _join,
    KeyType.DOB_AREA: _join,
    KeyType.POSTCODE_AREA: _join,
}


@dataclass(frozen=True)
class RecordKeys:
    """What one record yields: the match-key values it can form and why any identifier was unusable."""

    keys: dict[KeyType, str] = field(default_factory=dict)
    invalid: dict[IdentifierKind, Invalid] = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnKeys:
    """What a batch of records yields, column by column.

    ``keys[key_type][i]`` is row i's value or None; ``invalid[kind]`` lists (row index, reason).
    """

    keys: dict[KeyType, list[str | None]]
    invalid: dict[IdentifierKind, list[tuple[int, Invalid]]]


@dataclass(frozen=True)
class ArrayKeys:
    """:class:`ColumnKeys` as Arrow ``string`` columns (null where a row cannot form the key)."""

    keys: dict[KeyType, pa.Array]
    invalid: dict[IdentifierKind, list[tuple[int, Invalid]]]


class KeyFormer:
    """Forms a fixed set of key types; keep one per dataset, it memoises the repeating fields.

    Two implementations of one definition: :meth:`form` is the per-record reference (lookups of one
    child), :meth:`form_arrays` the column-wise path for files; they are property-tested equal.
    """

    def __init__(self, key_types: Iterable[KeyType] = tuple(KeyType)) -> None:
        self.key_types = tuple(key_types)
        needed = sorted({kind for kt in self.key_types for kind in KEY_INPUTS[kt]})
        self._normalisers: list[tuple[IdentifierKind, Normaliser]] = [
            (kind, cached(kind) if kind in REPEATING else NORMALISERS[kind]) for kind in needed
        ]

    def form_arrays(self, columns: Mapping[str, pa.Array | Sequence[object]], rows: int) -> ArrayKeys:
        """Normalise identifier columns (keyed by :class:`IdentifierKind` names) and form every key.

        Missing values (absent column, null, blank) are not invalid; other unusable values are
        reported by kind, row index and reason only. Per-row Python work is limited to values the
        vectorised normalisers cannot decide (see :func:`normalise_array`).
        """
        normalised: dict[IdentifierKind, pa.Array] = {}
        invalid: dict[IdentifierKind, list[tuple[int, Invalid]]] = {}
        for kind, normaliser in self._normalisers:
            column = columns.get(kind)
            if column is None:
                normalised[kind] = pa.nulls(rows, pa.string())
                continue
            result = normalise_array(kind, column, normaliser)
            if result.invalid:
                invalid[kind] = result.invalid
            normalised[kind] = result.values
        keys: dict[KeyType, pa.Array] = {}
        for kt in self.key_types:
            inputs = [normalised[kind] for kind in KEY_INPUTS[kt]]
            keys[kt] = inputs[0] if kt in STRONG_KEYS else _ARRAY_BUILDERS[kt](*inputs)
        return ArrayKeys(keys, invalid)

    def form_columns(self, columns: Mapping[str, pa.Array | Sequence[object]], rows: int) -> ColumnKeys:
        """:meth:`form_arrays` with the keys as Python lists (None where a row cannot form a key)."""
        formed = self.form_arrays(columns, rows)
        return ColumnKeys({kt: array.to_pylist() for kt, array in formed.keys.items()}, formed.invalid)

    def form(self, raw: Mapping[str, object]) -> RecordKeys:
        """The keys one record can form: the per-value normalisers and :data:`_BUILDERS`."""
        normalised: dict[IdentifierKind, str] = {}
        invalid: dict[IdentifierKind, Invalid] = {}
        for kind, normaliser in self._normalisers:
            value = raw.get(kind)
            if value is None:
                continue
            result = normaliser(value if isinstance(value, str) else as_text(value))
            if isinstance(result, str):
                normalised[kind] = result
            elif result is not Invalid.MISSING:
                invalid[kind] = result
        keys: dict[KeyType, str] = {}
        for kt in self.key_types:
            inputs = [normalised.get(kind) for kind in KEY_INPUTS[kt]]
            if None in inputs:
                continue
            key = inputs[0] if kt in STRONG_KEYS else _BUILDERS[kt](*inputs)
            if key is not None:
                keys[kt] = key
        return RecordKeys(keys, invalid)


def compute_keys(raw: Mapping[str, object], key_types: Iterable[KeyType] = tuple(KeyType)) -> RecordKeys:
    """All of ``key_types`` that ``raw`` can form (a one-off :class:`KeyFormer`)."""
    return KeyFormer(key_types).form(raw)
