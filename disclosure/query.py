"""Compile a query spec against public metadata: every refusal is decided here, before data is touched."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from typing import Any

import polars as pl

from disclosure.errors import QueryRejected
from disclosure.frames import presence_column
from disclosure.geography import AreaPlan, GeographyLookup
from disclosure.spec import (
    Catalogue,
    DisclosurePolicy,
    FieldSpec,
    Filter,
    FilterOp,
    GeographyLevel,
    Measure,
    Mode,
    QuerySpec,
)

AREA = "area"
AREA_LEVEL = "area_level"
COUNT = "count"

_COMPARE = {
    FilterOp.eq: "__eq__",
    FilterOp.ne: "__ne__",
    FilterOp.lt: "__lt__",
    FilterOp.le: "__le__",
    FilterOp.gt: "__gt__",
    FilterOp.ge: "__ge__",
}
_PYTYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
}
_KEY_DTYPES = {"string": pl.String, "int": pl.Int64, "bool": pl.Boolean, "float": pl.Float64}


@dataclass(frozen=True)
class SumSpec:
    """A clamped sum over one field: the building block of ``sum`` and ``mean`` measures."""

    field: str
    lower: float
    upper: float
    integer: bool

    @property
    def column(self) -> str:
        return f"sum:{self.field}"


@dataclass(frozen=True)
class CompiledQuery:
    spec: QuerySpec
    mode: Mode
    epsilon: float | None
    predicate: pl.Expr | None
    area_plan: AreaPlan | None
    group_columns: list[str]
    keys: pl.DataFrame
    sums: list[SumSpec]
    measures: list[Measure]
    template: str

    def area_expr(self) -> pl.Expr | None:
        """The release area of each row: the requested level, with public coarsening applied."""
        if self.area_plan is None:
            return None
        column = pl.col(self.area_plan.requested.value)
        if self.area_plan.mapping:
            old, new = zip(*sorted(self.area_plan.mapping.items()), strict=True)
            column = column.replace(list(old), list(new))
        return column.alias(AREA)

    def sum_for(self, measure: Measure) -> SumSpec:
        """The clamped sum behind a sum or mean measure (one per field: the compiler refuses two bounds)."""
        return next(s for s in self.sums if s.field == measure.field)


def _check_value(field: str, spec: FieldSpec, value: Any) -> None:
    ok = isinstance(value, _PYTYPES[spec.dtype]) and (spec.dtype == "bool" or not isinstance(value, bool))
    if not ok:
        raise QueryRejected(f"filter on {field}: value is not of the field's type {spec.dtype}")


def _filter_expr(flt: Filter, catalogue: Catalogue) -> pl.Expr:
    spec = catalogue.field(flt.field)
    if spec is None:
        raise QueryRejected(f"filter field {flt.field} is not declared")
    values = flt.value if isinstance(flt.value, list) else [flt.value]
    for value in values:
        _check_value(flt.field, spec, value)
    if spec.kind == "categorical" and flt.op not in (FilterOp.eq, FilterOp.ne, FilterOp.is_in):
        raise QueryRejected(f"filter on categorical field {flt.field} must use eq, ne or in")
    if spec.kind == "geography":
        raise QueryRejected(f"filter on {flt.field}: filter geography through its public levels")
    if flt.op == FilterOp.is_in:
        return one_of(flt.field, values)
    expr: pl.Expr = getattr(pl.col(flt.field), _COMPARE[flt.op])(flt.value)
    return expr


def one_of(column: str, values: list[Any]) -> pl.Expr:
    """``column`` equals one of ``values`` (OpenDP 0.16 supports no ``is_in``)."""
    return reduce(lambda a, b: a | b, (pl.col(column) == v for v in values))


def _geography_restriction(
    filters: list[Filter], geography: GeographyLookup
) -> dict[GeographyLevel, set[str]]:
    restrict: dict[GeographyLevel, set[str]] = {}
    for flt in filters:
        level = GeographyLevel(flt.field)
        values = flt.value if isinstance(flt.value, list) else [flt.value]
        if flt.op not in (FilterOp.eq, FilterOp.is_in) or not all(isinstance(v, str) for v in values):
            raise QueryRejected(f"filter on {level.value} must use eq or in with area codes")
        codes = {str(v) for v in values}
        unknown = codes - geography.codes(level)
        if unknown:
            raise QueryRejected(f"{len(unknown)} {level.value} code(s) in the filter are not public codes")
        restrict[level] = restrict.get(level, codes) & codes
    return restrict


def compile_query(
    spec: QuerySpec, policy: DisclosurePolicy, catalogue: Catalogue, geography: GeographyLookup
) -> CompiledQuery:
    """Validate ``spec`` against the catalogue and policy and build the public parts of the plan."""
    mode = spec.mode or policy.mode
    if mode != policy.mode:
        raise QueryRejected(f"the agreement allows mode {policy.mode.value} only")
    epsilon: float | None = None
    if mode == Mode.dp:
        if spec.epsilon is None:
            raise QueryRejected("a dp query must state epsilon")
        if spec.epsilon > policy.max_epsilon_per_query:
            raise QueryRejected(f"epsilon above the per-query cap of {policy.max_epsilon_per_query}")
        epsilon = spec.epsilon
    unknown = sorted(set(spec.datasets) - set(catalogue.datasets))
    if unknown:
        raise QueryRejected(f"unknown dataset(s) {unknown}")

    def in_query(field: str, role: str) -> FieldSpec:
        field_spec = catalogue.field(field)
        if field_spec is None:
            raise QueryRejected(f"{role} field {field} is not declared")
        if field.partition(".")[0] not in spec.datasets:
            raise QueryRejected(f"{role} field {field} is not in the query's datasets")
        return field_spec

    geo_names = {level.value for level in GeographyLevel}
    geo_filters = [f for f in spec.filters if f.field in geo_names]
    # with one declared dataset every subject is in it (a public, structural fact): no presence filter
    predicates = [pl.col(presence_column(d)) for d in spec.datasets] if len(catalogue.datasets) > 1 else []
    for flt in spec.filters:
        if flt.field not in geo_names:
            in_query(flt.field, "filter")
            predicates.append(_filter_expr(flt, catalogue))
    restrict = _geography_restriction(geo_filters, geography)
    predicates += [one_of(level.value, sorted(codes)) for level, codes in restrict.items()]

    area_plan = None
    key_frames: list[pl.DataFrame] = []
    group_columns: list[str] = []
    if spec.geography is not None:
        if spec.geography.rank < policy.min_geography.rank:
            raise QueryRejected(f"the agreement allows geography no finer than {policy.min_geography.value}")
        area_plan = geography.plan(spec.geography, policy.coarsen_below, restrict)
        key_frames.append(area_plan.keys.select(AREA))
        group_columns.append(AREA)
    for field in spec.group_by:
        field_spec = in_query(field, "group_by")
        if field_spec.kind != "categorical" or field_spec.categories is None:  # geography: use levels
            raise QueryRejected(f"group_by field {field} is not a declared categorical field")
        key_frames.append(
            pl.DataFrame({field: list(field_spec.categories)}, schema={field: _KEY_DTYPES[field_spec.dtype]})
        )
        group_columns.append(field)
    keys = reduce(lambda a, b: a.join(b, how="cross"), key_frames) if key_frames else pl.DataFrame()

    sums: list[SumSpec] = []
    for measure in spec.measures:
        if measure.field is None:
            continue
        field_spec = in_query(measure.field, "measure")
        if field_spec.kind != "numeric" or field_spec.lower is None or field_spec.upper is None:
            raise QueryRejected(f"measure field {measure.field} is not a declared numeric field")
        lower, upper = measure.bounds or (field_spec.lower, field_spec.upper)
        integer = field_spec.dtype == "int"
        if integer and not (float(lower).is_integer() and float(upper).is_integer()):
            raise QueryRejected(f"bounds of integer field {measure.field} must be whole numbers")
        if not all(math.isfinite(b) for b in (lower, upper)):
            raise QueryRejected(f"bounds of {measure.field} must be finite")
        candidate = SumSpec(measure.field, float(lower), float(upper), integer)
        if any(s.field == candidate.field and s != candidate for s in sums):
            raise QueryRejected(f"measures on {measure.field} must use one set of bounds")
        if candidate not in sums:
            sums.append(candidate)

    if mode == Mode.sdc:
        cells = keys.height if key_frames else 1
        sizes = [frame.height for frame in key_frames]
        with_margins = math.prod(s + 1 for s in sizes)
        if max(cells, with_margins) > policy.max_sdc_cells:
            raise QueryRejected(
                f"an sdc table is limited to {policy.max_sdc_cells} cells with margins; "
                "use a coarser geography, fewer groups or dp mode"
            )
    template = f"{spec.template()}|coarsen_below={policy.coarsen_below}"
    return CompiledQuery(
        spec=spec,
        mode=mode,
        epsilon=epsilon,
        predicate=reduce(lambda a, b: a & b, predicates) if predicates else None,
        area_plan=area_plan,
        group_columns=group_columns,
        keys=keys,
        sums=sums,
        measures=list(spec.measures),
        template=template,
    )
