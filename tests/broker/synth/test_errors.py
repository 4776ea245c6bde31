"""Each injected error does what its tag says, so linkage results can be read by error type."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.synth.errors import ErrorProfile, inject, mac_variant, typo
from pseudonymise.checkdigits import chi_is_valid
from pseudonymise.normalise import Invalid, normalise_chi, normalise_dob, normalise_name, normalise_postcode

ALL_OFF = ErrorProfile(
    typo=0, nickname=0, mac_mc=0, punctuation_case=0, name_order_swap=0, surname_change=0,
    surname_change_looked_after=0, dob_day_month_swap=0, dob_default=0, dob_format=0, sex_code=0,
    postcode_missing=0, postcode_format=0,
)  # fmt: skip
BASE = {
    "chi": "0101011237", "forename": "Alexander", "surname": "MacDonald", "dob": "2014-03-07",
    "sex": "M", "postcode": "KY1 0AB", "data_zone": "X01000001",
}  # fmt: skip


def with_errors(**rates: float) -> ErrorProfile:
    return ALL_OFF.model_copy(update=rates)


def test_no_rates_no_changes() -> None:
    record = dict(BASE)
    assert inject(random.Random(1), record, ALL_OFF) == []
    assert record == BASE


@settings(max_examples=200, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12), seed=st.integers())
def test_typo_changes_a_name_by_a_small_edit(name: str, seed: int) -> None:
    changed = typo(random.Random(seed), name)
    assert abs(len(changed) - len(name)) <= 1
    assert changed[0] == name[0]


def test_mac_variants_normalise_to_the_same_name() -> None:
    rng = random.Random(0)
    for surname in ("MacDonald", "McDonald", "MacLeod"):
        variant = mac_variant(rng, surname)
        assert variant is not None and variant != surname
        assert normalise_name(variant) == normalise_name(surname)
    assert mac_variant(rng, "Mack") is None
    assert mac_variant(rng, "Smith") is None


def test_dob_swap_swaps_day_and_month() -> None:
    record = dict(BASE)
    assert inject(random.Random(1), record, with_errors(dob_day_month_swap=1.0)) == ["dob_day_month_swap"]
    assert record["dob"] == "2014-07-03"


def test_dob_format_is_still_a_parseable_date() -> None:
    record = dict(BASE)
    assert inject(random.Random(1), record, with_errors(dob_format=1.0)) == ["dob_format"]
    assert record["dob"] == "07/03/2014"
    assert normalise_dob(record["dob"]) == "2014-03-07"


def test_chi_errors() -> None:
    lost = dict(BASE)
    assert inject(random.Random(1), lost, with_errors(chi_leading_zero_lost=1.0)) == ["chi_leading_zero_lost"]
    assert lost["chi"] == "101011237" and normalise_chi(lost["chi"]) == BASE["chi"]
    missing = dict(BASE)
    assert inject(random.Random(1), missing, with_errors(chi_missing=1.0)) == ["chi_missing"]
    assert missing["chi"] == ""
    for seed in range(50):
        bad = dict(BASE)
        assert inject(random.Random(seed), bad, with_errors(chi_invalid_check=1.0)) == ["chi_invalid_check"]
        assert bad["chi"][:9] == BASE["chi"][:9] and not chi_is_valid(bad["chi"])


def test_name_errors_and_swaps() -> None:
    record = dict(BASE)
    tags = inject(random.Random(3), record, with_errors(nickname=1.0, name_order_swap=1.0))
    assert tags == ["name_order_swap", "nickname"]
    assert record["surname"] in ("Alex", "Sandy", "Alec", "Xander") and record["forename"] == "MacDonald"


def test_postcode_errors_blank_the_zone_or_keep_it_parseable() -> None:
    missing = dict(BASE)
    assert inject(random.Random(1), missing, with_errors(postcode_missing=1.0)) == ["postcode_missing"]
    assert missing["postcode"] == "" and missing["data_zone"] == ""
    for seed in range(10):
        formatted = dict(BASE)
        assert inject(random.Random(seed), formatted, with_errors(postcode_format=1.0)) == ["postcode_format"]
        assert formatted["postcode"] != BASE["postcode"]
        assert normalise_postcode(formatted["postcode"]) == BASE["postcode"]


def test_sex_code() -> None:
    record = dict(BASE)
    assert inject(random.Random(1), record, with_errors(sex_code=1.0)) == ["sex_code"]
    assert record["sex"] in ("1", "U")


def test_surname_change_and_case() -> None:
    record = dict(BASE)
    tags = inject(random.Random(2), record, with_errors(surname_change=1.0, punctuation_case=1.0))
    assert tags == ["name_punctuation_case", "surname_change"]
    assert (
        record["surname"] == record["surname"].upper() and "MACDONALD" not in record["surname"].split()[-1:]
    )
    assert not isinstance(normalise_name(record["surname"]), Invalid)
