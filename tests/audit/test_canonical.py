"""Canonical event bytes: one spelling per event, and refusal of anything ambiguous."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum, StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import CanonicalError, canonical_bytes, format_time, leaf_bytes, parse_time

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)


class Colour(StrEnum):
    red = "red"


class Level(IntEnum):
    high = 2


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_bytes_do_not_depend_on_key_order_and_survive_a_round_trip(event: dict[str, object]) -> None:
    reordered = dict(reversed(list(event.items())))
    data = canonical_bytes(event)
    assert canonical_bytes(reordered) == data
    assert canonical_bytes(json.loads(data)) == data


def test_layout_is_compact_sorted_utf8() -> None:
    event = {"b": [1, 2.5, None, True], "a": "Ålesund", "c": Colour.red}
    assert canonical_bytes(event) == '{"a":"Ålesund","b":[1,2.5,null,true],"c":"red"}'.encode()


def test_times_have_one_spelling_per_instant() -> None:
    moment = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
    same = moment.astimezone(timezone(timedelta(hours=5)))
    assert (
        canonical_bytes({"t": moment})
        == canonical_bytes({"t": same})
        == b'{"t":"2026-11-28T22:00:00.000000Z"}'
    )
    assert parse_time(format_time(same)) == moment


@pytest.mark.parametrize(
    "bad",
    [
        {"t": datetime(2026, 1, 1)},
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": {1: "non-string key"}},
        {"x": b"bytes"},
        {"x": {1, 2}},
        {"x": "\ud800"},
    ],
)
def test_ambiguous_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(CanonicalError):
        canonical_bytes(bad)


def test_errors_name_the_field_not_the_value() -> None:
    with pytest.raises(CanonicalError) as info:
        canonical_bytes({"result": {"secret-looking": b"CHI 0101011237"}})
    assert "$.result.secret-looking" in str(info.value) and "0101011237" not in str(info.value)


def test_enums_in_containers_are_their_values_and_paths_name_list_items() -> None:
    """Exact plain types skip the checks; an Enum (a str or int too) must not, wherever it sits."""
    event = {"a": [Colour.red, Level.high, True, 1], "b": {"c": Colour.red}, "d": Level.high}
    assert canonical_bytes(event) == b'{"a":["red",2,true,1],"b":{"c":"red"},"d":2}'
    with pytest.raises(CanonicalError, match=r"^\$\.subjects\[1\]: type bytes"):
        canonical_bytes({"subjects": ["tok", b"x"]})


def test_leaf_bytes_bind_the_position() -> None:
    body = canonical_bytes({"action": "lookup"})
    assert leaf_bytes(1, body) == b"\x00" * 7 + b"\x01" + body
    assert leaf_bytes(1, body) != leaf_bytes(2, body)
    with pytest.raises(CanonicalError):
        leaf_bytes(-1, body)
