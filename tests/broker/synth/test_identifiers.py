"""Allocated identifiers are valid (checked by the pseudonymise validators) and never repeat."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.synth.identifiers import Allocator
from pseudonymise.checkdigits import chi_check_digit
from pseudonymise.normalise import normalise_chi, normalise_nhs, normalise_nino, normalise_scn, normalise_upn


@settings(max_examples=100, deadline=None)
@given(
    dob=st.dates(dt.date(2007, 1, 1), dt.date(2025, 12, 31)),
    sex=st.sampled_from("MF"),
    seed=st.integers(0, 2**32),
)
def test_chi_encodes_dob_and_sex_with_a_mod11_check(dob: dt.date, sex: str, seed: int) -> None:
    chi = Allocator(seed).chi(dob, sex)
    assert normalise_chi(chi) == chi
    assert chi[:6] == f"{dob:%d%m%y}"
    assert int(chi[8]) % 2 == (1 if sex == "M" else 0)
    assert chi_check_digit(chi[:9]) == int(chi[9])  # mod-11, not only the newer mod-10


def test_chis_for_one_birthday_are_unique_until_the_space_runs_out() -> None:
    allocator = Allocator(3)
    dob = dt.date(2015, 3, 1)
    chis = [allocator.chi(dob, "F") for _ in range(400)]
    assert len(set(chis)) == 400


def test_other_identifiers_are_valid_and_unique() -> None:
    allocator = Allocator(11)
    scns = [allocator.scn(2016) for _ in range(2000)]
    assert len(set(scns)) == 2000
    assert all(normalise_scn(s) == s and s.startswith("16") for s in scns)
    nhs = [allocator.nhs() for _ in range(500)]
    assert len(set(nhs)) == 500 and all(normalise_nhs(n) == n for n in nhs)
    upns = [allocator.upn(2019) for _ in range(500)]
    assert len(set(upns)) == 500 and all(normalise_upn(u) == u for u in upns)
    ninos = [allocator.nino("C") for _ in range(500)]
    assert len(set(ninos)) == 500 and all(normalise_nino(n) == n[:8] for n in ninos)


def test_allocation_is_reproducible_per_seed() -> None:
    a, b, c = Allocator(5), Allocator(5), Allocator(6)
    dob = dt.date(2012, 7, 4)
    assert [a.chi(dob, "M") for _ in range(5)] == [b.chi(dob, "M") for _ in range(5)]
    assert a.scn(2012) == b.scn(2012) != c.scn(2012)
