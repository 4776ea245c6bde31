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


def text_array(values: pa.Array | Sequence[object]) -> pa.Array:
    """A column as an Arrow ``string`` array; Python values and non-text Arrow columns (Parquet dates,
    integers) are turned into text per value by :func:`as_text`, as :func:`normalise` callers do."""
    if isinstance(values, pa.Array):
        if pa.types.is_string(values.type):
            return values
        if pa.types.is_large_string(values.type):
            return values.cast(pa.string())
        values = values.to_pylist()
    return pa.array([v if v is None or isinstance(v, str) else as_text(v) for v in values], pa.string())


class NormalisedColumn(NamedTuple):
    """A normalised column: ``values[i]`` is row i's canonical form, or null when it is missing or
    invalid; ``invalid`` lists (row index, reason) for the invalid ones (missing is not invalid)."""

    values: pa.Array
    invalid: list[tuple[int, Invalid]]


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


def normalise_array(
    kind: IdentifierKind, values: pa.Array | Sequence[object], normaliser: Normaliser | None = None
) -> NormalisedColumn:
    """Column-wise :func:`normalise`: exactly ``normalise(kind, v)`` per value, without a Python call per row.

    The pipeline's hot path. Repeating kinds are normalised once per distinct value (Arrow dictionary
    encoding). A vectorised fast path (:data:`_FAST_PATHS`) settles the usual spellings: clean CHI,
    SCN and NHS digits (also with a lost leading zero), ISO and DD/MM/YYYY dates, one-word ASCII
    names; only what it cannot settle goes through ``normaliser``, one value at a time.
    ``normaliser`` is ``NORMALISERS[kind]`` or the same function memoised (:func:`cached`).
    """
    normaliser = normaliser or NORMALISERS[kind]
    text = text_array(values)
    if kind not in REPEATING:
        return _normalise_rows(kind, text, normaliser)
    encoded = text.dictionary_encode()
    distinct = _normalise_rows(kind, encoded.dictionary, normaliser)
    invalid: list[tuple[int, Invalid]] = []
    if distinct.invalid:
        reasons = dict(distinct.invalid)
        codes = encoded.indices.fill_null(-1).to_numpy()
        rows = np.flatnonzero(np.isin(codes, list(reasons)))
        invalid = [(i, reasons[c]) for i, c in zip(rows.tolist(), codes[rows].tolist(), strict=True)]
    return NormalisedColumn(distinct.values.take(encoded.indices), invalid)


def _normalise_rows(kind: IdentifierKind, values: pa.Array, normaliser: Normaliser) -> NormalisedColumn:
    """The kind's fast path, then ``normaliser`` on each non-null value it left unsettled."""
    fast_path = _FAST_PATHS.get(kind)
    if fast_path is None:
        fast_values, fast = values, np.zeros(len(values), dtype=np.bool_)
    else:
        fast_values, fast = fast_path(values)
    slow = ~fast & values.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(slow)
    if not len(rows):
        return NormalisedColumn(fast_values, [])
    results = [normaliser(v) for v in values.take(rows).to_pylist()]
    canonical = pa.array([r if isinstance(r, str) else None for r in results], pa.string())
    invalid: list[tuple[int, Invalid]] = [
        (i, r)
        for i, r in zip(rows.tolist(), results, strict=True)
        if isinstance(r, Invalid) and r is not Invalid.MISSING
    ]
    return NormalisedColumn(pc.replace_with_mask(fast_values, pa.array(slow), canonical), invalid)


def fixed_width_strings(present: npt.NDArray[np.bool_], text: npt.NDArray[np.uint8]) -> pa.Array:
    """An Arrow string column holding ``text``'s rows (ASCII, all one width) at the ``present`` rows
    in order, null elsewhere; built straight from the bytes, with no Python string per row."""
    count, width = text.shape
    offsets = np.zeros(len(present) + 1, dtype=np.int32)
    np.cumsum(present, out=offsets[1:])
    offsets *= width
    nulls = len(present) - count
    validity = pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None
    data = pa.py_buffer(np.ascontiguousarray(text))
    return pa.StringArray.from_buffers(len(present), pa.py_buffer(offsets), data, validity, nulls)


def _fixed_width(
    values: pa.Array, widths: tuple[int, ...], fill: int = 0
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
    """The non-null rows whose UTF-8 length is one of ``widths`` and their bytes as rows x max(widths),
    right-aligned (shorter values filled on the left with ``fill``), read straight from the Arrow
    buffers."""
    width = max(widths)
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    lengths = np.diff(offsets)
    if values.null_count:
        lengths *= values.is_valid().to_numpy(zero_copy_only=False)
    if data_buffer is None or not len(values):
        return np.empty(0, dtype=np.intp), np.empty((0, width), dtype=np.uint8)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    if (lengths == width).all():  # the usual column: every value has the full width, back to back
        return np.arange(len(values)), data[offsets[0] : offsets[-1]].reshape(-1, width)
    rows = np.flatnonzero(np.isin(lengths, widths))
    shift = width - lengths[rows]
    text = data[np.maximum((offsets[rows] - shift)[:, None] + np.arange(width), 0)]
    text[np.arange(width) < shift[:, None]] = fill
    return rows, text


def _digits(text: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int16]]:
    """Which rows of ``text`` are all ASCII digits, and the digits as columns x rows."""
    digits = np.ascontiguousarray(text.T) - np.uint8(ord("0"))  # uint8 wraps: non-digits exceed 9
    clean: npt.NDArray[np.bool_] = np.asarray((digits <= 9).all(axis=0))
    return clean, digits.astype(np.int16)


class _DigitRule(NamedTuple):
    """A number of ``width`` digits (``pad_from`` digits when a spreadsheet dropped a leading zero)
    and its check, vectorised over rows of digits."""

    width: int
    pad_from: int | None
    valid: Callable[[npt.NDArray[np.int16]], npt.NDArray[np.bool_]]


def _digit_fast_path(rule: _DigitRule) -> FastPath:
    """Rows of ``rule.width`` digits, or ``rule.pad_from`` (a lost leading zero), that pass the check."""

    def fast_path(values: pa.Array) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
        rows, text = _fixed_width(values, (rule.width, rule.pad_from or rule.width), fill=ord("0"))
        clean, digits = _digits(text)
        if clean.all():
            clean = rule.valid(digits)
        else:
            clean[clean] = rule.valid(digits[:, clean])
        fast = np.zeros(len(values), dtype=np.bool_)
        fast[rows[clean]] = True
        return fixed_width_strings(fast, text if clean.all() else text[clean]), fast

    return fast_path


_DAYS_IN_MONTH: Final = np.array(
    [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] + [0] * 87, dtype=np.int16
)


def _weighted_sum(d: npt.NDArray[np.int16], weights: tuple[int, ...]) -> npt.NDArray[np.int16]:
    """sum(weight_i * digit_i) per row of digits x rows, one contiguous digit row at a time."""
    total = d[0] * np.int16(weights[0])
    for digit, weight in zip(d[1:], weights[1:], strict=False):
        total += digit * np.int16(weight)
    return total


def _mod11_check(d: npt.NDArray[np.int16], weights: tuple[int, ...]) -> npt.NDArray[np.int16]:
    """:func:`checkdigits._mod11` per row: 11 - (weighted sum mod 11), 11 as 0, 10 (unusable) kept."""
    check = 11 - _weighted_sum(d, weights) % 11
    check[check == 11] = 0  # 10 never equals a digit
    return check


_CHI_WEIGHTS: Final = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def _chi_valid(d: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
    """:func:`checkdigits.chi_is_valid` for ten digits x rows, vectorised."""
    check = d[9]
    odd = d[0:9:2]
    doubled = 2 * odd - 9 * (odd >= 5)  # Luhn: double, minus 9 when over 9
    mod10 = (10 - (doubled.sum(axis=0) + d[1:9:2].sum(axis=0)) % 10) % 10
    day, month, yy = d[0] * 10 + d[1], d[2] * 10 + d[3], d[4] * 10 + d[5]
    # DDMMYY is valid in the 1900s or the 2000s, so 29 February needs yy % 4 == 0 (2000 was leap).
    days = _DAYS_IN_MONTH[month] + ((month == 2) & (yy % 4 == 0))
    valid: npt.NDArray[np.bool_] = (
        (day >= 1) & (day <= days) & ((_mod11_check(d, _CHI_WEIGHTS) == check) | (mod10 == check))
    )
    return valid


def _mod11_valid(weights: tuple[int, ...]) -> Callable[[npt.NDArray[np.int16]], npt.NDArray[np.bool_]]:
    """The :mod:`checkdigits` mod-11 rule with these weights, vectorised over digits x rows."""

    def valid(d: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        ok: npt.NDArray[np.bool_] = _mod11_check(d, weights) == d[len(weights)]
        return ok

    return valid


_ISO_DIGITS: Final = np.array([0, 1, 2, 3, 5, 6, 8, 9])  # YYYY-MM-DD
_DMY_DIGITS: Final = np.array([6, 7, 8, 9, 3, 4, 0, 1])  # DD/MM/YYYY, read as YYYYMMDD
_ISO_LAYOUT: Final = np.array([0, 1, 2, 3, -1, 4, 5, -1, 6, 7])  # YYYYMMDD digit per output byte


def _dob_fast_path(values: pa.Array) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
    """``YYYY-MM-DD`` and ``DD/MM/YYYY`` (the two spellings nearly every extract uses) that are real
    dates in range, parsed in numpy; everything else is left to :func:`normalise_dob`."""
    rows, text = _fixed_width(values, (10,))
    iso = (text[:, 4] == ord("-")) & (text[:, 7] == ord("-"))
    dmy = (text[:, 2] == ord("/")) & (text[:, 5] == ord("/"))
    clean, d = _digits(np.where(iso[:, None], text[:, _ISO_DIGITS], text[:, _DMY_DIGITS]))
    year = d[0].astype(np.int32) * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    month, day = d[4] * 10 + d[5], d[6] * 10 + d[7]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = _DAYS_IN_MONTH[np.minimum(month, 13)] + ((month == 2) & leap)
    ok = clean & (iso | dmy) & (day >= 1) & (day <= days) & (year >= MIN_YEAR) & (year <= MAX_YEAR)
    fast = np.zeros(len(values), dtype=np.bool_)
    fast[rows[ok]] = True
    iso_text = (d[:, ok].T + np.uint8(ord("0"))).astype(np.uint8)[:, np.maximum(_ISO_LAYOUT, 0)]
    iso_text[:, _ISO_LAYOUT < 0] = ord("-")
    return fixed_width_strings(fast, iso_text), fast


def _name_fast_path(values: pa.Array) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
    """One word of ASCII letters: lower case, and a leading 'mac' as 'mc' (what :func:`normalise_name`
    does to it); names with spaces, punctuation, titles or accents are left to it."""
    fast = pc.fill_null(pc.match_substring_regex(values, "^[A-Za-z]+$"), False).to_numpy(zero_copy_only=False)
    lowered = pc.replace_substring_regex(pc.ascii_lower(values), "^mac(.)", r"mc\1")
    return lowered, fast


FastPath = Callable[[pa.Array], tuple[pa.Array, npt.NDArray[np.bool_]]]
# Vectorised normalisation for the usual spellings: (canonical column, rows it settled). Rows it
# did not settle are normalised by the per-value function, so the result is always exactly that.
_FAST_PATHS: Final[dict[IdentifierKind, FastPath]] = {
    IdentifierKind.CHI: _digit_fast_path(_DigitRule(10, 9, _chi_valid)),
    IdentifierKind.SCN: _digit_fast_path(_DigitRule(9, 8, _mod11_valid((3, 2, 7, 6, 5, 4, 3, 2)))),
    IdentifierKind.NHS: _digit_fast_path(_DigitRule(10, None, _mod11_valid((10, 9, 8, 7, 6, 5, 4, 3, 2)))),
    IdentifierKind.DOB: _dob_fast_path,
    IdentifierKind.FORENAME: _name_fast_path,
    IdentifierKind.SURNAME: _name_fast_path,
}
