"""What every labelled set is built from: the note type, the generator loop and the value helpers.

Each set module holds only its own data (templates, clean templates, names and spellings); the
helpers here draw the values those spellings are made from, so every set draws them the same way.
Every helper takes the set's ``random.Random`` and draws from it in a fixed order: changing that
order (or the length of a list passed to ``rnd.choice``) changes every later note, and the pinned
SHA-256 of each frozen set in tests/pseudonymise/test_scan_eval.py catches it.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pseudonymise import checkdigits
from pseudonymise.normalise import normalise_nino

MONTH_NAMES: Final = (
    "January February March April May June July August September October November December".split()  # noqa: SIM905
)
NINO_LETTERS: Final = "ABCEGHJKLMNPRSTWXYZ"
WEEKDAYS: Final = ["Mon", "Tues", "Wed", "Thurs", "Fri"]

# A set's spellings of every label: (label, rnd, forename, surname) -> the planted value.
Value = Callable[[str, random.Random, str, str], str]
# A set's clean-note fields: rnd -> the keyword arguments its clean templates are formatted with.
Fields = Callable[[random.Random], dict[str, object]]


@dataclass(frozen=True)
class Note:
    text: str
    label: str | None  # None for a clean note
    names: tuple[str, ...] = ()  # the subject's names, passed as the scan's deny-list


def valid_chi(rnd: random.Random) -> str:
    while True:
        first9 = f"{rnd.randint(1, 28):02d}{rnd.randint(1, 12):02d}{rnd.randint(8, 24):02d}"
        first9 += f"{rnd.randint(0, 999):03d}"
        check = checkdigits.chi_check_digit(first9)
        if check is not None:
            return first9 + str(check)


def valid_nhs(rnd: random.Random) -> str:
    """Spaced 3-3-4 half the time, as in-sample spells it; other sets strip the spaces but keep the draw."""
    while True:
        first9 = f"{rnd.randint(400, 799)}{rnd.randint(0, 999999):06d}"
        check = checkdigits.nhs_check_digit(first9)
        if check is not None:
            s = first9 + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}" if rnd.random() < 0.5 else s


def valid_scn(rnd: random.Random) -> str:
    while True:
        first8 = f"{rnd.randint(6, 25):02d}{rnd.randint(0, 999999):06d}"
        check = checkdigits.scn_check_digit(first8)
        if check is not None:
            return first8 + str(check)


def valid_nino(draw: Callable[[], str]) -> str:
    """Draw spellings until one has a prefix HMRC issues (random letter pairs often are not)."""
    while True:
        nino = draw()
        if isinstance(normalise_nino(nino), str):
            return nino


def spelt_nino(rnd: random.Random, spellings: Callable[[str, str, str], list[str]]) -> str:
    """A valid NINO in one of ``spellings(prefix, six digits, suffix)``, as the held-out sets draw it."""

    def draw() -> str:
        digits = f"{rnd.randint(0, 999999):06d}"
        prefix, suffix = rnd.choice(NINO_LETTERS) + rnd.choice(NINO_LETTERS), rnd.choice("ABCD")
        return rnd.choice(spellings(prefix, digits, suffix))

    return valid_nino(draw)


def day_month_year(rnd: random.Random, first_year: int = 2008, last_year: int = 2024) -> tuple[int, int, int]:
    """Day, month and year of a date that exists (no day after the 28th)."""
    return rnd.randint(1, 28), rnd.randint(1, 12), rnd.randint(first_year, last_year)


def ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def inward_code(rnd: random.Random) -> str:
    """A postcode's inward code, from the letters Royal Mail uses there."""
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{rnd.randint(1, 9)}{rnd.choice(letters)}{rnd.choice(letters)}"


def _landline(rnd: random.Random, areas: list[str]) -> tuple[str, str]:
    """An area code and a local number that make up 10 digits after the 0."""
    area = rnd.choice(areas)
    return area, f"{rnd.randint(2, 9)}{rnd.randint(0, 10 ** (10 - len(area)) - 1):0{10 - len(area)}d}"


def _mobile(rnd: random.Random, prefixes: list[str]) -> str:
    """A UK mobile's 10 digits after the 0 (7xxx plus 6)."""
    return f"{rnd.choice(prefixes)}{rnd.randint(100000, 999999)}"


def spelt_phone(
    rnd: random.Random,
    areas: list[str],
    landline_spellings: Callable[[str, str], list[str]],
    prefixes: list[str],
    mobile_spellings: Callable[[str], list[str]],
) -> str:
    """A landline two times in five, else a mobile, as v2 to v4 draw them, in one of the set's spellings.

    ``landline_spellings(area code, local number)``; ``mobile_spellings(the 10 digits after the 0)``.
    """
    if rnd.random() < 0.4:
        area, local = _landline(rnd, areas)
        return rnd.choice(landline_spellings(area, local))
    return rnd.choice(mobile_spellings(_mobile(rnd, prefixes)))


def unaccented(text: str) -> str:
    """Accents dropped, as people type a name on a keyboard without them."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def small_numbers(rnd: random.Random) -> dict[str, object]:
    return {"a": rnd.randint(1, 99), "b": rnd.randint(1, 12)}


def build_notes(
    templates: dict[str, list[str]],
    clean_templates: list[str],
    value: Value,
    names: tuple[list[str], list[str]],
    per_label: int,
    clean: int,
    seed: int,
    clean_fields: Fields = small_numbers,
) -> list[Note]:
    """``per_label`` notes per label in ``templates``' order, then ``clean`` notes, all from ``seed``."""
    rnd = random.Random(seed)
    notes: list[Note] = []
    for label, label_templates in templates.items():
        for _ in range(per_label):
            forename, surname = rnd.choice(names[0]), rnd.choice(names[1])
            text = rnd.choice(label_templates).format(v=value(label, rnd, forename, surname))
            notes.append(Note(text, label, (forename, surname)))
    for _ in range(clean):
        text = rnd.choice(clean_templates).format(**clean_fields(rnd))
        notes.append(Note(text, None, (rnd.choice(names[0]), rnd.choice(names[1]))))
    return notes
