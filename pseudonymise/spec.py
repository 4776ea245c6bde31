"""What to do with each column of one dataset: which hold identifiers, which keys to form, what to keep.

A plain dataclass so the pipeline does not depend on the agreement model; ``from_agreement_dataset``
converts an ``agreements`` dataset (duck-typed on ``.fields`` and ``.match_keys``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pseudonymise.matchkeys import KEY_INPUTS, KeyType
from pseudonymise.normalise import IdentifierKind


class SpecError(ValueError):
    """The dataset description is inconsistent; the message names the column or key."""


class _FieldLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def cls(self) -> str: ...
    @property
    def identifier(self) -> str | None: ...


class _DatasetLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def match_keys(self) -> Sequence[str]: ...
    @property
    def fields(self) -> Sequence[_FieldLike]: ...


@dataclass(frozen=True)
class DatasetSpec:
    """Column roles for pseudonymising one dataset.

    ``identifiers`` maps a raw column to the identifier it holds; those columns never reach the output.
    ``payload`` columns are copied through (geography included); ``free_text`` columns are copied but
    scanned for residual PII. Any other input column is undeclared: dropped and scanned.
    """

    dataset_id: str
    identifiers: Mapping[str, IdentifierKind]
    match_keys: tuple[KeyType, ...]
    payload: tuple[str, ...] = ()
    free_text: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        kinds = list(self.identifiers.values())
        duplicated = {k for k in kinds if kinds.count(k) > 1}
        if duplicated:
            raise SpecError(f"dataset {self.dataset_id}: identifier declared twice: {sorted(duplicated)}")
        overlap = set(self.identifiers) & (set(self.payload) | set(self.free_text))
        if overlap:
            raise SpecError(f"dataset {self.dataset_id}: identifier columns also kept: {sorted(overlap)}")
        available = set(kinds)
        for kt in self.match_keys:
            missing = [k.value for k in KEY_INPUTS[kt] if k not in available]
            if missing:
                raise SpecError(
                    f"dataset {self.dataset_id}: match key {kt.value} needs identifiers {missing}"
                )

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Token columns first (named after the key type), then the kept columns in declared order."""
        return tuple(token_column(kt) for kt in self.match_keys) + self.payload + self.free_text

    def undeclared(self, columns: Iterable[str]) -> list[str]:
        """Input columns the spec does not mention (they are dropped and scanned)."""
        known = set(self.identifiers) | set(self.payload) | set(self.free_text)
        return [c for c in columns if c not in known]

    @classmethod
    def from_agreement_dataset(cls, dataset: _DatasetLike) -> DatasetSpec:
        """Build from an ``agreements`` Dataset: linkage_key fields are identifiers, payload and
        geography are kept, free_text is kept and scanned."""
        identifiers: dict[str, IdentifierKind] = {}
        payload: list[str] = []
        free_text: list[str] = []
        for f in dataset.fields:
            if f.cls == "linkage_key":
                if f.identifier is None:
                    raise SpecError(f"dataset {dataset.id}: linkage_key field {f.name} names no identifier")
                identifiers[f.name] = IdentifierKind(f.identifier)
            elif f.cls in ("payload", "geography"):
                payload.append(f.name)
            elif f.cls == "free_text":
                free_text.append(f.name)
            else:
                raise SpecError(f"dataset {dataset.id}: field {f.name} has unknown class")
        return cls(
            dataset_id=dataset.id,
            identifiers=identifiers,
            match_keys=tuple(KeyType(k) for k in dataset.match_keys),
            payload=tuple(payload),
            free_text=tuple(free_text),
        )


def token_column(key_type: KeyType) -> str:
    """Output column holding the tokens of one key type."""
    return f"token_{key_type.value}"
