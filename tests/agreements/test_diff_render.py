"""Diff flags every widening; render produces Markdown a DPO can read; durations compare sensibly."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agreements import Agreement, load_file, parse_duration
from agreements.diff import diff, is_widening
from agreements.jsonld import to_jsonld
from agreements.render import render_markdown

EXAMPLE = Path(__file__).parents[2] / "agreements" / "examples" / "early-intervention-fife.yaml"


def _variant(change: Callable[[dict[str, Any]], None]) -> tuple[Agreement, Agreement]:
    old = load_file(EXAMPLE)
    doc = old.model_dump(mode="json", by_alias=True)
    doc["version"] = 2
    change(doc)
    return old, Agreement.model_validate(doc)


def _perm(doc: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in doc["permissions"] if p["id"] == pid)


WIDENINGS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "new party",
        lambda d: d["parties"].append({"id": "socsec-scotland", "name": "SSS", "role": "processor"}),
        "new party 'socsec-scotland'",
    ),
    (
        "new field in a grant",
        lambda d: _perm(d, "P4")["fields"]["fife-homelessness"].append("assessment"),
        "now also assessment",
    ),
    (
        "new dataset",
        lambda d: d["datasets"].append({**d["datasets"][2], "id": "fife-extra"}),
        "new dataset 'fife-extra'",
    ),
    (
        "new purpose",
        lambda d: d["purposes"].append({"code": "EI-NEW", "dpv": "dpv:X", "text": "x"}),
        "new purpose",
    ),
    (
        "new action",
        lambda d: d["permissions"].append({**_perm(d, "P7"), "id": "P50", "action": "linked_record_request"}),
        "new grant",
    ),
    ("longer retention", lambda d: d["datasets"][0].update(retention="P3Y"), "retention longer"),
    ("larger budget", lambda d: d["disclosure"].update(epsilon_per_period=3.0), "privacy budget per period"),
    ("larger query cap", lambda d: d["disclosure"].update(epsilon_per_query_cap=0.5), "cap per query"),
    ("smaller cells", lambda d: d["disclosure"].update(min_cell=5), "smallest released cell"),
    ("finer geography", lambda d: d["disclosure"].update(min_geography="data_zone"), "smallest area"),
    ("later expiry", lambda d: d["validity"].update(expires_on="2029-07-31"), "later expiry"),
    ("earlier start", lambda d: d["validity"].update(effective_from="2026-01-01"), "starts earlier"),
    ("dropped prohibition", lambda d: d.update(prohibitions=[]), "prohibition 'X1' removed"),
    (
        "looser daily limit",
        lambda d: _perm(d, "P4")["constraints"].update(max_requests_per_day=None),
        "daily request limit",
    ),
    (
        "dropped duty",
        lambda d: _perm(d, "P4").update(duties=["record_reason"]),
        "duty 'notify_provider' dropped",
    ),
    (
        "longer result retention",
        lambda d: d["retention"].update(query_results="P1Y"),
        "query result retention longer",
    ),
    (
        "new grant for an agency",
        lambda d: _perm(d, "P7").update(agency="sw-fife"),
        "new grant: analyst at sw-fife",
    ),
]


@pytest.mark.parametrize(("name", "change", "words"), WIDENINGS, ids=[w[0] for w in WIDENINGS])
def test_widening_is_flagged(name: str, change: Callable[[dict[str, Any]], None], words: str) -> None:
    old, new = _variant(change)
    flagged = [c for c in diff(old, new) if c.widening]
    assert any(words in c.text for c in flagged), [str(c) for c in diff(old, new)]
    assert is_widening(old, new)


NARROWINGS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("shorter retention", lambda d: d["datasets"][0].update(retention="P1Y")),
    ("fewer fields", lambda d: _perm(d, "P4")["fields"]["fife-homelessness"].remove("application_date")),
    ("smaller budget", lambda d: d["disclosure"].update(epsilon_per_period=1.0)),
    ("earlier expiry", lambda d: d["validity"].update(expires_on="2027-07-31")),
    ("same length written differently", lambda d: d["datasets"][0].update(retention="P24M")),
    ("stricter limit", lambda d: _perm(d, "P4")["constraints"].update(max_requests_per_day=5)),
]


@pytest.mark.parametrize(("name", "change"), NARROWINGS, ids=[n[0] for n in NARROWINGS])
def test_narrowing_is_reported_but_not_flagged(name: str, change: Callable[[dict[str, Any]], None]) -> None:
    old, new = _variant(change)
    changes = diff(old, new)
    assert len(changes) >= 2  # the version bump and the change itself
    assert not is_widening(old, new), [str(c) for c in changes]


def test_identical_agreements_have_no_differences() -> None:
    agreement = load_file(EXAMPLE)
    assert diff(agreement, agreement) == []


def test_render_names_every_grant_party_and_the_digest() -> None:
    agreement = load_file(EXAMPLE)
    text = render_markdown(agreement)
    assert text.startswith("# Fife early intervention")
    for perm in agreement.permissions:
        assert f"**{perm.id}.**" in text
    for party in agreement.parties:
        assert party.id in text
    assert agreement.digest() in text
    assert "A case reference is required." in text
    assert "Anything not listed above is refused." in text


def test_durations() -> None:
    assert parse_duration("P1Y").approx_days() == pytest.approx(parse_duration("P12M").approx_days())
    assert parse_duration("P18M").approx_days() > parse_duration("P1Y").approx_days()
    assert parse_duration("PT12H").approx_days() == 0.5
    assert parse_duration("P1M").add_to(datetime(2027, 1, 31)) == datetime(2027, 2, 28)
    assert parse_duration("P1Y2W").add_to(datetime(2028, 2, 29)) == datetime(2029, 3, 14)
    for bad in ["P", "1Y", "PT", "P0D", "P1.5Y", "P-1D", ""]:
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_jsonld_export_is_an_odrl_agreement_with_every_clause() -> None:
    agreement = load_file(EXAMPLE)
    doc = json.loads(json.dumps(to_jsonld(agreement)))
    assert "Agreement" in doc["@type"] and doc["conflict"] == "prohibit"
    uids = {r["uid"].rsplit("#", 1)[1] for r in doc["permission"]}
    assert uids == {p.id for p in agreement.permissions}
    assert {r["uid"].rsplit("#", 1)[1] for r in doc["prohibition"]} == {"X1"}
    assert "eu-gdpr:A9-2-g" in doc["dpv:hasLegalBasis"] and "eu-gdpr:A6-1-e" in doc["dpv:hasLegalBasis"]
    linked = next(r for r in doc["permission"] if r["uid"].endswith("#P4"))
    assert linked["target"]["refinement"][0]["rightOperand"] == ["review_stage", "developmental_concern"]
    assert linked["assignee"] == "urn:agency:edu-fife" and linked["action"] == "read"
    assert doc["broker:sha256"] == agreement.digest()
