"""Check-digit rules against the published vectors (research note §A2, §C4) and as properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.checkdigits import (
    chi_check_digit,
    chi_check_digit_mod10,
    chi_is_valid,
    nhs_check_digit,
    scn_check_digit,
    upn_check_letter,
)


@pytest.mark.parametrize(
    "chi", ["0101011237", "1904851231", "2902201230", "0211165794", "0402070763", "0101201234"]
)
def test_published_valid_chis(chi: str) -> None:
    assert chi_is_valid(chi)


@pytest.mark.parametrize(
    "chi", ["0101201233", "1904851232", "2902191230", "0101010000", "101011237", "01010112370", "3201011234"]
)
def test_published_invalid_chis(chi: str) -> None:
    assert not chi_is_valid(chi)


def test_mod10_only_chi_is_valid_by_mod10_rule() -> None:
    assert chi_check_digit("010120123") == 0
    assert chi_check_digit_mod10("010120123") == 4


def test_nhs_vector() -> None:
    assert nhs_check_digit("943476591") == 9


def test_unusable_remainder_is_none() -> None:
    unusable = [f"{n:09d}" for n in range(200) if nhs_check_digit(f"{n:09d}") is None]
    assert unusable, "some 9-digit prefixes must be unusable under mod 11"
    assert all(chi_check_digit(p) is None for p in unusable)


def test_scn_weights() -> None:
    # 3*1 + 2*0 ... : body 10000000 -> sum 3 -> check 8
    assert scn_check_digit("10000000") == 8
    # body 00000001 -> sum 2 -> check 9; body 00000000 -> remainder 0 -> 0
    assert scn_check_digit("00000001") == 9
    assert scn_check_digit("00000000") == 0
    # body 04000000 -> sum 8 -> check 3; remainder 1 (sum 12: 00000006) -> unusable
    assert scn_check_digit("04000000") == 3
    assert scn_check_digit("00000006") is None


@pytest.mark.parametrize(
    "upn,valid", [("B801200005001", True), ("A801200005001", False), ("P207000016049", True)]
)
def test_upn_vectors(upn: str, valid: bool) -> None:
    assert (upn_check_letter(upn[1:]) == upn[0]) is valid


def test_upn_alphabet_skips_i_o_s() -> None:
    letters = {upn_check_letter(f"{n:012d}") for n in range(2000)}
    assert letters.isdisjoint({"I", "O", "S"})
    assert len(letters) == 23


def test_malformed_inputs() -> None:
    assert chi_check_digit("12345678") is None
    assert scn_check_digit("1234567a") is None
    assert nhs_check_digit("１２３４５６７８９") is None  # full-width digits are not ASCII
    with pytest.raises(ValueError):
        upn_check_letter("80120000500")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A[0-9]{8}\Z"), st.integers(0, 7), st.integers(1, 9))
def test_scn_detects_single_digit_errors(body: str, pos: int, delta: int) -> None:
    check = scn_check_digit(body)
    wrong = body[:pos] + str((int(body[pos]) + delta) % 10) + body[pos + 1 :]
    if check is not None:
        assert scn_check_digit(wrong) != check
