"""Normalise and validate identifiers before they are hashed.

Two records only link if both sides produce byte-identical input to the HMAC, so every normaliser maps
the spellings agencies actually send (spaces, lost leading zeros, diacritics, date formats) to one
canonical form. Each returns that form or an :class:`Invalid` reason; the reason never carries the value,
so it is safe to count, log and report.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pseudonymise import checkdigits


class Invalid(enum.Enum):
    """Why a raw value could not be used.

    Deliberately not a ``str`` subclass, so a reason can never pass for a value and be hashed.
    """

    MISSING = "missing"
    BAD_FORMAT = "bad_format"
    BAD_CHECK_DIGIT = "bad_check_digit"
    BAD_DATE = "bad_date"
    OUT_OF_RANGE = "out_of_range"
    AMBIGUOUS = "ambiguous"


Normalised = str | Invalid
Normaliser = Callable[[str], Normalised]

_SEPARATORS = re.compile(r"[\s\-./]+")


def _compact(raw: str) -> str:
    """Drop the spaces, hyphens, dots and slashes people type inside identifiers."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))


def _strip_float_suffix(s: str) -> str:
    """Spreadsheet exports turn 0101011237 into '101011237.0'; the '.0' is not part of the number."""
    return s[:-2] if s.endswith(".0") and s[:-2].isdigit() else s


def _digit_identifier(raw: str, length: int, pad_from: int | None) -> Normalised:
    s = raw.strip()
    if len(s) == length and s.isascii() and s.isdigit():
        return s  # the common case: already clean
    if not s:
        return Invalid.MISSING
    s = _compact(_strip_float_suffix(s))
    if not (s.isascii() and s.isdigit()):
        return Invalid.BAD_FORMAT
    if pad_from is not None and len(s) == pad_from:
        s = s.zfill(length)
    if len(s) != length:
        return Invalid.BAD_FORMAT
    return s


def normalise_chi(raw: str) -> Normalised:
    """CHI: 10 digits, DDMMYY date, Mod-11 or Mod-10 check digit; 9 digits get their leading zero back."""
    s = _digit_identifier(raw, 10, pad_from=9)
    if isinstance(s, Invalid):
        return s
    if not checkdigits.chi_date_is_valid(s[:6]):
        return Invalid.BAD_DATE
    return s if checkdigits.chi_check_digit_is_valid(s) else Invalid.BAD_CHECK_DIGIT


def normalise_scn(raw: str) -> Normalised:
    """SCN: 9 digits whose first two are the issue year, so an 8-digit value lost its leading zero."""
    s = _digit_identifier(raw, 9, pad_from=8)
    if isinstance(s, Invalid):
        return s
    return s if checkdigits.scn_check_digit(s[:8]) == int(s[8]) else Invalid.BAD_CHECK_DIGIT


def normalise_nhs(raw: str) -> Normalised:
    """NHS number: 10 digits with a Mod-11 check digit (often written 3-3-4 with spaces)."""
    s = _digit_identifier(raw, 10, pad_from=None)
    if isinstance(s, Invalid):
        return s
    return s if checkdigits.nhs_check_digit(s[:9]) == int(s[9]) else Invalid.BAD_CHECK_DIGIT


_UPN = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")


def normalise_upn(raw: str) -> Normalised:
    """UPN: check letter + 11 digits + digit (or letter for a temporary UPN), upper case."""
    s = raw.strip()
    if not s:
        return Invalid.MISSING
    s = _compact(s).upper()
    if not _UPN.fullmatch(s) or not s.isascii():
        return Invalid.BAD_FORMAT
    try:
        expected = checkdigits.upn_check_letter(s[1:])
    except ValueError:
        return Invalid.BAD_FORMAT
    return s if expected == s[0] else Invalid.BAD_CHECK_DIGIT


_NINO = re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?")


def normalise_nino(raw: str) -> Normalised:
    """NINO (HMRC NIM39110 prefix rules); the suffix letter is dropped because systems disagree on it."""
    s = raw.strip()
    if not s:
        return Invalid.MISSING
    s = _compact(s).upper()
    if not s.isascii() or not _NINO.fullmatch(s):
        return Invalid.BAD_FORMAT
    return s[:8]


_TITLES: Final = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "master",
        "dr",
        "prof",
        "rev",
        "sir",
        "dame",
        "lady",
        "lord",
        "fr",
        "sister",
    }
)
_SUFFIXES: Final = frozenset(["jr", "jnr", "sr", "snr", "ii", "iii", "iv"])
_NAME_WORDS = re.compile(r"[^\W\d_]+")


def normalise_name(raw: str) -> Normalised:
    """Forename or surname as lower-case letters only.

    NFKD + casefold + drop combining marks (Zoë -> zoe); a leading title and a trailing suffix are
    removed when other words remain; hyphens, apostrophes and spaces join (O'Brien -> obrien,
    Smith-Jones -> smithjones); a leading 'mac' becomes 'mc' so MacDonald and McDonald share keys.
    """
    # NFKD before casefold too: compatibility letters (e.g. mathematical A) only become cased after it.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", raw).casefold())
    stripped = "".join(c for c in folded if not unicodedata.combining(c))
    words = _NAME_WORDS.findall(stripped)
    if len(words) > 1 and words[0] in _TITLES:
        words = words[1:]
    if len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    name = "".join(words)
    if not name:
        return Invalid.MISSING if not raw.strip() else Invalid.BAD_FORMAT
    return "mc" + name[3:] if name.startswith("mac") and len(name) > 3 else name


_MONTHS: Final = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[t ][0-9:.]+z?)?")
_COMPACT_ISO = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?: [0-9:.]+)?")
_DMY_TEXT = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[ \-]([a-z]+)\.?[ \-,]+(\d{2}|\d{4})")
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2099


def normalise_dob(raw: str) -> Normalised:
    """Date of birth to ISO ``YYYY-MM-DD``.

    Accepts ISO (with an optional time part, as spreadsheets export it), ``YYYYMMDD``, UK day-first
    ``DD/MM/YYYY`` (also ``-`` and ``.``) and ``3 April 2015``. Two-digit years are refused as
    ambiguous rather than guessed.
    """
    s = raw.strip().casefold()
    if not s:
        return Invalid.MISSING
    if (m := _ISO.fullmatch(s)) or (m := _COMPACT_ISO.fullmatch(s)):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := _DMY.fullmatch(s):
        if len(m[3]) == 2:
            return Invalid.AMBIGUOUS
        d, mo, y = int(m[1]), int(m[2]), int(m[3])
    elif m := _DMY_TEXT.fullmatch(s):
        if len(m[3]) == 2:
            return Invalid.AMBIGUOUS
        if m[2] not in _MONTHS:
            return Invalid.BAD_FORMAT
        d, mo, y = int(m[1]), _MONTHS[m[2]], int(m[3])
    else:
        return Invalid.BAD_FORMAT
    try:
        date = dt.date(y, mo, d)
    except ValueError:
        return Invalid.BAD_DATE
    if not MIN_YEAR <= date.year <= MAX_YEAR:
        return Invalid.OUT_OF_RANGE
    return date.isoformat()


_SEX: Final = {
    "m": "m",
    "male": "m",
    "1": "m",
    "boy": "m",
    "f": "f",
    "female": "f",
    "2": "f",
    "girl": "f",
    "x": "x",
    "other": "x",
    "indeterminate": "x",
    "3": "x",
}


def normalise_sex(raw: str) -> Normalised:
    """Recorded sex to ``m``, ``f`` or ``x``; 'unknown' and anything else are not guessed."""
    s = raw.strip().casefold()
    if not s:
        return Invalid.MISSING
    return _SEX.get(s, Invalid.BAD_FORMAT)


_POSTCODE = re.compile(
    r"(GIR0AA|[A-PR-UWYZ](?:[0-9][0-9A-HJKPSTUW]?|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?)[0-9][ABD-HJLNP-UW-Z]{2})"
)


def normalise_postcode(raw: str) -> Normalised:
    """UK postcode: upper case, one space before the three-character inward code."""
    s = raw.strip()
    if not s:
        return Invalid.MISSING
    s = re.sub(r"\s+", "", s).upper()
    if not s.isascii() or not _POSTCODE.fullmatch(s):
        return Invalid.BAD_FORMAT
    return f"{s[:-3]} {s[-3:]}"


def normalise_area(raw: str) -> Normalised:
    """A locality recorded with the address (town, suburb, data zone) as lower-case letters and digits.

    Free text with no register to check against, so only case, accents, spaces and punctuation are
    folded away: "St. Andrews" and "st andrews" agree.
    """
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", raw).casefold())
    area = "".join(c for c in folded if c.isascii() and c.isalnum())
    if not area:
        return Invalid.MISSING if not raw.strip() else Invalid.BAD_FORMAT
    return area


class IdentifierKind(enum.StrEnum):
    """The raw identifier fields a record may carry; the names are the agreement's ``identifier`` values."""

    CHI = "chi"
    SCN = "scn"
    NHS = "nhs"
    UPN = "upn"
    NINO = "nino"
    FORENAME = "forename"
    SURNAME = "surname"
    DOB = "dob"
    SEX = "sex"
    POSTCODE = "postcode"
    AREA = "area"


NORMALISERS: Final[dict[IdentifierKind, Normaliser]] = {
    IdentifierKind.CHI: normalise_chi,
    IdentifierKind.SCN: normalise_scn,
    IdentifierKind.NHS: normalise_nhs,
    IdentifierKind.UPN: normalise_upn,
    IdentifierKind.NINO: normalise_nino,
    IdentifierKind.FORENAME: normalise_name,
    IdentifierKind.SURNAME: normalise_name,
    IdentifierKind.DOB: normalise_dob,
    IdentifierKind.SEX: normalise_sex,
    IdentifierKind.POSTCODE: normalise_postcode,
    IdentifierKind.AREA: normalise_area,
}


def normalise(kind: IdentifierKind, raw: str) -> Normalised:
    """Dispatch on the identifier kind."""
    return NORMALISERS[kind](raw)


def cached(kind: IdentifierKind, maxsize: int = 1 << 16) -> Normaliser:
    """A memoised normaliser for kinds whose values repeat across rows (names, dates, sex, postcodes)."""
    return functools.lru_cache(maxsize=maxsize)(NORMALISERS[kind])


def as_text(value: object) -> str:
    """Parquet hands over dates and integers; give them the text form the normalisers expect."""
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return str(isoformat())[:10]
    return str(value)


class NormalisedColumn(NamedTuple):
    """A normalised column: ``values[i]`` is row i's canonical form, or None when it is missing or
    invalid; ``invalid`` lists (row index, reason) for the invalid ones (missing is not invalid)."""

    values: list[str | None]
    invalid: list[tuple[int, Invalid]]


def normalise_values(normaliser: Normaliser, values: Sequence[object]) -> NormalisedColumn:
    """``normaliser`` over a column of Python values; None is missing, non-text values go through
    :func:`as_text`."""
    results = [None if v is None else normaliser(v if isinstance(v, str) else as_text(v)) for v in values]
    return _split(results, range(len(results)))


def _split(results: list[Normalised | None], rows: Sequence[int]) -> NormalisedColumn:
    """Separate canonical values from reasons; ``rows`` are the row numbers of ``results``."""
    values = [r if isinstance(r, str) else None for r in results]
    invalid: list[tuple[int, Invalid]] = [
        (i, r)
        for i, r in zip(rows, results, strict=True)
        if isinstance(r, Invalid) and r is not Invalid.MISSING
    ]
    return NormalisedColumn(values, invalid)


def normalise_array(
    kind: IdentifierKind, values: pa.Array, normaliser: Normaliser | None = None
) -> NormalisedColumn:
    """Column-wise :func:`normalise` of an Arrow column: exactly ``normalise(kind, v)`` per value.

    This is the pipeline's hot path. Repeating kinds are normalised once per distinct value; a CHI
    that is already ten clean digits is validated with numpy and only the rest go through
    :func:`normalise_chi`. Non-text columns (Parquet dates, integers) take the per-value route.
    ``normaliser`` is ``NORMALISERS[kind]`` or the same function memoised (:func:`cached`, kept
    across batches).
    """
    normaliser = normaliser or NORMALISERS[kind]
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return normalise_values(normaliser, values.to_pylist())
    if kind is IdentifierKind.CHI:
        return _chi_array(values, normaliser)
    if kind in REPEATING:
        return _by_distinct(values, normaliser)
    return normalise_values(normaliser, values.to_pylist())


# Kinds whose values repeat across rows (shared names, birthdays): worth normalising once per value.
REPEATING: Final = frozenset(
    {
        IdentifierKind.FORENAME,
        IdentifierKind.SURNAME,
        IdentifierKind.DOB,
        IdentifierKind.SEX,
        IdentifierKind.POSTCODE,
        IdentifierKind.AREA,
    }
)


def _by_distinct(values: pa.Array, normaliser: Normaliser) -> NormalisedColumn:
    encoded = values.dictionary_encode()
    distinct = _split([normaliser(v) for v in encoded.dictionary.to_pylist()], range(len(encoded.dictionary)))
    lookup = np.array([*distinct.values, None], dtype=object)  # the last code is given to nulls
    codes = encoded.indices.fill_null(len(distinct.values)).to_numpy(zero_copy_only=False)
    invalid: list[tuple[int, Invalid]] = []
    if distinct.invalid:
        reasons = dict(distinct.invalid)
        bad_rows = np.flatnonzero(np.isin(codes, list(reasons)))
        invalid = [(i, reasons[c]) for i, c in zip(bad_rows.tolist(), codes[bad_rows].tolist(), strict=True)]
    return NormalisedColumn(lookup[codes].tolist(), invalid)


def _fixed_digits(values: pa.Array, width: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int16]]:
    """The rows whose text is exactly ``width`` ASCII digits, and those digits (rows x width)."""
    lengths = pc.binary_length(values).fill_null(0).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(lengths == width)
    if not len(rows):
        return rows, np.empty((0, width), dtype=np.int16)
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)
    starts = offsets[values.offset : values.offset + len(values)].astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    digits = data[starts[rows][:, None] + np.arange(width)].astype(np.int16) - ord("0")
    clean = ((digits >= 0) & (digits <= 9)).all(axis=1)
    return rows[clean], digits[clean]


_CHI_WEIGHTS: Final = np.arange(10, 1, -1, dtype=np.int16)
_DAYS_IN_MONTH: Final = np.array(
    [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] + [0] * 87, dtype=np.int16
)


def _chi_valid(d: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """:func:`checkdigits.chi_is_valid` for rows of ten digits, vectorised."""
    check = d[:, 9]
    mod11 = 11 - (d[:, :9] @ _CHI_WEIGHTS) % 11
    mod11[mod11 == 11] = 0  # 10 (unusable) never equals a digit
    doubled = d[:, 0:9:2] * 2
    doubled -= 9 * (doubled > 9)
    mod10 = (10 - (doubled.sum(axis=1) + d[:, 1:9:2].sum(axis=1)) % 10) % 10
    day, month, yy = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3], d[:, 4] * 10 + d[:, 5]
    # DDMMYY is valid in the 1900s or the 2000s, so 29 February needs yy % 4 == 0 (2000 was leap).
    days = _DAYS_IN_MONTH[month] + ((month == 2) & (yy % 4 == 0))
    valid: npt.NDArray[np.bool_] = (day >= 1) & (day <= days) & ((mod11 == check) | (mod10 == check))
    return valid


def _chi_array(values: pa.Array, normaliser: Normaliser) -> NormalisedColumn:
    raw: list[str | None] = values.to_pylist()
    rows, digits = _fixed_digits(values, 10)
    clean = np.zeros(len(raw), dtype=bool)
    clean[rows[_chi_valid(digits)]] = True
    clean |= values.is_null().to_numpy(zero_copy_only=False)
    others = np.flatnonzero(~clean).tolist()
    if not others:
        return NormalisedColumn(raw, [])
    slow = _split([normaliser(str(raw[i])) for i in others], others)  # others are never null
    for i, value in zip(others, slow.values, strict=True):
        raw[i] = value
    return NormalisedColumn(raw, slow.invalid)
