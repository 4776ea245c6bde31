"""Check-digit rules for UK child identifiers (CHI, SCN, NHS number, UPN).

Pure functions on digit strings so the synthetic-data generator and the validators share one
implementation. Rules and test vectors: research note pseudonymise_audit.md §A2 (phsmethods
``chi_check``, HESA ``SCN``, python-stdnum ``gb.nhs``/``gb.upn``).
"""

from __future__ import annotations

import datetime as dt
import functools
import operator

_WEIGHTS_10_TO_2 = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: I, O and S are not used
_UPN_VALUES = {c: i for i, c in enumerate(_UPN_ALPHABET)}


def _digits(s: str, n: int) -> list[int] | None:
    if len(s) != n or not s.isascii() or not s.isdigit():
        return None
    return list(map(int, s))


def _mod11(digits: list[int], weights: tuple[int, ...]) -> int | None:
    """11 - (weighted sum mod 11); 11 maps to 0 and 10 means the number cannot be issued."""
    check = 11 - sum(map(operator.mul, digits, weights)) % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def chi_check_digit(first9: str) -> int | None:
    """Mod-11 CHI check digit (weights 10..2); None when the remainder makes the number unusable."""
    digits = _digits(first9, 9)
    return None if digits is None else _mod11(digits, _WEIGHTS_10_TO_2)


def chi_check_digit_mod10(first9: str) -> int | None:
    """Mod-10 (Luhn-style) CHI check digit, issued once Mod-11 numbers for a date run out.

    Digits 1, 3, 5, 7 and 9 are doubled (minus 9 when over 9); check = (10 - sum mod 10) mod 10.
    """
    digits = _digits(first9, 9)
    if digits is None:
        return None
    total = 0
    for position, d in enumerate(digits, start=1):
        if position % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


@functools.lru_cache(maxsize=40_000)
def chi_date_is_valid(ddmmyy: str) -> bool:
    """True when DDMMYY is a real date in the 1900s or the 2000s (CHI has no century digit)."""
    if _digits(ddmmyy, 6) is None:
        return False
    day, month, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    for century in (2000, 1900):
        try:
            dt.date(century + yy, month, day)
        except ValueError:
            continue
        return True
    return False


def chi_is_valid(s: str) -> bool:
    """A 10-digit CHI with a real DDMMYY date and a valid Mod-11 or Mod-10 check digit.

    Both rules are accepted because NHS Scotland issues Mod-10 numbers from 2025/26 once Mod-11
    numbers for a date of birth are exhausted.
    """
    return chi_date_is_valid(s[:6]) and chi_check_digit_is_valid(s)


def chi_check_digit_is_valid(s: str) -> bool:
    """The check-digit half of :func:`chi_is_valid` (Mod 11 first, Mod 10 only when that fails)."""
    digits = _digits(s, 10)
    if digits is None:
        return False
    check = digits[9]
    return _mod11(digits[:9], _WEIGHTS_10_TO_2) == check or chi_check_digit_mod10(s[:9]) == check


def scn_check_digit(first8: str) -> int | None:
    """SCN check digit: mod 11 with weights 3 2 7 6 5 4 3 2; None when unusable (remainder 1)."""
    digits = _digits(first8, 8)
    return None if digits is None else _mod11(digits, (3, 2, 7, 6, 5, 4, 3, 2))


def nhs_check_digit(first9: str) -> int | None:
    """NHS number check digit: mod 11 with weights 10..2; None when unusable."""
    digits = _digits(first9, 9)
    return None if digits is None else _mod11(digits, _WEIGHTS_10_TO_2)


def upn_check_letter(last12: str) -> str:
    """UPN check letter for characters 2-13: sum(position * value) mod 23 mapped to A-Z minus I, O, S.

    Digits count as their value; a letter in the last position (temporary UPN) counts as its index
    in the 23-letter alphabet. Raises ValueError on a malformed body (a programming error).
    """
    if len(last12) != 12 or not last12[:11].isascii() or not last12[:11].isdigit():
        raise ValueError("UPN body must be 11 digits followed by a digit or letter")
    total = 0
    for position, c in enumerate(last12, start=2):
        if c.isdigit():
            value = int(c)
        elif c in _UPN_VALUES:
            value = _UPN_VALUES[c]
        else:
            raise ValueError("UPN body has a character outside the UPN alphabet")
        total += position * value
    return _UPN_ALPHABET[total % 23]
