"""Plain-English differences between two agreement versions, flagging every widening.

A widening is anything that lets more data reach more people for longer: a new party, dataset, field,
purpose or grant; a removed prohibition or constraint; longer retention or validity; a larger privacy
budget or weaker output control. Widenings need every controller's DPO to approve again.
"""

from __future__ import annotations

from dataclasses import dataclass

from agreements.durations import parse_duration
from agreements.model import AUDIT_TARGET, GEOGRAPHY_ORDER, Agreement, Disclosure

Grant = tuple[str, str, str, str, str]  # role, agency, action, target, purpose


@dataclass(frozen=True)
class Change:
    path: str
    text: str
    widening: bool

    def __str__(self) -> str:
        return f"{'WIDENING ' if self.widening else ''}{self.path}: {self.text}"


def _grants(a: Agreement) -> dict[Grant, frozenset[str]]:
    out: dict[Grant, frozenset[str]] = {}
    for perm in a.permissions:
        targets = [AUDIT_TARGET] if perm.action == "audit_read" else perm.datasets
        for target in targets:
            key = (perm.role, perm.agency, perm.action, target, perm.purpose)
            known = {d.id: d for d in a.datasets}
            fields = perm.allowed_fields(known[target]) if target in known else frozenset()
            out[key] = out.get(key, frozenset()) | fields
    return out


def _who(grant: Grant) -> str:
    role, agency, action, target, purpose = grant
    return f"{role} at {agency} may {action.replace('_', ' ')} on {target} for {purpose}"


def _set_changes(path: str, noun: str, old: set[str], new: set[str]) -> list[Change]:
    changes = [Change(path, f"new {noun} '{x}'", True) for x in sorted(new - old)]
    changes += [Change(path, f"{noun} '{x}' removed", False) for x in sorted(old - new)]
    return changes


def _longer(path: str, what: str, old: str, new: str) -> list[Change]:
    before, after = parse_duration(old).approx_days(), parse_duration(new).approx_days()
    if after == before:
        return (
            [] if old == new else [Change(path, f"{what} rewritten from {old} to {new} (same length)", False)]
        )
    return [
        Change(path, f"{what} {'longer' if after > before else 'shorter'}: {old} -> {new}", after > before)
    ]


def _disclosure(old: Disclosure | None, new: Disclosure | None) -> list[Change]:
    if old is None or new is None:
        if old is None and new is not None:
            return [Change("disclosure", "disclosure rules added", False)]
        if old is not None:
            return [Change("disclosure", "disclosure rules removed", True)]
        return []
    out: list[Change] = []
    if old.mode != new.mode:
        out.append(Change("disclosure.mode", f"mode {old.mode} -> {new.mode}", new.mode == "sdc"))
    # (field, label, True when a larger value widens)
    numeric = [
        ("min_cell", "smallest released cell", False),
        ("round_to", "rounding base", False),
        ("population_threshold", "population below which areas are coarsened", False),
        ("epsilon_per_period", "privacy budget per period", True),
        ("epsilon_per_query_cap", "privacy budget cap per query", True),
    ]
    for name, label, larger_widens in numeric:
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        if before is None or after is None:
            out.append(Change(f"disclosure.{name}", f"{label} {before} -> {after}", after is None))
            continue
        out.append(
            Change(f"disclosure.{name}", f"{label} {before} -> {after}", (after > before) == larger_widens)
        )
    if old.period != new.period:
        before = parse_duration(old.period).approx_days() if old.period else None
        after = parse_duration(new.period).approx_days() if new.period else None
        # A shorter period refreshes the budget sooner, which widens.
        sooner = after is not None and (before is None or after < before)
        out.append(Change("disclosure.period", f"budget period {old.period} -> {new.period}", sooner))
    if old.min_geography != new.min_geography:
        finer = GEOGRAPHY_ORDER.index(new.min_geography) < GEOGRAPHY_ORDER.index(old.min_geography)
        out.append(
            Change(
                "disclosure.min_geography", f"smallest area {old.min_geography} -> {new.min_geography}", finer
            )
        )
    return out


def diff(old: Agreement, new: Agreement) -> list[Change]:
    """Every difference that matters to a DPO, widenings flagged."""
    out: list[Change] = []
    if old.id != new.id:
        out.append(Change("id", f"a different agreement ({old.id} -> {new.id})", True))
    if old.version != new.version:
        out.append(Change("version", f"version {old.version} -> {new.version}", False))
    if old.title != new.title:
        out.append(Change("title", "title reworded", False))
    if new.validity.effective_from < old.validity.effective_from:
        out.append(Change("validity.effective_from", f"starts earlier: {new.validity.effective_from}", True))
    elif new.validity.effective_from > old.validity.effective_from:
        out.append(Change("validity.effective_from", f"starts later: {new.validity.effective_from}", False))
    if new.validity.expires_on != old.validity.expires_on:
        later = new.validity.expires_on > old.validity.expires_on
        out.append(
            Change(
                "validity.expires_on",
                f"{'later' if later else 'earlier'} expiry: {new.validity.expires_on}",
                later,
            )
        )

    old_parties = {p.id: p for p in old.parties}
    new_parties = {p.id: p for p in new.parties}
    out += _set_changes("parties", "party", set(old_parties), set(new_parties))
    for pid in sorted(set(old_parties) & set(new_parties)):
        if old_parties[pid].role != new_parties[pid].role:
            out.append(Change("parties", f"party '{pid}' is now a {new_parties[pid].role}", False))
        if old_parties[pid].dpo != new_parties[pid].dpo:
            out.append(Change("parties", f"party '{pid}' names a different DPO", False))

    old_ds = {d.id: d for d in old.datasets}
    new_ds = {d.id: d for d in new.datasets}
    out += _set_changes("datasets", "dataset", set(old_ds), set(new_ds))
    for ds_id in sorted(set(old_ds) & set(new_ds)):
        a, b = old_ds[ds_id], new_ds[ds_id]
        path = f"datasets.{ds_id}"
        out += _set_changes(f"{path}.fields", "field", set(a.field_names()), set(b.field_names()))
        for name in sorted(a.field_names() & b.field_names()):
            fa, fb = a.field(name), b.field(name)
            if fa != fb:
                out.append(
                    Change(
                        f"{path}.fields.{name}",
                        f"field '{name}' redefined (class {fa.cls} -> {fb.cls})",
                        True,
                    )
                )
        out += _longer(f"{path}.retention", "retention", a.retention, b.retention)
        if a.refresh != b.refresh:
            out.append(Change(f"{path}.refresh", f"refresh {a.refresh} -> {b.refresh}", False))
        if a.special_category != b.special_category:
            out.append(
                Change(
                    f"{path}.special_category",
                    f"{a.special_category} -> {b.special_category}",
                    b.special_category != "none",
                )
            )
        if a.provider != b.provider:
            out.append(Change(f"{path}.provider", f"provider {a.provider} -> {b.provider}", True))
        out += _set_changes(f"{path}.match_keys", "match key", set(a.match_keys), set(b.match_keys))

    out += _set_changes("purposes", "purpose", {p.code for p in old.purposes}, {p.code for p in new.purposes})
    if old.lawful_bases != new.lawful_bases:
        out.append(Change("lawful_bases", "lawful bases changed", False))

    old_grants, new_grants = _grants(old), _grants(new)
    for grant in sorted(set(new_grants) - set(old_grants)):
        fields = ", ".join(sorted(new_grants[grant])) or "no fields"
        out.append(Change("permissions", f"new grant: {_who(grant)} ({fields})", True))
    for grant in sorted(set(old_grants) - set(new_grants)):
        out.append(Change("permissions", f"grant withdrawn: {_who(grant)}", False))
    for grant in sorted(set(old_grants) & set(new_grants)):
        added, removed = new_grants[grant] - old_grants[grant], old_grants[grant] - new_grants[grant]
        if added:
            out.append(Change("permissions", f"{_who(grant)}: now also {', '.join(sorted(added))}", True))
        if removed:
            out.append(Change("permissions", f"{_who(grant)}: no longer {', '.join(sorted(removed))}", False))
    old_perms = {p.id: p for p in old.permissions}
    for perm in new.permissions:
        before = old_perms.get(perm.id)
        if before is None:
            continue
        path = f"permissions.{perm.id}"
        a_c, b_c = before.constraints, perm.constraints
        if a_c.case_reference_required != b_c.case_reference_required:
            out.append(
                Change(
                    path,
                    f"case reference required: {b_c.case_reference_required}",
                    not b_c.case_reference_required,
                )
            )
        if a_c.max_requests_per_day != b_c.max_requests_per_day:
            looser = b_c.max_requests_per_day is None or (
                a_c.max_requests_per_day is not None and b_c.max_requests_per_day > a_c.max_requests_per_day
            )
            out.append(
                Change(
                    path,
                    f"daily request limit {a_c.max_requests_per_day} -> {b_c.max_requests_per_day}",
                    looser,
                )
            )
        for duty in sorted(set(before.duties) - set(perm.duties)):
            out.append(Change(path, f"duty '{duty}' dropped", True))
        for duty in sorted(set(perm.duties) - set(before.duties)):
            out.append(Change(path, f"duty '{duty}' added", False))

    old_bans = {x.id: x for x in old.prohibitions}
    new_bans = {x.id: x for x in new.prohibitions}
    for xid in sorted(set(old_bans) - set(new_bans)):
        out.append(Change("prohibitions", f"prohibition '{xid}' removed", True))
    for xid in sorted(set(new_bans) - set(old_bans)):
        out.append(Change("prohibitions", f"new prohibition '{xid}'", False))
    for xid in sorted(set(old_bans) & set(new_bans)):
        if old_bans[xid] != new_bans[xid]:
            out.append(
                Change("prohibitions", f"prohibition '{xid}' rewritten (check it forbids no less)", True)
            )

    out += _disclosure(old.disclosure, new.disclosure)
    out += _longer(
        "retention.query_results",
        "query result retention",
        old.retention.query_results,
        new.retention.query_results,
    )
    if old.retention.on_end != new.retention.on_end:
        out.append(Change("retention.on_end", f"at the end: {new.retention.on_end}", False))
    if old.linkage != new.linkage:
        out.append(
            Change(
                "linkage.key_version",
                f"linkage key version {old.linkage.key_version} -> {new.linkage.key_version}",
                False,
            )
        )
    fewer = old.required_approvers() - new.required_approvers()
    if fewer:
        out.append(
            Change("approvals.required", f"no longer needs approval from {', '.join(sorted(fewer))}", True)
        )
    more = new.required_approvers() - old.required_approvers()
    if more:
        out.append(
            Change("approvals.required", f"now also needs approval from {', '.join(sorted(more))}", False)
        )
    if old.dpia != new.dpia:
        out.append(Change("dpia", "DPIA reference or outcome changed", False))
    if old.review != new.review:
        out.append(Change("review", "review date changed", False))
    return out


def is_widening(old: Agreement, new: Agreement) -> bool:
    return any(c.widening for c in diff(old, new))
