"""Examples load and validate; canonical JSON is stable; bad input becomes findings, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agreements import InvalidAgreement, json_schema, load_file, loads, validate_file, validate_text

EXAMPLES = sorted((Path(__file__).parents[2] / "agreements" / "examples").glob("*.yaml"))


def test_there_are_at_least_three_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_clean(path: Path) -> None:
    agreement, findings = validate_file(path)
    assert findings == []
    assert agreement is not None and agreement.permissions


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_canonical_json_round_trips_to_the_same_digest(path: Path) -> None:
    agreement = load_file(path)
    again = loads(agreement.canonical_json(), "json")
    assert again == agreement
    assert again.canonical_json() == agreement.canonical_json()
    assert again.digest() == agreement.digest()
    assert len(agreement.digest()) == 64


def test_example_datasets_carry_strong_and_weak_match_keys() -> None:
    agreement = load_file(next(p for p in EXAMPLES if p.stem == "early-intervention-fife"))
    education = agreement.dataset("fife-attendance")
    health = agreement.dataset("fife-health-visiting")
    assert {"scn", "name_dob", "slk", "phonetic_dob", "dob_swap"} <= set(education.match_keys)
    assert {"chi", "name_dob", "slk", "phonetic_dob", "dob_swap"} <= set(health.match_keys)
    assert education.field("pastoral_note").cls == "free_text"
    assert education.field("scn").identifier == "scn"
    with pytest.raises(KeyError):
        agreement.dataset("no-such-dataset")


def test_schema_uses_the_authoring_key_names() -> None:
    schema = json_schema()
    text = json.dumps(schema)
    assert '"class"' in text and '"cls"' not in text
    assert {"id", "version", "validity", "parties", "datasets"} <= set(schema["required"])


@pytest.mark.parametrize(
    ("text", "expected_path", "expected_words"),
    [
        ("id: [unclosed", "", "not valid YAML"),
        ("id: a\nid: b\n", "", "appears twice"),
        ("- just\n- a list\n", "", "named headings"),
        ("", "", "named headings"),
    ],
)
def test_malformed_text_gives_one_readable_finding(
    text: str, expected_path: str, expected_words: str
) -> None:
    agreement, findings = validate_text(text)
    assert agreement is None
    assert findings[0].path == expected_path
    assert expected_words in findings[0].message


def test_wrong_types_are_reported_with_paths() -> None:
    base = load_file(EXAMPLES[0]).model_dump(mode="json", by_alias=True)
    base["version"] = "two"
    base["validity"]["effective_from"] = "2026-13-01"
    base["datasets"][0]["fields"][0]["class"] = "secret"
    base["permissions"][0]["constraints"] = {"case_reference_required": "perhaps"}
    base["surprise"] = 1
    _, findings = validate_text(json.dumps(base), "json")
    paths = {f.path: f.message for f in findings}
    assert paths["version"] == "must be a whole number"
    assert "YYYY-MM-DD" in paths["validity.effective_from"]
    assert "must be one of" in paths["datasets[0].fields[0].class"]
    assert paths["permissions[0].constraints.case_reference_required"] == "must be true or false"
    assert "not a heading" in paths["surprise"]


def test_invalid_json_and_unreadable_files(tmp_path: Path) -> None:
    _, findings = validate_text('{"id": ', "json")
    assert "not valid JSON" in findings[0].message
    _, findings = validate_file(tmp_path / "missing.yaml")
    assert "cannot read" in findings[0].message
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    _, findings = validate_file(binary)
    assert findings and findings[0].path == ""
    with pytest.raises(InvalidAgreement) as caught:
        load_file(binary)
    assert caught.value.findings


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_corruption_of_an_example_gives_findings_or_a_valid_agreement(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(EXAMPLES)).read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(text) - 1))
        cut = data.draw(st.integers(0, 20))
        insert = data.draw(st.text(alphabet=":-[]{}'\"\n #&*!|>0123456789abcXYZ@.", max_size=6))
        text = text[:pos] + insert + text[pos + cut :]
    agreement, findings = validate_text(text)
    assert agreement is not None or findings
    assert all(isinstance(f.message, str) and f.message for f in findings)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=20,
    )
)
def test_arbitrary_json_values_give_findings(value: object) -> None:
    agreement, findings = validate_text(json.dumps(value), "json")
    assert agreement is None and findings
