"""Semantic checks beyond types: references, data minimisation, Art 9/10 cover, dates, separation.

Every check yields findings (path + sentence); nothing here raises on a well-typed agreement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from agreements.durations import parse_duration
from agreements.loader import Finding, Format, InvalidAgreement, format_for, loads
from agreements.model import Agreement, Dataset, Permission, Prohibition

# Identifiers each match key needs on the agency side (what `broker pseudonymise` hashes).
MATCH_KEY_NEEDS: dict[str, frozenset[str]] = {
    "chi": frozenset({"chi"}),
    "scn": frozenset({"scn"}),
    "nhs": frozenset({"nhs"}),
    "upn": frozenset({"upn"}),
    "nino": frozenset({"nino"}),
    "name_dob": frozenset({"forename", "surname", "dob"}),
    "slk": frozenset({"forename", "surname", "dob", "sex"}),
    "phonetic_dob": frozenset({"surname", "dob"}),
    "dob_swap": frozenset({"forename", "surname", "dob"}),
    "name": frozenset({"forename", "surname"}),
    "name_swap": frozenset({"forename", "surname"}),
    "surname_dob": frozenset({"surname", "dob"}),
    "forename_dob": frozenset({"forename", "dob"}),
    "postcode_dob": frozenset({"postcode", "dob"}),
    "dob_area": frozenset({"dob", "area"}),
    "postcode_area": frozenset({"postcode", "area"}),
}
_SCH1_NEEDED = {"9(2)(b)", "9(2)(g)", "9(2)(h)", "9(2)(j)"}
_POWER_NEEDED = {"6(1)(c)", "6(1)(e)"}


def check(agreement: Agreement) -> list[Finding]:
    """All semantic findings for a structurally valid agreement (empty list = clean)."""
    return [
        *_unique_ids(agreement),
        *_parties(agreement),
        *_dates(agreement),
        *_datasets(agreement),
        *_lawful_bases(agreement),
        *_permissions(agreement),
        *_prohibitions(agreement),
        *_disclosure(agreement),
        *_approvals(agreement),
    ]


def validate_text(text: str, fmt: Format = "yaml") -> tuple[Agreement | None, list[Finding]]:
    """Structural then semantic findings for a document's text."""
    try:
        agreement = loads(text, fmt)
    except InvalidAgreement as exc:
        return None, exc.findings
    return agreement, check(agreement)


def validate_file(path: str | Path) -> tuple[Agreement | None, list[Finding]]:
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Finding("", f"cannot read the file: {type(exc).__name__}")]
    return validate_text(text, format_for(target))


def _duplicates(values: list[str]) -> set[str]:
    return {value for value, count in Counter(values).items() if count > 1}


def _unique_ids(a: Agreement) -> Iterator[Finding]:
    sections: list[tuple[str, list[str]]] = [
        ("parties", [p.id for p in a.parties]),
        ("datasets", [d.id for d in a.datasets]),
        ("purposes", [p.code for p in a.purposes]),
    ]
    for section, ids in sections:
        for dup in sorted(_duplicates(ids)):
            yield Finding(section, f"'{dup}' is defined more than once; each entry needs its own id")
    clause_ids = [p.id for p in a.permissions] + [x.id for x in a.prohibitions]
    for dup in sorted(_duplicates(clause_ids)):
        yield Finding(
            "permissions", f"clause id '{dup}' is used more than once across permissions and prohibitions"
        )
    for i, ds in enumerate(a.datasets):
        for dup in sorted(_duplicates([f.name for f in ds.fields])):
            yield Finding(f"datasets[{i}].fields", f"field '{dup}' is listed more than once")


def _parties(a: Agreement) -> Iterator[Finding]:
    if not a.controllers():
        yield Finding("parties", "at least one party must be a controller")
    for i, party in enumerate(a.parties):
        if party.role == "controller" and party.dpo is None:
            yield Finding(
                f"parties[{i}].dpo", f"controller '{party.id}' must name its data protection officer"
            )


def _dates(a: Agreement) -> Iterator[Finding]:
    if a.validity.expires_on <= a.validity.effective_from:
        yield Finding("validity.expires_on", "the agreement must expire after it takes effect")
    if a.review is not None and not (a.validity.effective_from < a.review.next_due <= a.validity.expires_on):
        yield Finding(
            "review.next_due", "the next review must fall after the start and no later than the expiry"
        )
    if a.supersedes is not None and a.supersedes >= a.version:
        yield Finding("supersedes", "a version can only supersede an earlier version")


def _dataset_fields(i: int, ds: Dataset) -> Iterator[Finding]:
    identifiers: list[str] = []
    for j, field in enumerate(ds.fields):
        path = f"datasets[{i}].fields[{j}]"
        if field.cls == "linkage_key":
            if field.identifier is None:
                yield Finding(
                    f"{path}.identifier", f"linkage key '{field.name}' must say which identifier it holds"
                )
            else:
                identifiers.append(field.identifier)
        elif field.identifier is not None:
            yield Finding(
                f"{path}.identifier", f"only linkage_key fields name an identifier ('{field.name}')"
            )
        if field.type == "category" and not field.allowed:
            yield Finding(f"{path}.allowed", f"category field '{field.name}' must list its allowed values")
        if field.allowed is not None and field.type != "category":
            yield Finding(f"{path}.allowed", f"only category fields list allowed values ('{field.name}')")
        ranged = field.min is not None or field.max is not None
        if ranged and field.type not in ("integer", "number", "date"):
            yield Finding(f"{path}.min", f"only numbers and dates can have a range ('{field.name}')")
        elif ranged and not _range_ok(field.type, field.min, field.max):
            yield Finding(
                f"{path}.min", f"the range of '{field.name}' must match its type and have min <= max"
            )
    for dup in sorted(_duplicates(identifiers)):
        yield Finding(
            f"datasets[{i}].fields", f"identifier '{dup}' is held by more than one linkage key field"
        )
    have = frozenset(identifiers)
    for k, key in enumerate(ds.match_keys):
        missing = MATCH_KEY_NEEDS[key] - have
        if missing:
            yield Finding(
                f"datasets[{i}].match_keys[{k}]",
                f"match key '{key}' needs linkage key fields for: {', '.join(sorted(missing))}",
            )
    if identifiers and not ds.match_keys:
        yield Finding(
            f"datasets[{i}].match_keys", "a dataset with linkage keys must list the match keys it carries"
        )


def _range_ok(kind: str, low: object, high: object) -> bool:
    expected: tuple[type, ...] = (date,) if kind == "date" else (int, float)
    values = [v for v in (low, high) if v is not None]
    if not all(isinstance(v, expected) and not isinstance(v, bool) for v in values):
        return False
    return len(values) < 2 or values[0] <= values[1]  # type: ignore[operator]


def _datasets(a: Agreement) -> Iterator[Finding]:
    party_ids = {p.id for p in a.parties}
    for i, ds in enumerate(a.datasets):
        if ds.provider not in party_ids:
            yield Finding(f"datasets[{i}].provider", f"provider '{ds.provider}' is not one of the parties")
        yield from _dataset_fields(i, ds)
    if parse_duration(a.retention.query_results).approx_days() > 3653:
        yield Finding("retention.query_results", "query results may not be kept for more than ten years")


def _lawful_bases(a: Agreement) -> Iterator[Finding]:
    dataset_ids = {d.id for d in a.datasets}
    for i, basis in enumerate(a.lawful_bases.art6):
        if basis.code in _POWER_NEEDED and basis.power is None:
            yield Finding(
                f"lawful_bases.art6[{i}].power", f"Art {basis.code} needs the statutory power it rests on"
            )
    art9_cover: set[str] = set()
    for i, cond in enumerate(a.lawful_bases.art9):
        if cond.code in _SCH1_NEEDED and cond.dpa2018_sch1 is None:
            yield Finding(
                f"lawful_bases.art9[{i}].dpa2018_sch1",
                f"Art {cond.code} also needs a DPA 2018 Schedule 1 condition",
            )
        for j, ds in enumerate(cond.datasets):
            if ds not in dataset_ids:
                yield Finding(f"lawful_bases.art9[{i}].datasets[{j}]", f"dataset '{ds}' is not defined")
        art9_cover.update(cond.datasets)
    art10_cover: set[str] = set()
    for i, cond10 in enumerate(a.lawful_bases.art10):
        for j, ds in enumerate(cond10.datasets):
            if ds not in dataset_ids:
                yield Finding(f"lawful_bases.art10[{i}].datasets[{j}]", f"dataset '{ds}' is not defined")
        art10_cover.update(cond10.datasets)
    for i, dataset in enumerate(a.datasets):
        if dataset.special_category == "health" and dataset.id not in art9_cover:
            yield Finding(
                f"datasets[{i}].special_category",
                f"dataset '{dataset.id}' holds health data, so an Art 9 condition must cover it "
                "(lawful_bases.art9)",
            )
        if dataset.special_category == "criminal" and dataset.id not in art10_cover:
            yield Finding(
                f"datasets[{i}].special_category",
                f"dataset '{dataset.id}' holds criminal-offence data, so an Art 10 basis must cover it "
                "(lawful_bases.art10)",
            )


def _clause_refs(a: Agreement, path: str, clause: Permission | Prohibition) -> Iterator[Finding]:
    """References shared by permissions and prohibitions: agency, datasets, fields, purpose."""
    party_ids = {p.id for p in a.parties}
    dataset_ids = {d.id for d in a.datasets}
    if clause.agency is not None and clause.agency not in party_ids:
        yield Finding(f"{path}.agency", f"agency '{clause.agency}' is not one of the parties")
    if clause.purpose is not None and clause.purpose not in {p.code for p in a.purposes}:
        yield Finding(f"{path}.purpose", f"purpose '{clause.purpose}' is not defined under purposes")
    for j, ds in enumerate(clause.datasets):
        if ds not in dataset_ids:
            yield Finding(f"{path}.datasets[{j}]", f"dataset '{ds}' is not defined")
    if clause.action == "audit_read" and clause.datasets:
        yield Finding(
            f"{path}.datasets", "audit_read covers the audit log of this agreement; list no datasets"
        )
    if clause.action != "audit_read" and not clause.datasets and isinstance(clause, Permission):
        yield Finding(f"{path}.datasets", "a permission must name the datasets it covers")
    for ds_id, names in clause.fields.items():
        if ds_id not in clause.datasets:
            yield Finding(
                f"{path}.fields.{ds_id}", f"fields are listed for '{ds_id}', which this clause does not cover"
            )
            continue
        if ds_id not in dataset_ids:
            continue
        known = a.dataset(ds_id).field_names()
        for name in names:
            if name not in known:
                yield Finding(f"{path}.fields.{ds_id}", f"dataset '{ds_id}' has no field '{name}'")


def _permissions(a: Agreement) -> Iterator[Finding]:
    dataset_ids = {d.id for d in a.datasets}
    seen: dict[tuple[str, str, str, str, str], str] = {}
    for i, perm in enumerate(a.permissions):
        path = f"permissions[{i}]"
        yield from _clause_refs(a, path, perm)
        for ds_id in perm.datasets:
            key = (perm.role, perm.agency, perm.action, ds_id, perm.purpose)
            if key in seen:
                yield Finding(
                    path,
                    f"'{perm.id}' repeats what '{seen[key]}' already grants ({perm.role} at {perm.agency}, "
                    f"{perm.action} on '{ds_id}' for {perm.purpose}); merge them so one clause decides",
                )
            seen.setdefault(key, perm.id)
            if ds_id not in dataset_ids:
                continue
            yield from _permission_on_dataset(path, perm, a.dataset(ds_id))
        if perm.action == "linked_record_request" and not perm.constraints.case_reference_required:
            yield Finding(
                f"{path}.constraints.case_reference_required",
                "a linked-record request must require a case reference",
            )
        if perm.action == "aggregate_query" and a.disclosure is None:
            yield Finding(path, "aggregate queries need disclosure rules (add a disclosure section)")


def _permission_on_dataset(path: str, perm: Permission, ds: Dataset) -> Iterator[Finding]:
    granted = perm.allowed_fields(ds)
    if perm.action == "linked_record_request" and not perm.fields.get(ds.id):
        yield Finding(
            f"{path}.fields",
            f"a linked-record permission must list the fields it releases from '{ds.id}' (data minimisation)",
        )
    if perm.action == "submit_extract" and perm.agency != ds.provider:
        yield Finding(
            f"{path}.agency", f"only the provider of '{ds.id}' ({ds.provider}) may submit its extracts"
        )
    if perm.action in ("linked_record_request", "aggregate_query"):
        keys = sorted(granted & ds.field_names("linkage_key"))
        if keys:
            yield Finding(
                f"{path}.fields.{ds.id}",
                f"linkage key fields never leave the broker; remove {', '.join(keys)}",
            )
    if perm.action == "aggregate_query":
        notes = sorted(granted & ds.field_names("free_text"))
        if notes:
            yield Finding(
                f"{path}.fields.{ds.id}", f"free-text fields cannot be aggregated; remove {', '.join(notes)}"
            )


def _prohibition_hits(x: Prohibition, perm: Permission, a: Agreement) -> list[str]:
    """Datasets on which ``x`` takes away something ``perm`` grants."""
    if x.action != perm.action or x.role not in (None, perm.role) or x.agency not in (None, perm.agency):
        return []
    if x.purpose not in (None, perm.purpose):
        return []
    if x.action == "audit_read":
        return ["audit log"]
    hits = []
    for ds_id in sorted(set(x.datasets) & set(perm.datasets)):
        if ds_id not in x.fields or set(x.fields[ds_id]) & perm.allowed_fields(a.dataset(ds_id)):
            hits.append(ds_id)
    return hits


def _prohibitions(a: Agreement) -> Iterator[Finding]:
    for i, x in enumerate(a.prohibitions):
        path = f"prohibitions[{i}]"
        refs = list(_clause_refs(a, path, x))
        yield from refs
        if x.action != "audit_read" and not x.datasets:
            yield Finding(f"{path}.datasets", "a prohibition must name the datasets it forbids")
        if refs:
            continue
        for perm in a.permissions:
            hits = _prohibition_hits(x, perm, a)
            if hits:
                yield Finding(
                    path,
                    f"'{x.id}' forbids what permission '{perm.id}' grants on {', '.join(hits)}; "
                    "the prohibition would win, so narrow the permission or drop the prohibition",
                )


def _disclosure(a: Agreement) -> Iterator[Finding]:
    d = a.disclosure
    if d is None or d.mode != "dp":
        return
    if d.epsilon_per_period is None:
        yield Finding(
            "disclosure.epsilon_per_period", "differential privacy needs a privacy budget per period"
        )
    if d.period is None:
        yield Finding(
            "disclosure.period", "differential privacy needs the period over which the budget applies"
        )
    if d.epsilon_per_query_cap is None:
        yield Finding("disclosure.epsilon_per_query_cap", "differential privacy needs a cap per query")
    elif d.epsilon_per_period is not None and d.epsilon_per_query_cap > d.epsilon_per_period:
        yield Finding(
            "disclosure.epsilon_per_query_cap", "the cap per query cannot exceed the budget per period"
        )


def _approvals(a: Agreement) -> Iterator[Finding]:
    party_ids = {p.id for p in a.parties}
    for i, approver in enumerate(a.approvals.required):
        if approver not in party_ids:
            yield Finding(f"approvals.required[{i}]", f"approver '{approver}' is not one of the parties")
    missing = sorted({p.id for p in a.controllers()} - set(a.approvals.required))
    if missing:
        yield Finding("approvals.required", f"every controller's DPO must approve; add {', '.join(missing)}")
