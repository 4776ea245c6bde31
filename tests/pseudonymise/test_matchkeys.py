"""Match keys: which keys a record forms, and the weak keys' tolerance to common errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.matchkeys import STRONG_KEYS, KeyFormer, KeyType, compute_keys, slk_value, swapped_dob
from pseudonymise.normalise import IdentifierKind, Invalid

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
    }
    assert out.invalid == {}  # blank and None are missing, not invalid


def test_invalid_fields_reported_by_kind_and_reason_only() -> None:
    out = compute_keys({**RECORD, "chi": "0101011238", "dob": "31/02/2015"})
    assert out.invalid == {IdentifierKind.CHI: Invalid.BAD_CHECK_DIGIT, IdentifierKind.DOB: Invalid.BAD_DATE}
    assert out.keys == {}


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
