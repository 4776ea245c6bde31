"""Normalisers: examples from real-world spellings, idempotence and check-scheme properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pseudonymise import checkdigits
from pseudonymise.normalise import (
    IdentifierKind,
    Invalid,
    normalise,
    normalise_chi,
    normalise_dob,
    normalise_name,
    normalise_nhs,
    normalise_nino,
    normalise_postcode,
    normalise_scn,
    normalise_sex,
    normalise_upn,
)

PROPS = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("0101011237", "0101011237"),
        ("101011237", "0101011237"),  # leading zero lost by a spreadsheet
        ("101011237.0", "0101011237"),
        (" 010101 1237 ", "0101011237"),
        ("0101201234", "0101201234"),  # Mod-10 CHI
        ("", Invalid.MISSING),
        ("01010112", Invalid.BAD_FORMAT),
        ("01O1011237", Invalid.BAD_FORMAT),
        ("3201011234", Invalid.BAD_DATE),
        ("0101011238", Invalid.BAD_CHECK_DIGIT),
    ],
)
def test_chi(raw: str, expected: object) -> None:
    assert normalise_chi(raw) == expected


def test_other_identifiers() -> None:
    assert normalise_nhs("943 476 5919") == "9434765919"
    assert normalise_nhs("943-476-5918") is Invalid.BAD_CHECK_DIGIT
    assert normalise_scn("10000000 8") == "100000008"
    assert normalise_scn("06000003") == normalise_scn("006000003")  # issue year 00 lost its zero
    assert normalise_upn(" b801200005001") == "B801200005001"
    assert normalise_upn("A801200005001") is Invalid.BAD_CHECK_DIGIT
    assert normalise_upn("B80120000500") is Invalid.BAD_FORMAT
    assert normalise_nino("jg 10 37 59 a") == "JG103759"
    assert normalise_nino("QQ123456C") is Invalid.BAD_FORMAT  # Q is never a prefix letter
    assert normalise_nino("GB123456A") is Invalid.BAD_FORMAT  # unallocated prefix
    assert normalise_postcode(" eh11aa") == "EH1 1AA"
    assert normalise_postcode("SW1A1AA") == "SW1A 1AA"
    assert normalise_postcode("EH1 1CI") is Invalid.BAD_FORMAT
    assert normalise_sex(" Female ") == "f"
    assert normalise_sex("unknown") is Invalid.BAD_FORMAT
    assert normalise(IdentifierKind.CHI, "101011237") == "0101011237"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Seán", "sean"),
        ("ZOË", "zoe"),
        ("O'Brien", "obrien"),
        ("Smith-Jones", "smithjones"),
        ("MacDonald", "mcdonald"),
        ("McDonald", "mcdonald"),
        ("Mr John Smith Jr", "johnsmith"),
        ("Straße", "strasse"),
        ("  ", Invalid.MISSING),
        ("123", Invalid.BAD_FORMAT),
    ],
)
def test_names(raw: str, expected: object) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2015-04-03",
        "03/04/2015",
        "3/4/2015",
        "03-04-2015",
        "03.04.2015",
        "20150403",
        "3 April 2015",
        "3rd Apr 2015",
        "2015-04-03 00:00:00",
        "2015-04-03T00:00:00",
    ],
)
def test_dob_formats(raw: str) -> None:
    assert normalise_dob(raw) == "2015-04-03"


@pytest.mark.parametrize(
    "raw,reason",
    [
        ("03/04/15", Invalid.AMBIGUOUS),
        ("31/02/2015", Invalid.BAD_DATE),
        ("1850-01-01", Invalid.OUT_OF_RANGE),
        ("yesterday", Invalid.BAD_FORMAT),
        ("3 Smarch 2015", Invalid.BAD_FORMAT),
        ("", Invalid.MISSING),
    ],
)
def test_dob_invalid(raw: str, reason: Invalid) -> None:
    assert normalise_dob(raw) is reason


def test_invalid_is_not_a_string() -> None:
    # A reason must never be mistaken for a normalised value (and so never hashed).
    assert not isinstance(Invalid.BAD_FORMAT, str)


# --- idempotence ---------------------------------------------------------------------------------


@PROPS
@given(st.sampled_from(list(IdentifierKind)), st.text(max_size=30))
def test_normalisation_is_idempotent_on_any_text(kind: IdentifierKind, raw: str) -> None:
    once = normalise(kind, raw)
    if isinstance(once, str):
        assert normalise(kind, once) == once


@PROPS
@given(
    st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)),
    st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d", "%d %B %Y", "%d %b %Y"]),
)
def test_dob_any_format_gives_iso(date: dt.date, fmt: str) -> None:
    out = normalise_dob(date.strftime(fmt))
    assert out == date.isoformat()
    assert normalise_dob(out) == out


# --- generated valid numbers and single errors -----------------------------------------------------


@st.composite
def chis(draw: st.DrawFn) -> str:
    date = draw(st.dates(dt.date(1925, 1, 1), dt.date(2024, 12, 31)))
    first9 = date.strftime("%d%m%y") + draw(st.from_regex(r"\A[0-9]{3}\Z"))
    check = checkdigits.chi_check_digit(first9)
    assume(check is not None)
    return first9 + str(check)


@st.composite
def scns(draw: st.DrawFn) -> str:
    first8 = draw(st.from_regex(r"\A[0-9]{8}\Z"))
    check = checkdigits.scn_check_digit(first8)
    assume(check is not None)
    return first8 + str(check)


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    first9 = draw(st.from_regex(r"\A[0-9]{9}\Z"))
    check = checkdigits.nhs_check_digit(first9)
    assume(check is not None)
    return first9 + str(check)


@st.composite
def upns(draw: st.DrawFn) -> str:
    body = draw(st.from_regex(r"\A[0-9]{11}[0-9ABCDEFGHJKLMNPQRTUVWXYZ]\Z"))
    return checkdigits.upn_check_letter(body) + body


def _substitute(s: str, pos: int, delta: int) -> str:
    return s[:pos] + str((int(s[pos]) + delta) % 10) + s[pos + 1 :]


def _transpose(s: str, pos: int) -> str:
    return s[:pos] + s[pos + 1] + s[pos] + s[pos + 2 :]


def _mod11_ok(s: str) -> bool:
    return checkdigits.nhs_check_digit(s[:9]) == int(s[9])


@PROPS
@given(chis(), st.integers(0, 9), st.integers(1, 9), st.integers(0, 8))
def test_chi_accepts_valid_and_mod11_catches_errors(chi: str, pos: int, delta: int, tpos: int) -> None:
    assert normalise_chi(chi) == chi
    assert normalise_chi(chi.lstrip("0") if chi.startswith("0") and chi[1] != "0" else chi) == chi
    wrong = _substitute(chi, pos, delta)
    assert not _mod11_ok(wrong)
    # The validator also accepts Mod 10, so a mutated number may only pass by being Mod-10 valid.
    if normalise_chi(wrong) == wrong:
        assert checkdigits.chi_check_digit_mod10(wrong[:9]) == int(wrong[9])
    if chi[tpos] != chi[tpos + 1]:
        swapped = _transpose(chi, tpos)
        assert not _mod11_ok(swapped)


@PROPS
@given(nhs_numbers(), st.integers(0, 9), st.integers(1, 9), st.integers(0, 8))
def test_nhs_single_errors_and_transpositions(nhs: str, pos: int, delta: int, tpos: int) -> None:
    assert normalise_nhs(nhs) == nhs
    assert normalise_nhs(_substitute(nhs, pos, delta)) is Invalid.BAD_CHECK_DIGIT
    if nhs[tpos] != nhs[tpos + 1]:
        assert normalise_nhs(_transpose(nhs, tpos)) is Invalid.BAD_CHECK_DIGIT


@PROPS
@given(scns(), st.integers(0, 8), st.integers(1, 9), st.integers(0, 7))
def test_scn_single_errors_and_transpositions(scn: str, pos: int, delta: int, tpos: int) -> None:
    assert normalise_scn(scn) == scn
    assert normalise_scn(_substitute(scn, pos, delta)) is Invalid.BAD_CHECK_DIGIT
    if scn[tpos] != scn[tpos + 1]:
        assert normalise_scn(_transpose(scn, tpos)) is Invalid.BAD_CHECK_DIGIT


@PROPS
@given(upns(), st.integers(1, 11), st.integers(1, 9), st.integers(1, 10))
def test_upn_single_errors_and_transpositions(upn: str, pos: int, delta: int, tpos: int) -> None:
    assert normalise_upn(upn) == upn
    assert normalise_upn(_substitute(upn, pos, delta)) is Invalid.BAD_CHECK_DIGIT
    if upn[tpos] != upn[tpos + 1]:
        assert normalise_upn(_transpose(upn, tpos)) is Invalid.BAD_CHECK_DIGIT


@PROPS
@given(st.integers(0, 10**9 - 1), st.integers(0, 8), st.integers(1, 9))
def test_mod10_chi_catches_single_errors(n: int, pos: int, delta: int) -> None:
    first9 = f"{n:09d}"
    check = checkdigits.chi_check_digit_mod10(first9)
    assert check is not None
    wrong = _substitute(first9, pos, delta)
    assert checkdigits.chi_check_digit_mod10(wrong) != check


@PROPS
@given(
    st.sampled_from("ABCEGHJKLMNPRSTWXYZ"),
    st.sampled_from("ABCEGHJKLMNPRSTWXYZ"),
    st.from_regex(r"\A[0-9]{6}\Z"),
    st.sampled_from(["A", "B", "C", "D", ""]),
)
def test_nino_accepts_allocatable_numbers(first: str, second: str, digits: str, suffix: str) -> None:
    nino = first + second + digits + suffix
    expected = (
        Invalid.BAD_FORMAT if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"} else nino[:8]
    )
    assert normalise_nino(nino) == expected
    spaced = f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}".lower()
    assert normalise_nino(spaced) == expected
