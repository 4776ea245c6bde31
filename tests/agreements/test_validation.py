"""Semantic findings: each rule a DPO relies on produces a finding at the right place."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agreements import load_file, validate_text

EXAMPLE = Path(__file__).parents[2] / "agreements" / "examples" / "early-intervention-fife.yaml"


def _doc() -> dict[str, Any]:
    return load_file(EXAMPLE).model_dump(mode="json", by_alias=True, exclude_none=True)


def _perm(doc: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in doc["permissions"] if p["id"] == pid)


def _findings(change: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    doc = _doc()
    change(doc)
    _, findings = validate_text(json.dumps(doc), "json")
    return {f.path: f.message for f in findings}


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("missing art9", lambda d: d["lawful_bases"].update(art9=[]), "datasets[1].special_category", "Art 9"),
    (
        "art9 without schedule 1",
        lambda d: d["lawful_bases"]["art9"][0].pop("dpa2018_sch1"),
        "lawful_bases.art9[0].dpa2018_sch1",
        "Schedule 1",
    ),
    (
        "criminal data without art10",
        lambda d: d["datasets"][2].update(special_category="criminal"),
        "datasets[2].special_category",
        "Art 10",
    ),
    (
        "public task without power",
        lambda d: d["lawful_bases"]["art6"][0].pop("power"),
        "lawful_bases.art6[0].power",
        "statutory power",
    ),
    (
        "unknown agency",
        lambda d: _perm(d, "P7").update(agency="edu-nowhere"),
        "permissions[6].agency",
        "not one of the parties",
    ),
    (
        "unknown dataset",
        lambda d: _perm(d, "P7").update(datasets=["ghost"]),
        "permissions[6].datasets[0]",
        "not defined",
    ),
    (
        "unknown purpose",
        lambda d: _perm(d, "P7").update(purpose="NOPE"),
        "permissions[6].purpose",
        "not defined",
    ),
    (
        "unknown field",
        lambda d: _perm(d, "P4")["fields"]["fife-homelessness"].append("shoe_size"),
        "permissions[3].fields.fife-homelessness",
        "no field 'shoe_size'",
    ),
    (
        "linked record without fields",
        lambda d: _perm(d, "P4")["fields"].pop("fife-homelessness"),
        "permissions[3].fields",
        "data minimisation",
    ),
    (
        "linked record without case reference",
        lambda d: _perm(d, "P4")["constraints"].update(case_reference_required=False),
        "permissions[3].constraints.case_reference_required",
        "case reference",
    ),
    (
        "linkage key released",
        lambda d: _perm(d, "P4")["fields"]["fife-homelessness"].append("dob"),
        "permissions[3].fields.fife-homelessness",
        "never leave",
    ),
    (
        "free text aggregated",
        lambda d: _perm(d, "P7").update(fields={"fife-attendance": ["pastoral_note"]}),
        "permissions[6].fields.fife-attendance",
        "free-text",
    ),
    ("aggregate without disclosure", lambda d: d.pop("disclosure"), "permissions[6]", "disclosure"),
    (
        "someone else's extract",
        lambda d: _perm(d, "P1").update(agency="sw-fife"),
        "permissions[0].agency",
        "only the provider",
    ),
    (
        "prohibition contradicts a permission",
        lambda d: d["prohibitions"][0]["fields"]["fife-attendance"].append("attendance_pct"),
        "prohibitions[0]",
        "would win",
    ),
    (
        "dates backwards",
        lambda d: d["validity"].update(expires_on="2025-01-01"),
        "validity.expires_on",
        "expire after",
    ),
    ("review after expiry", lambda d: d["review"].update(next_due="2030-01-01"), "review.next_due", "review"),
    (
        "controller without dpo",
        lambda d: d["parties"][0].pop("dpo"),
        "parties[0].dpo",
        "data protection officer",
    ),
    (
        "missing approver",
        lambda d: d["approvals"].update(required=["edu-fife"]),
        "approvals.required",
        "health-nhs-fife",
    ),
    (
        "unknown provider",
        lambda d: d["datasets"][0].update(provider="ghost"),
        "datasets[0].provider",
        "not one of the parties",
    ),
    ("missing retention", lambda d: d["datasets"][0].pop("retention"), "datasets[0].retention", "required"),
    (
        "bad duration",
        lambda d: d["datasets"][0].update(retention="two years"),
        "datasets[0].retention",
        "ISO 8601",
    ),
    (
        "match key without identifiers",
        lambda d: d["datasets"][2]["match_keys"].append("chi"),
        "datasets[2].match_keys[9]",
        "chi",
    ),
    (
        "category without values",
        lambda d: d["datasets"][0]["fields"][7].pop("allowed"),
        "datasets[0].fields[7].allowed",
        "allowed values",
    ),
    (
        "dp without budget",
        lambda d: d["disclosure"].pop("epsilon_per_period"),
        "disclosure.epsilon_per_period",
        "budget",
    ),
    (
        "cap above budget",
        lambda d: d["disclosure"].update(epsilon_per_query_cap=9.0),
        "disclosure.epsilon_per_query_cap",
        "cannot exceed",
    ),
    (
        "duplicate grant",
        lambda d: d["permissions"].append({**_perm(d, "P7"), "id": "P99"}),
        "permissions[11]",
        "merge them",
    ),
    ("duplicate dataset id", lambda d: d["datasets"].append(d["datasets"][0]), "datasets", "more than once"),
]


@pytest.mark.parametrize(("name", "change", "path", "words"), CASES, ids=[c[0] for c in CASES])
def test_semantic_rule(name: str, change: Callable[[dict[str, Any]], None], path: str, words: str) -> None:
    findings = _findings(change)
    assert path in findings, findings
    assert words in findings[path]


def test_clean_example_has_no_findings() -> None:
    assert _findings(lambda d: None) == {}
