"""Public descriptions of a query, of the data it may touch and of the agreement's disclosure rules.

Everything here is public metadata: refusing a query on these grounds never depends on private data.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scalar = str | int | bool | float


class GeographyLevel(StrEnum):
    """Public geography levels, finest first; each nests inside the next."""

    data_zone = "data_zone"
    intermediate_zone = "intermediate_zone"
    council = "council"

    @property
    def rank(self) -> int:
        return list(GeographyLevel).index(self)


class Mode(StrEnum):
    dp = "dp"
    sdc = "sdc"


class MeasureKind(StrEnum):
    count = "count"  # type: ignore[assignment]  # shadows str.count, on purpose
    sum = "sum"
    mean = "mean"


class FilterOp(StrEnum):
    eq = "eq"
    ne = "ne"
    lt = "lt"
    le = "le"
    gt = "gt"
    ge = "ge"
    is_in = "in"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldSpec(_Frozen):
    """One declared field. Categorical fields list their public categories; numeric ones their bounds.

    A ``geography`` field holds a data-zone code; queries reach it only through the public levels.
    """

    kind: Literal["categorical", "numeric", "geography"]
    dtype: Literal["string", "int", "bool", "float"]
    categories: tuple[Scalar, ...] | None = None
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _bool_categories(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("dtype") == "bool" and data.get("categories") is None:
            return {**data, "categories": (False, True)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.kind == "categorical":
            if not self.categories:
                raise ValueError("a categorical field needs a non-empty public list of categories")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories must be distinct")
        elif self.kind == "geography":
            if self.dtype != "string":
                raise ValueError("a geography field holds data-zone codes as strings")
        else:
            if self.dtype not in ("int", "float"):
                raise ValueError("a numeric field has dtype int or float")
            if self.lower is None or self.upper is None or not self.lower < self.upper:
                raise ValueError("a numeric field needs declared bounds with lower < upper")
        return self


class Catalogue(_Frozen):
    """The datasets of one agreement as declared in public: fields, the data-zone field and the row bound."""

    datasets: dict[str, dict[str, FieldSpec]]
    geography_fields: tuple[str, ...] = Field(
        min_length=1,
        description="qualified 'dataset.field' names holding a data zone; the first non-null one is used",
    )
    max_subjects: int = Field(gt=0, description="public upper bound on the number of subjects (rows)")

    @model_validator(mode="after")
    def _geography_declared(self) -> Catalogue:
        for qualified in self.geography_fields:
            spec = self.field(qualified)
            if spec is None or spec.kind != "geography":
                raise ValueError("geography_fields must name declared geography fields as 'dataset.field'")
        return self

    def field(self, qualified: str) -> FieldSpec | None:
        dataset, _, field = qualified.partition(".")
        return self.datasets.get(dataset, {}).get(field)

    def columns(self) -> dict[str, FieldSpec]:
        """Every declared field by its qualified column name."""
        return {f"{d}.{f}": spec for d, fields in self.datasets.items() for f, spec in fields.items()}


class DisclosurePolicy(_Frozen):
    """The agreement's disclosure section, as the library needs it."""

    mode: Mode = Mode.dp
    min_cell: int = Field(default=5, ge=1)
    round_to: int | None = Field(default=None, ge=2)
    max_epsilon_per_query: float = Field(default=1.0, gt=0)
    coarsen_below: int = Field(default=0, ge=0, description="public population below which an area rolls up")
    min_geography: GeographyLevel = GeographyLevel.data_zone
    max_sdc_cells: int = Field(
        default=2_000, gt=0, description="largest table the exact LP audit will run on"
    )


class Measure(_Frozen):
    kind: MeasureKind
    field: str | None = None
    bounds: tuple[float, float] | None = Field(
        default=None, description="clamping bounds; default: the field's declared bounds"
    )

    @model_validator(mode="after")
    def _field_needed(self) -> Measure:
        if (self.kind == MeasureKind.count) != (self.field is None):
            raise ValueError("count takes no field; sum and mean need one")
        if self.bounds is not None and not self.bounds[0] < self.bounds[1]:
            raise ValueError("bounds must have lower < upper")
        return self

    @property
    def name(self) -> str:
        return "count" if self.field is None else f"{self.kind.value}:{self.field}"


class Filter(_Frozen):
    field: str = Field(description="'dataset.field', or a geography level name")
    op: FilterOp
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _arity(self) -> Filter:
        if (self.op == FilterOp.is_in) != isinstance(self.value, list):
            raise ValueError("'in' takes a list; the other operators a single value")
        return self


class QuerySpec(_Frozen):
    """An aggregate query: the datasets joined by subject, filters, groups, measures and the loss asked."""

    datasets: list[str] = Field(min_length=1)
    filters: list[Filter] = []
    geography: GeographyLevel | None = None
    group_by: list[str] = Field(default=[], description="declared categorical fields, 'dataset.field'")
    measures: list[Measure] = Field(default=[Measure(kind=MeasureKind.count)], min_length=1)
    epsilon: float | None = Field(default=None, gt=0)
    mode: Mode | None = None

    @model_validator(mode="after")
    def _distinct(self) -> QuerySpec:
        if len(set(self.datasets)) != len(self.datasets) or len(set(self.group_by)) != len(self.group_by):
            raise ValueError("datasets and group_by must not repeat")
        if len({m.name for m in self.measures}) != len(self.measures):
            raise ValueError("measures must not repeat")
        return self

    def template(self) -> str:
        """Canonical JSON of everything that shapes the measurement except the loss: the cache key."""
        return self.model_copy(update={"epsilon": None, "mode": None}).model_dump_json()
