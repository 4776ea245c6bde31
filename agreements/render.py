"""An agreement as Markdown a DPO can read and sign off, following the ICO data sharing code headings."""

from __future__ import annotations

from agreements.model import Agreement, Dataset, Permission, Prohibition

_ACTION_TEXT = {
    "submit_extract": "submit pseudonymised extracts of",
    "aggregate_query": "run aggregate (statistical) queries over",
    "linked_record_request": "request the linked record of one child from",
    "audit_read": "read the audit trail of",
}
_ROLE_TEXT = {
    "operator": "Broker operators",
    "dpo": "Data protection officers",
    "data_officer": "Data officers",
    "analyst": "Analysts",
    "practitioner": "Practitioners",
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _dataset(ds: Dataset) -> list[str]:
    special = {"none": "", "health": " Special category: **health**.", "criminal": " Criminal-offence data."}
    lines = [
        f"### {ds.id}" + (f": {ds.title}" if ds.title else ""),
        "",
        f"Provided by **{ds.provider}**, refreshed every {ds.refresh}, kept for {ds.retention}."
        f"{special[ds.special_category]}",
        "",
    ]
    if ds.match_keys:
        lines += [f"Match keys (tokens only): {', '.join(ds.match_keys)}.", ""]
    rows: list[list[object]] = []
    for f in ds.fields:
        limits = []
        if f.allowed:
            limits.append(", ".join(f.allowed))
        if f.min is not None or f.max is not None:
            limits.append(f"{f.min if f.min is not None else ''}..{f.max if f.max is not None else ''}")
        kind = f"linkage key ({f.identifier}), tokenised at the agency" if f.cls == "linkage_key" else f.cls
        rows.append([f.name, kind, f.type, "; ".join(limits)])
    return lines + _table(["field", "class", "type", "allowed values"], rows)


def _grant(a: Agreement, p: Permission) -> str:
    target = "this agreement" if p.action == "audit_read" else ", ".join(p.datasets)
    text = f"- **{p.id}.** {_ROLE_TEXT[p.role]} at **{p.agency}** may {_ACTION_TEXT[p.action]} {target}"
    text += f" for purpose {p.purpose}."
    if p.action in ("linked_record_request", "aggregate_query"):
        known = {d.id: d for d in a.datasets}
        for ds_id in p.datasets:
            if ds_id in known:
                text += f" From {ds_id}: {', '.join(sorted(p.allowed_fields(known[ds_id]))) or 'no fields'}."
    if p.constraints.case_reference_required:
        text += " A case reference is required."
    if p.constraints.max_requests_per_day:
        text += f" At most {p.constraints.max_requests_per_day} requests a day."
    if p.duties:
        text += f" Duties: {', '.join(d.replace('_', ' ') for d in p.duties)}."
    return text


def _ban(x: Prohibition) -> str:
    who = (_ROLE_TEXT[x.role] if x.role else "Nobody's role") + (f" at {x.agency}" if x.agency else "")
    scope = ", ".join(x.datasets) if x.datasets else "the audit trail"
    text = f"- **{x.id}.** {who} may not {_ACTION_TEXT[x.action]} {scope}"
    if x.purpose:
        text += f" for {x.purpose}"
    for ds_id, names in sorted(x.fields.items()):
        text += f"; from {ds_id} never {', '.join(names)}"
    return text + "."


def render_markdown(a: Agreement) -> str:
    lines = [
        f"# {a.title}",
        "",
        f"Agreement **{a.id}**, version {a.version}"
        + (f" (supersedes version {a.supersedes})" if a.supersedes else "")
        + f". Jurisdiction {a.jurisdiction}.",
        "",
        f"In force from **{a.validity.effective_from}** to the end of **{a.validity.expires_on}** (UTC)."
        + (f" Next review due {a.review.next_due}." if a.review else ""),
        "",
    ]
    if a.dpia:
        lines += [f"DPIA: {a.dpia.ref}" + (f" ({a.dpia.outcome})" if a.dpia.outcome else "") + ".", ""]
    lines += ["## Parties", ""]
    lines += _table(
        ["id", "name", "role", "DPO"],
        [[p.id, p.name, p.role, f"{p.dpo.name} <{p.dpo.email}>" if p.dpo else ""] for p in a.parties],
    )
    lines += ["## Purposes", ""]
    lines += _table(["code", "purpose", "DPV"], [[p.code, p.text, p.dpv] for p in a.purposes])
    lines += ["## Lawful bases", ""]
    lines += [f"- Art {b.code}" + (f": {b.power}" if b.power else "") for b in a.lawful_bases.art6]
    lines += [
        f"- Art {c.code}"
        + (f" with DPA 2018 {c.dpa2018_sch1}" if c.dpa2018_sch1 else "")
        + f", for {', '.join(c.datasets)}"
        for c in a.lawful_bases.art9
    ]
    lines += [f"- Art 10: {c.basis}, for {', '.join(c.datasets)}" for c in a.lawful_bases.art10]
    lines += ["", "## Data", ""]
    for ds in a.datasets:
        lines += _dataset(ds)
    lines += ["## Who may do what", ""]
    lines += [_grant(a, p) for p in a.permissions] or ["Nothing is granted."]
    lines += ["", "Anything not listed above is refused.", ""]
    if a.prohibitions:
        lines += ["## Prohibitions (these win over any grant)", ""]
        lines += [_ban(x) for x in a.prohibitions] + [""]
    if a.disclosure:
        d = a.disclosure
        lines += ["## Disclosure control for statistics", ""]
        if d.mode == "dp":
            lines.append(
                f"Differential privacy: a budget of epsilon {d.epsilon_per_period} per {d.period} "
                f"per consumer agency, at most {d.epsilon_per_query_cap} per query."
            )
        else:
            lines.append("Exact counts with small-number suppression (secondary suppression checked).")
        lines += [
            f"Cells below {d.min_cell} are suppressed; counts are rounded to base {d.round_to}. "
            f"Areas smaller than {d.min_geography.replace('_', ' ')} are never released "
            f"and areas with a population under {d.population_threshold} are coarsened.",
            "",
        ]
    lines += [
        "## Retention",
        "",
        f"Query results are kept for {a.retention.query_results}; "
        f"at the end: {a.retention.on_end.replace('_', ' ')}.",
        f"Linkage key version {a.linkage.key_version}.",
        "",
        "## Approval",
        "",
        f"Needs the approval of the DPO of: {', '.join(sorted(a.required_approvers()))}. "
        f"Approvals are bound to SHA-256 `{a.digest()}` of this version's canonical JSON; "
        "any change voids them.",
        "",
    ]
    return "\n".join(lines)
