"""Match keys: which keys a record forms, and the weak keys' tolerance to common errors."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.matchkeys import (
    KEY_INPUTS,
    STRONG_KEYS,
    KeyFormer,
    KeyType,
    compute_keys,
    slk_value,
    swapped_dob,
)
from pseudonymise.normalise import IdentifierKind, Invalid, normalise

RECORD = {
    "chi": "101011237",
    "scn": None,
    "nhs": "",
    "forename": "Seán",
    "surname": "MacDonald",
    "dob": "01/02/2015",
    "sex": "F",
}


def test_all_keys_from_a_record() -> None:
    out = compute_keys(RECORD)
    assert out.keys == {
        KeyType.CHI: "0101011237",
        KeyType.NAME_DOB: "sean|mcdonald|2015-02-01",
        KeyType.SLK: "CDNEA201502012",
        KeyType.PHONETIC_DOB: "M235|s|2015-02-01",
        KeyType.DOB_SWAP: "sean|mcdonald|2015-01-02|2015-02-01",
        KeyType.NAME: "sean|mcdonald",
        KeyType.NAME_SWAP: "mcdonald|sean",
        KeyType.SURNAME_DOB: "mcdonald|2015-02-01",
        KeyType.FORENAME_DOB: "sean|2015-02-01",
    }
    assert out.invalid == {}  # blank and None are missing, not invalid
    located = compute_keys({**RECORD, "postcode": "eh11nq", "area": "St. Andrews"}).keys
    assert located[KeyType.POSTCODE_DOB] == "EH1 1NQ|2015-02-01"
    assert located[KeyType.DOB_AREA] == "2015-02-01|standrews"
    assert located[KeyType.POSTCODE_AREA] == "EH1 1NQ|standrews"


def test_invalid_fields_reported_by_kind_and_reason_only() -> None:
    out = compute_keys({**RECORD, "chi": "0101011238", "dob": "31/02/2015"})
    assert out.invalid == {IdentifierKind.CHI: Invalid.BAD_CHECK_DIGIT, IdentifierKind.DOB: Invalid.BAD_DATE}
    # only the name pair keys do without the date of birth
    assert out.keys == {KeyType.NAME: "sean|mcdonald", KeyType.NAME_SWAP: "mcdonald|sean"}


def test_only_requested_keys_are_formed_and_only_their_fields_checked() -> None:
    out = KeyFormer([KeyType.CHI]).form({**RECORD, "dob": "garbage"})
    assert out.keys == {KeyType.CHI: "0101011237"}
    assert out.invalid == {}


def test_dob_swap_links_day_month_swaps_and_only_when_swappable() -> None:
    right = compute_keys({**RECORD, "dob": "2015-02-01"}).keys[KeyType.DOB_SWAP]
    swapped = compute_keys({**RECORD, "dob": "2015-01-02"}).keys[KeyType.DOB_SWAP]
    assert right == swapped
    assert KeyType.DOB_SWAP not in compute_keys({**RECORD, "dob": "2015-02-13"}).keys
    assert KeyType.DOB_SWAP not in compute_keys({**RECORD, "dob": "2015-03-03"}).keys
    assert swapped_dob("2015-12-11") == "2015-11-12"


def test_weak_keys_survive_typical_typos() -> None:
    base = compute_keys(RECORD).keys
    mac = compute_keys({**RECORD, "surname": "Mc Donald", "forename": "SEAN"}).keys
    assert mac[KeyType.NAME_DOB] == base[KeyType.NAME_DOB]
    typo = compute_keys({**RECORD, "surname": "MacDonnald"}).keys
    assert typo[KeyType.PHONETIC_DOB] == base[KeyType.PHONETIC_DOB]
    assert typo[KeyType.NAME_DOB] != base[KeyType.NAME_DOB]


def test_slk_pads_short_names() -> None:
    assert slk_value("al", "li", "2015-02-01", "m") == "I22L2201502011"


def test_strong_keys_need_only_their_identifier() -> None:
    out = compute_keys({"scn": "100000008", "upn": "B801200005001", "nino": "JG103759A"})
    assert out.keys == {KeyType.SCN: "100000008", KeyType.UPN: "B801200005001", KeyType.NINO: "JG103759"}
    assert {k for k in out.keys if k.strong} == set(out.keys) <= STRONG_KEYS


def test_parquet_values_are_accepted() -> None:
    import datetime as dt

    out = compute_keys({"chi": 101011237, "forename": "a", "surname": "b", "dob": dt.date(2015, 2, 1)})
    assert out.keys[KeyType.CHI] == "0101011237"
    assert out.keys[KeyType.NAME_DOB] == "a|b|2015-02-01"


_RAW = st.one_of(
    st.none(),
    st.sampled_from(
        ["", "0101011237", "101011237", "0101011238", "Seán", "MacDonald", "o'neil", "F", "m", "x?"]
    ),
    st.sampled_from(["03/04/2015", "2015-02-01", "31/02/2015", "04/04/15", "100000008", "B801200005001"]),
    st.text(max_size=12),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({k.value: _RAW for k in IdentifierKind}), min_size=1, max_size=8))
def test_columns_agree_with_records(records: list[dict[str, str | None]]) -> None:
    former = KeyFormer()
    columns = {k.value: [r[k.value] for r in records] for k in IdentifierKind}
    batch = former.form_columns(columns, len(records))
    for i, record in enumerate(records):
        one = former.form(record)
        assert one.keys == {kt: v[i] for kt, v in batch.keys.items() if v[i] is not None}
        assert one.invalid == {k: r for k, bad in batch.invalid.items() for j, r in bad if j == i}


_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
_DOB = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2025, 12, 31)).map(dt.date.isoformat)
_POSTCODE = st.sampled_from(["EH1 1NQ", "KY1 2AB", "G12 8QQ", "AB10 1XG", "IV2 3JH"])
_AREA = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_PERSON = st.fixed_dictionaries(
    {"forename": _NAME, "surname": _NAME, "dob": _DOB, "postcode": _POSTCODE, "area": _AREA}
)
_PAIR_KEYS = (
    KeyType.NAME,
    KeyType.NAME_SWAP,
    KeyType.SURNAME_DOB,
    KeyType.FORENAME_DOB,
    KeyType.POSTCODE_DOB,
    KeyType.DOB_AREA,
    KeyType.POSTCODE_AREA,
)


@settings(max_examples=150, deadline=None)
@given(_PERSON, _PERSON, st.sampled_from(_PAIR_KEYS))
def test_pair_keys_depend_on_exactly_their_inputs(
    person: dict[str, str], other: dict[str, str], key_type: KeyType
) -> None:
    """Changing a field a pair key leaves out never changes it (that is its error tolerance);
    changing one of its fields changes it, except the name-swap key when the names are merely
    exchanged."""
    inputs = {kind.value for kind in KEY_INPUTS[key_type]}
    base = compute_keys(person, [key_type]).keys[key_type]
    outside = {k: (other[k] if k not in inputs else v) for k, v in person.items()}
    assert compute_keys(outside, [key_type]).keys[key_type] == base
    for field in sorted(inputs):
        changed = {**person, field: other[field]}
        after = compute_keys(changed, [key_type]).keys[key_type]
        names = (
            sorted((changed["forename"], changed["surname"])),
            sorted((person["forename"], person["surname"])),
        )
        exchanged = key_type is KeyType.NAME_SWAP and names[0] == names[1]
        assert (after == base) == (other[field] == person[field] or exchanged)


@settings(max_examples=100, deadline=None)
@given(_PERSON)
def test_name_swap_agrees_on_exchanged_names_and_name_does_not(person: dict[str, str]) -> None:
    swapped = {**person, "forename": person["surname"], "surname": person["forename"]}
    a, b = compute_keys(person).keys, compute_keys(swapped).keys
    assert a[KeyType.NAME_SWAP] == b[KeyType.NAME_SWAP]
    assert (a[KeyType.NAME] == b[KeyType.NAME]) == (person["forename"] == person["surname"])


@settings(max_examples=100, deadline=None)
@given(_AREA, st.sampled_from(["", " ", ".", "-"]), st.booleans())
def test_area_ignores_case_spacing_and_punctuation(area: str, sep: str, upper: bool) -> None:
    raw = sep.join(area) if sep.strip() or sep == " " else area
    value = normalise(IdentifierKind.AREA, raw.upper() if upper else raw)
    assert value == area
    assert normalise(IdentifierKind.AREA, value) == value  # idempotent


def test_area_without_letters_or_digits_is_refused() -> None:
    assert normalise(IdentifierKind.AREA, "  ") is Invalid.MISSING
    assert normalise(IdentifierKind.AREA, "--") is Invalid.BAD_FORMAT


def test_pair_keys_are_weak_and_need_two_identifiers() -> None:
    for key_type in _PAIR_KEYS:
        assert not key_type.strong
        assert len(KEY_INPUTS[key_type]) == 2
