"""Export an agreement as an ODRL 2.2 ``Agreement`` carrying DPV terms (JSON-LD), for a public register.

The YAML stays the source of truth and nothing on the decision path reads this; it exists so other tools
can read what was agreed in the W3C vocabularies.
"""

from __future__ import annotations

from typing import Any

from agreements.model import AUDIT_TARGET, Agreement, Permission, Prohibition

CONTEXT: list[Any] = [
    "http://www.w3.org/ns/odrl.jsonld",
    {
        "dpv": "https://w3id.org/dpv#",
        "eu-gdpr": "https://w3id.org/dpv/legal/eu/gdpr#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "dcterms": "http://purl.org/dc/terms/",
        "broker": "urn:broker:",
    },
]
# Our actions in ODRL terms (the local name is kept as broker:action so people can match them up).
ODRL_ACTION = {
    "submit_extract": "distribute",
    "aggregate_query": "aggregate",
    "linked_record_request": "read",
    "audit_read": "read",
}
_ART6 = {
    "6(1)(a)": "A6-1-a",
    "6(1)(c)": "A6-1-c",
    "6(1)(d)": "A6-1-d",
    "6(1)(e)": "A6-1-e",
    "6(1)(f)": "A6-1-f",
}


def _uid(agreement: Agreement) -> str:
    return f"urn:isa:{agreement.id}:{agreement.version}"


def _target(agreement: Agreement, dataset: str) -> str:
    return f"{_uid(agreement)}:{'audit' if dataset == AUDIT_TARGET else 'dataset:' + dataset}"


def _rule(agreement: Agreement, clause: Permission | Prohibition) -> list[dict[str, Any]]:
    targets = [AUDIT_TARGET] if clause.action == "audit_read" else clause.datasets
    rules = []
    for target in targets:
        constraints: list[dict[str, Any]] = [
            {
                "leftOperand": "dateTime",
                "operator": "gteq",
                "rightOperand": {
                    "@value": agreement.validity.effective_from.isoformat(),
                    "@type": "xsd:date",
                },
            },
            {
                "leftOperand": "dateTime",
                "operator": "lteq",
                "rightOperand": {"@value": agreement.validity.expires_on.isoformat(), "@type": "xsd:date"},
            },
        ]
        if clause.purpose is not None:
            purpose = agreement.purpose(clause.purpose)
            constraints.append(
                {"leftOperand": "purpose", "operator": "isA", "rightOperand": {"@id": purpose.dpv}}
            )
        if clause.role is not None:
            constraints.append({"leftOperand": "recipient", "operator": "isA", "rightOperand": clause.role})
        rule: dict[str, Any] = {
            "uid": f"{_uid(agreement)}#{clause.id}",
            "action": ODRL_ACTION[clause.action],
            "broker:action": clause.action,
            "target": _target(agreement, target),
            "constraint": constraints,
        }
        if clause.agency is not None:
            rule["assignee"] = f"urn:agency:{clause.agency}"
        fields = clause.fields.get(target)
        if fields:
            rule["target"] = {
                "@type": "AssetCollection",
                "source": _target(agreement, target),
                "refinement": [
                    {"leftOperand": "dpv:hasPersonalData", "operator": "isAnyOf", "rightOperand": fields}
                ],
            }
        if isinstance(clause, Permission) and clause.duties:
            rule["duty"] = [{"action": {"@id": f"urn:broker:duty:{d}"}} for d in clause.duties]
        rules.append(rule)
    return rules


def to_jsonld(agreement: Agreement) -> dict[str, Any]:
    """The agreement as an ``odrl:Agreement`` with ``conflict: prohibit`` and DPV legal bases."""
    controllers = [f"urn:agency:{p.id}" for p in agreement.controllers()]
    bases = [f"eu-gdpr:{_ART6[b.code]}" for b in agreement.lawful_bases.art6 if b.code in _ART6]
    bases += [f"eu-gdpr:A9-2-{c.code[-2]}" for c in agreement.lawful_bases.art9]
    return {
        "@context": CONTEXT,
        "@type": ["Agreement", "dpv:LegalAgreement"],
        "uid": _uid(agreement),
        "dcterms:title": agreement.title,
        "conflict": "prohibit",
        "assigner": controllers,
        "assignee": sorted({f"urn:agency:{p.agency}" for p in agreement.permissions}),
        "dpv:hasDataController": controllers,
        "dpv:hasJurisdiction": agreement.jurisdiction,
        "dpv:hasLegalBasis": bases,
        "dpv:hasPurpose": [
            {"@id": p.dpv, "dcterms:identifier": p.code, "dcterms:description": p.text}
            for p in agreement.purposes
        ],
        "dpv:hasTechnicalOrganisationalMeasure": ["dpv:Pseudonymisation", "dpv:AccessControlMethod"],
        "permission": [r for p in agreement.permissions for r in _rule(agreement, p)],
        "prohibition": [r for x in agreement.prohibitions for r in _rule(agreement, x)],
        "broker:sha256": agreement.digest(),
    }
