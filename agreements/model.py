"""The information-sharing agreement (ISA) as a pydantic model.

Headings follow the ICO data sharing code; structure borrows ODRL (permissions, prohibitions, duties,
constraints) and values borrow DPV (purposes, legal bases). The model checks shape and types only;
cross-references and legal coherence are checked by :mod:`agreements.validation`, so that a DPO gets
every problem at once with a path into the document.

The lifecycle status is deliberately *not* part of the document: approvals are bound to the hash of the
document, and the status changes after approval without changing what was approved.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic import Field as Attr

from agreements.durations import Duration, parse_duration

Role = Literal["operator", "dpo", "data_officer", "analyst", "practitioner"]
Action = Literal["submit_extract", "aggregate_query", "linked_record_request", "audit_read"]
SpecialCategory = Literal["none", "health", "criminal"]
FieldClass = Literal["linkage_key", "payload", "geography", "free_text"]
FieldType = Literal["string", "integer", "number", "boolean", "date", "category"]
Identifier = Literal[
    "chi", "scn", "nhs", "upn", "nino", "forename", "surname", "dob", "sex", "postcode", "area"
]
MatchKey = Literal[
    "chi",
    "scn",
    "nhs",
    "upn",
    "nino",
    "name_dob",
    "slk",
    "phonetic_dob",
    "dob_swap",
    "name",
    "name_swap",
    "surname_dob",
    "forename_dob",
    "postcode_dob",
    "dob_area",
    "postcode_area",
]
Duty = Literal["record_reason", "record_case_reference", "notify_provider", "delete_after_use"]
Geography = Literal["data_zone", "intermediate_zone", "council"]
Art6Code = Literal["6(1)(a)", "6(1)(c)", "6(1)(d)", "6(1)(e)", "6(1)(ea)", "6(1)(f)"]
Art9Code = Literal["9(2)(a)", "9(2)(b)", "9(2)(c)", "9(2)(g)", "9(2)(h)", "9(2)(j)"]

ROLES: tuple[Role, ...] = ("operator", "dpo", "data_officer", "analyst", "practitioner")
ACTIONS: tuple[Action, ...] = ("submit_extract", "aggregate_query", "linked_record_request", "audit_read")
GEOGRAPHY_ORDER: tuple[Geography, ...] = ("data_zone", "intermediate_zone", "council")
AUDIT_TARGET = "audit_log"  # what audit_read acts on: this agreement's audit trail, not a dataset

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
AgreementId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{0,94}$")]
ClauseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
PurposeCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$")]
Curie = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*:[A-Za-z0-9_-]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


def one_line(value: str) -> str:
    """No control characters (NUL, tab, line breaks): PostgreSQL cannot store NUL, and a title or a name
    is shown on one line."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must not contain control characters")
    return value


Title = Annotated[Text, AfterValidator(one_line)]


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


IsoDuration = Annotated[str, AfterValidator(_check_duration)]


class _Strict(BaseModel):
    """Unknown headings are errors: a misspelt key must never silently drop a restriction."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Contact(_Strict):
    name: Text
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]


class Party(_Strict):
    """An agency taking part: controllers decide why and how data is used; each needs a DPO."""

    id: Slug
    name: Text
    role: Literal["controller", "processor"]
    dpo: Contact | None = None


class Validity(_Strict):
    """The agreement grants from the start of ``effective_from`` to the end of ``expires_on`` (UTC)."""

    effective_from: date
    expires_on: date

    def not_before(self) -> datetime:
        return datetime.combine(self.effective_from, time(), tzinfo=UTC)

    def not_after(self) -> datetime:
        """First instant at which nothing is granted any more (exclusive upper bound)."""
        return datetime.combine(self.expires_on + timedelta(days=1), time(), tzinfo=UTC)

    def covers(self, at: datetime) -> bool:
        return self.not_before() <= at < self.not_after()


class Review(_Strict):
    next_due: date


class Dpia(_Strict):
    ref: Text
    outcome: Text | None = None


class Field(_Strict):
    """One column of a dataset; ``class`` drives separation (linkage keys never reach payload tables)."""

    name: FieldName
    cls: FieldClass = Attr(alias="class")
    type: FieldType
    description: Text | None = None
    identifier: Identifier | None = None
    allowed: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = None
    min: float | date | None = None
    max: float | date | None = None


class Dataset(_Strict):
    id: Slug
    title: Title | None = None
    provider: Slug
    refresh: IsoDuration
    retention: IsoDuration
    special_category: SpecialCategory = "none"
    match_keys: list[MatchKey] = []
    fields: list[Field] = Attr(min_length=1)

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    def field_names(self, *classes: FieldClass) -> frozenset[str]:
        """Names of the fields in the given classes (all fields when none are given)."""
        return frozenset(f.name for f in self.fields if not classes or f.cls in classes)

    def retention_duration(self) -> Duration:
        return parse_duration(self.retention)


class Purpose(_Strict):
    code: PurposeCode
    dpv: Curie
    text: Text


class Art6Basis(_Strict):
    code: Art6Code
    power: Text | None = None


class Art9Condition(_Strict):
    code: Art9Code
    dpa2018_sch1: Text | None = None
    datasets: list[Slug] = Attr(min_length=1)


class Art10Condition(_Strict):
    basis: Text
    datasets: list[Slug] = Attr(min_length=1)


class LawfulBases(_Strict):
    art6: list[Art6Basis] = Attr(min_length=1)
    art9: list[Art9Condition] = []
    art10: list[Art10Condition] = []


class Constraints(_Strict):
    case_reference_required: bool = False
    max_requests_per_day: Annotated[int, Attr(ge=1)] | None = None


FieldsByDataset = dict[Slug, list[FieldName]]


class Permission(_Strict):
    """One grant: a role at one agency may take one action on datasets for one purpose.

    ``agency`` is exactly one party id (no wildcard), so every widening shows up as a new clause.
    ``fields`` maps dataset id to the fields granted; linked-record grants must list them.
    """

    id: ClauseId
    role: Role
    agency: Slug
    action: Action
    datasets: list[Slug] = []
    fields: FieldsByDataset = {}
    purpose: PurposeCode
    constraints: Constraints = Constraints()
    duties: list[Duty] = []

    def allowed_fields(self, dataset: Dataset) -> frozenset[str]:
        """Fields this grant covers on ``dataset``; an unlisted dataset gets the action's default."""
        if dataset.id in self.fields:
            return frozenset(self.fields[dataset.id])
        if self.action == "submit_extract":
            return dataset.field_names()
        if self.action == "aggregate_query":
            return dataset.field_names("payload", "geography")
        return frozenset()


class Prohibition(_Strict):
    """An explicit deny; an unset role, agency or purpose means "any". Prohibitions win over grants."""

    id: ClauseId
    action: Action
    datasets: list[Slug] = []
    role: Role | None = None
    agency: Slug | None = None
    purpose: PurposeCode | None = None
    fields: FieldsByDataset = {}


class Disclosure(_Strict):
    """Output control for aggregate queries (differential privacy or small-number suppression)."""

    mode: Literal["dp", "sdc"] = "dp"
    min_cell: Annotated[int, Attr(ge=1)] = 10
    round_to: Annotated[int, Attr(ge=1)] = 5
    epsilon_per_period: Annotated[float, Attr(gt=0)] | None = None
    period: IsoDuration | None = None
    epsilon_per_query_cap: Annotated[float, Attr(gt=0)] | None = None
    min_geography: Geography = "intermediate_zone"
    population_threshold: Annotated[int, Attr(ge=0)] = 1000


class Retention(_Strict):
    query_results: IsoDuration = "P90D"
    on_end: Literal["destroy_keys", "return_to_provider"] = "destroy_keys"


class Linkage(_Strict):
    key_version: Annotated[int, Attr(ge=1)] = 1


class ApprovalPolicy(_Strict):
    """Party ids whose DPO must approve this exact version (every controller at least)."""

    required: list[Slug] = []


class Agreement(_Strict):
    id: AgreementId
    version: Annotated[int, Attr(ge=1)]
    supersedes: Annotated[int, Attr(ge=1)] | None = None
    title: Title
    jurisdiction: Literal["GB-SCT"] = "GB-SCT"
    validity: Validity
    review: Review | None = None
    dpia: Dpia | None = None
    parties: list[Party] = Attr(min_length=1)
    datasets: list[Dataset] = Attr(min_length=1)
    purposes: list[Purpose] = Attr(min_length=1)
    lawful_bases: LawfulBases
    permissions: list[Permission] = []
    prohibitions: list[Prohibition] = []
    disclosure: Disclosure | None = None
    retention: Retention = Retention()
    linkage: Linkage = Linkage()
    approvals: ApprovalPolicy = ApprovalPolicy()

    def dataset(self, dataset_id: str) -> Dataset:
        for item in self.datasets:
            if item.id == dataset_id:
                return item
        raise KeyError(dataset_id)

    def party(self, party_id: str) -> Party:
        for item in self.parties:
            if item.id == party_id:
                return item
        raise KeyError(party_id)

    def purpose(self, code: str) -> Purpose:
        for item in self.purposes:
            if item.code == code:
                return item
        raise KeyError(code)

    def controllers(self) -> list[Party]:
        return [p for p in self.parties if p.role == "controller"]

    def required_approvers(self) -> frozenset[str]:
        """Party ids whose DPO must approve: the listed ones plus every controller, whatever the list says."""
        return frozenset(self.approvals.required) | {p.id for p in self.controllers()}

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace, defaults included: equal agreements give equal text."""
        return json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON; approvals are bound to it."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"
