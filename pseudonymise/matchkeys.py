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

from pseudonymise.normalise import (
    NORMALISERS,
    REPEATING,
    IdentifierKind,
    Invalid,
    Normaliser,
    cached,
    normalise_array,
    normalise_values,
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


def _phonetic_dob(forename: str, surname: str, dob: str) -> str:
    return f"{jellyfish.soundex(surname)}|{forename[0]}|{dob}"


def _dob_swap(forename: str, surname: str, dob: str) -> str | None:
    """Both DOB orders, sorted, so a record with the true DOB and one with day and month exchanged
    produce the same value (tokens of different key types never compare equal)."""
    swapped = swapped_dob(dob)
    if swapped is None:
        return None
    first, second = sorted((dob, swapped))
    return f"{forename}|{surname}|{first}|{second}"


# Row builders: each takes one row's normalised values of KEY_INPUTS[key_type], in that order.
_BUILDERS: Final[dict[KeyType, Callable[..., str | None]]] = {
    KeyType.PHONETIC_DOB: _phonetic_dob,
    KeyType.DOB_SWAP: _dob_swap,
}


_Column = list[str | None]


def _per_distinct(function: Callable[[str], str], column: _Column) -> _Column:
    """``function`` applied once per distinct value of a column of repeating values; None stays None."""
    mapped: dict[str | None, str | None] = {v: function(v) for v in set(column) if v is not None}
    mapped[None] = None
    return [mapped[v] for v in column]


def _joined_column(*fields: _Column) -> _Column:
    """The fields joined by ``|`` row by row (name_dob and the pair keys); None where any is None."""
    return [None if None in row else "|".join(row) for row in zip(*fields, strict=True)]


def _name_swap_column(forename: _Column, surname: _Column) -> _Column:
    """Both names, sorted, so a record with forename and surname exchanged gives the same value."""
    return [
        None if f is None or s is None else "|".join(sorted((f, s)))
        for f, s in zip(forename, surname, strict=True)
    ]


def _slk_column(forename: _Column, surname: _Column, dob: _Column, sex: _Column) -> _Column:
    """:func:`slk_value` per row, with each part computed once per distinct name, date and sex."""
    parts = (
        _per_distinct(_slk_surname, surname),
        _per_distinct(_slk_forename, forename),
        _per_distinct(lambda d: d.replace("-", ""), dob),
        _per_distinct(_SLK_SEX.__getitem__, sex),
    )
    return [
        None if s is None or f is None or d is None or x is None else s + f + d + x
        for s, f, d, x in zip(*parts, strict=True)
    ]


# _Column builders: each takes the normalised columns of KEY_INPUTS[key_type], in that order.
_COLUMN_BUILDERS: Final[dict[KeyType, Callable[..., _Column]]] = {
    KeyType.NAME_DOB: _joined_column,
    KeyType.SLK: _slk_column,
    KeyType.NAME: _joined_column,
    KeyType.NAME_SWAP: _name_swap_column,
    KeyType.SURNAME_DOB: _joined_column,
    KeyType.FORENAME_DOB: _joined_column,
    KeyType.POSTCODE_DOB: _joined_column,
    KeyType.DOB_AREA: _joined_column,
    KeyType.POSTCODE_AREA: _joined_column,
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


class KeyFormer:
    """Forms a fixed set of key types; keep one per dataset, it memoises the repeating fields."""

    def __init__(self, key_types: Iterable[KeyType] = tuple(KeyType)) -> None:
        self.key_types = tuple(key_types)
        needed = sorted({kind for kt in self.key_types for kind in KEY_INPUTS[kt]})
        self._normalisers: list[tuple[IdentifierKind, Normaliser]] = [
            (kind, cached(kind) if kind in REPEATING else NORMALISERS[kind]) for kind in needed
        ]

    def form_columns(self, columns: Mapping[str, Sequence[object] | pa.Array], rows: int) -> ColumnKeys:
        """Normalise identifier columns (keyed by :class:`IdentifierKind` names) and form every key.

        _Column-wise because that is the pipeline's shape: Arrow columns take the vectorised
        :func:`normalise_array`, Python sequences the memoised per-value normalisers; both give the
        same values. Missing values (absent column, None, blank) are not invalid; other unusable
        values are reported by kind, row index and reason only.
        """
        normalised: dict[IdentifierKind, _Column] = {}
        invalid: dict[IdentifierKind, list[tuple[int, Invalid]]] = {}
        for kind, normaliser in self._normalisers:
            column = columns.get(kind)
            if column is None:
                normalised[kind] = [None] * rows
                continue
            result = (
                normalise_array(kind, column, normaliser)
                if isinstance(column, pa.Array)
                else normalise_values(normaliser, column)
            )
            if result.invalid:
                invalid[kind] = result.invalid
            normalised[kind] = result.values
        keys: dict[KeyType, _Column] = {}
        for kt in self.key_types:
            inputs = [normalised[kind] for kind in KEY_INPUTS[kt]]
            if kt in _COLUMN_BUILDERS:
                keys[kt] = _COLUMN_BUILDERS[kt](*inputs)
            elif kt in STRONG_KEYS:
                keys[kt] = inputs[0]
            else:
                build = _BUILDERS[kt]
                keys[kt] = [
                    None if None in values else build(*values) for values in zip(*inputs, strict=True)
                ]
        return ColumnKeys(keys, invalid)

    def form(self, raw: Mapping[str, object]) -> RecordKeys:
        """The keys one record can form (a batch of one)."""
        formed = self.form_columns({kind: [raw.get(kind)] for kind, _ in self._normalisers}, 1)
        return RecordKeys(
            keys={kt: values[0] for kt, values in formed.keys.items() if values[0] is not None},
            invalid={kind: bad[0][1] for kind, bad in formed.invalid.items()},
        )


def compute_keys(raw: Mapping[str, object], key_types: Iterable[KeyType] = tuple(KeyType)) -> RecordKeys:
    """All of ``key_types`` that ``raw`` can form (a one-off :class:`KeyFormer`)."""
    return KeyFormer(key_types).form(raw)
