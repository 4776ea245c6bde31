"""Allocation of valid, unique CHI, SCN, NHS, UPN and NINO numbers without remembering the issued ones.

Each number space is walked with an affine permutation ``(a*n + b) mod m``, where ``a`` is coprime to
``m``. The n-th number issued is therefore unique, and only a counter per space is stored. This keeps
memory bounded for the 1M-child preset. Check digits come from :mod:`pseudonymise.checkdigits`, the same
code the validators use.
"""

from __future__ import annotations

import datetime as dt
import math
import string

from broker.synth.streams import derive_seed
from pseudonymise.checkdigits import chi_check_digit, nhs_check_digit, scn_check_digit, upn_check_letter


class _Space:
    """A permutation of ``range(size)`` keyed by a seed; ``next()`` returns successive distinct members."""

    def __init__(self, seed: int, size: int) -> None:
        a = seed % size or 1
        while math.gcd(a, size) != 1:
            a += 1
        self._a, self._b, self._size, self._n = a, (seed // size) % size, size, 0

    def next(self) -> int:
        if self._n >= self._size:
            raise RuntimeError("identifier space exhausted")
        value = (self._a * self._n + self._b) % self._size
        self._n += 1
        return value


class _Spaces:
    """One permutation per key (date of birth and sex, issue year, ...), created on first use."""

    def __init__(self, seed: int, kind: str, size: int) -> None:
        self._seed, self._kind, self._size = seed, kind, size
        self._spaces: dict[str, _Space] = {}

    def next(self, key: str) -> int:
        space = self._spaces.get(key)
        if space is None:
            space = self._spaces[key] = _Space(derive_seed(self._seed, f"{self._kind}:{key}"), self._size)
        return space.next()


_CHI_MALE_DIGITS = "13579"
_CHI_FEMALE_DIGITS = "02468"
_NINO_FIRST = [c for c in string.ascii_uppercase if c not in "DFIQUV"]
_NINO_SECOND = [c for c in string.ascii_uppercase if c not in "DFIOQUV"]
_NINO_PREFIXES = tuple(
    a + b
    for a in _NINO_FIRST
    for b in _NINO_SECOND
    if a + b not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
)


class Allocator:
    """Issues identifiers for one generated population (one master seed)."""

    def __init__(self, seed: int) -> None:
        self._chi = _Spaces(seed, "chi", 100 * 5)
        self._scn = _Spaces(seed, "scn", 10**6)
        self._nhs = _Spaces(seed, "nhs", 10**8)
        self._upn = _Spaces(seed, "upn", 10**10)
        self._nino = _Spaces(seed, "nino", len(_NINO_PREFIXES) * 10**6)

    def chi(self, dob: dt.date, sex: str) -> str:
        """DDMMYY, two serial digits, a sex digit (odd male, even female) and the mod-11 check digit."""
        sex_digits = _CHI_MALE_DIGITS if sex == "M" else _CHI_FEMALE_DIGITS
        key = f"{dob.isoformat()}:{sex}"
        while True:
            serial, sex_index = divmod(self._chi.next(key), 5)
            first9 = f"{dob:%d%m%y}{serial:02d}{sex_digits[sex_index]}"
            check = chi_check_digit(first9)
            if check is not None:
                return f"{first9}{check}"

    def scn(self, issue_year: int) -> str:
        """Two-digit issue year, six digits unique within the year, mod-11 check digit."""
        while True:
            first8 = f"{issue_year % 100:02d}{self._scn.next(str(issue_year)):06d}"
            check = scn_check_digit(first8)
            if check is not None:
                return f"{first8}{check}"

    def nhs(self) -> str:
        """An England-style NHS number (4xx xxx xxxx) for children born outside Scotland."""
        while True:
            first9 = f"4{self._nhs.next('england'):08d}"
            check = nhs_check_digit(first9)
            if check is not None:
                return f"{first9}{check}"

    def upn(self, entry_year: int) -> str:
        """An English UPN for pupils who transferred from England: LA, establishment, year, serial."""
        body = f"{self._upn.next('england'):010d}"
        last12 = f"{body[:7]}{entry_year % 100:02d}{body[7:]}"
        return upn_check_letter(last12) + last12

    def nino(self, suffix: str) -> str:
        """A well-formed National Insurance number (HMRC prefix rules) for a parent."""
        prefix, digits = divmod(self._nino.next("parents"), 10**6)
        return f"{_NINO_PREFIXES[prefix]}{digits:06d}{suffix}"
