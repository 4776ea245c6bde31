"""Run a query end to end: compile, charge, release, then threshold, suppress, round and flag.

Budget contract: ``reserve(epsilon)`` is called with OpenDP's own ``map`` of the measurement before any
noise is drawn; it raises to refuse (nothing has been drawn, so nothing is spent). Nothing is refunded
after a release, even if post-processing fails.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from disclosure.dp import MeasurementCache, Prepared, noisy_table
from disclosure.frames import FrameSet
from disclosure.query import AREA, AREA_LEVEL, COUNT, CompiledQuery, compile_query
from disclosure.result import QueryResult, accuracy_column
from disclosure.sdc import Table, protect, round_counts
from disclosure.spec import DisclosurePolicy, Measure, MeasureKind, Mode, QuerySpec

Reserve = Callable[[float], None]

DP_THRESHOLD_NOTE = (
    "Cells whose noisy count is below {min_cell} are withheld. The threshold is applied to noisy values, "
    "so a released count may differ from the true count by up to the stated accuracy."
)
SDC_DIFFERENCING_WARNING = (
    "Exact counts: suppression protects this table only. Exact releases can be differenced across "
    "queries (a total minus a sub-total can reveal a withheld cell); every sdc release is audited."
)


class QueryEngine:
    """Answers queries over one immutable frame set under one agreement's disclosure policy."""

    def __init__(self, frames: FrameSet, policy: DisclosurePolicy, cache: MeasurementCache | None = None):
        self.frames = frames
        self.policy = policy
        self.cache = cache or MeasurementCache()

    def compile(self, spec: QuerySpec) -> CompiledQuery:
        return compile_query(spec, self.policy, self.frames.catalogue, self.frames.geography)

    def cost(self, spec: QuerySpec) -> float:
        """The epsilon a query would be charged (OpenDP's map); 0 for sdc. Touches no private data."""
        query = self.compile(spec)
        return self.cache.prepare(self.frames, query).epsilon if query.mode == Mode.dp else 0.0

    def run(self, spec: QuerySpec, reserve: Reserve) -> QueryResult:
        query = self.compile(spec)
        if query.mode == Mode.dp:
            prepared = self.cache.prepare(self.frames, query)
            reserve(prepared.epsilon)  # before any noise is drawn; raises to refuse
            table = self._dp_table(query, prepared, noisy_table(self.frames, query, prepared))
            epsilon = prepared.epsilon
            notes = [DP_THRESHOLD_NOTE.format(min_cell=self.policy.min_cell)]
        else:
            table, epsilon, notes = self._sdc_table(query), 0.0, [SDC_DIFFERENCING_WARNING]
        return self._result(query, table, epsilon, notes)

    def _measure_columns(self, query: CompiledQuery) -> list[str]:
        names = [m.name for m in query.measures]
        return names if COUNT in names else [COUNT, *names]

    def _rounded(self, count: pl.Expr) -> pl.Expr:
        if self.policy.round_to is None:
            return count
        base, floor = self.policy.round_to, self.policy.min_cell
        rounded = ((count / base + 0.5).floor() * base).cast(pl.Int64)
        lowest = -(-floor // base) * base
        return pl.when(rounded < lowest).then(lowest).otherwise(rounded)

    def _dp_table(self, query: CompiledQuery, prepared: Prepared, noisy: pl.DataFrame) -> pl.DataFrame:
        acc, acc_975 = prepared.accuracy, prepared.accuracy_975
        count = pl.col(COUNT)
        withheld = count < self.policy.min_cell
        columns: list[pl.Expr] = [
            pl.when(withheld).then(None).otherwise(self._rounded(count)).alias(COUNT),
            pl.lit(acc[COUNT]).alias(accuracy_column(COUNT)),
        ]
        for measure in query.measures:
            if measure.kind == MeasureKind.count:
                continue
            s = query.sum_for(measure)
            total = pl.col(s.column)
            if measure.kind == MeasureKind.sum:
                value, accuracy = total, pl.lit(acc[s.column])
            else:
                value = (total / count).clip(s.lower, s.upper)
                a_n, a_s = acc_975[COUNT], acc_975[s.column]
                bound = ((total / count).abs() * a_n + a_s) / (count - a_n)
                accuracy = pl.when(count > a_n).then(bound).otherwise(None)
            columns += [
                pl.when(withheld).then(None).otherwise(value).cast(pl.Float64).alias(measure.name),
                accuracy.cast(pl.Float64).alias(accuracy_column(measure.name)),
            ]
        columns += [
            withheld.alias("suppressed_primary"),
            pl.lit(False).alias("suppressed_secondary"),
        ]
        return noisy.select(*query.group_columns, *columns)

    def _sdc_table(self, query: CompiledQuery) -> pl.DataFrame:
        aggregates = [pl.len().alias(COUNT)] + [
            pl.col(s.field).fill_nan(s.lower).fill_null(s.lower).clip(s.lower, s.upper).sum().alias(s.column)
            for s in query.sums
        ]
        data = self.frames.frame.lazy()
        if query.predicate is not None:
            data = data.filter(query.predicate)
        area = query.area_expr()
        if area is not None:
            data = data.with_columns(area)
        dims = [query.keys.get_column(c).unique(maintain_order=True) for c in query.group_columns]
        shape = tuple(len(d) for d in dims)
        if query.group_columns:
            exact = data.group_by(query.group_columns).agg(aggregates).collect()
            flat = pl.lit(0, dtype=pl.Int64)
            for column, values in zip(query.group_columns, dims, strict=True):
                index = pl.DataFrame({column: values, f"_i.{column}": range(len(values))})
                exact = exact.join(index, on=column, how="inner")  # keys outside the public list drop
                flat = flat * len(values) + pl.col(f"_i.{column}")
            exact = exact.with_columns(flat.alias("_flat"))
        else:
            exact = data.select(aggregates).collect().with_columns(pl.lit(0).alias("_flat"))
        size = int(np.prod(shape))
        counts = np.zeros(size)
        counts[exact["_flat"].to_numpy()] = exact[COUNT].to_numpy()
        table = Table.from_interior(counts.reshape(shape))
        protection = protect(table, self.policy.min_cell)
        hidden = protection.primary | protection.secondary
        released = table.values
        if self.policy.round_to is not None:
            released = round_counts(released, self.policy.round_to, self.policy.min_cell)
        rounding_error = 0.0
        if self.policy.round_to is not None:
            base = self.policy.round_to
            rounding_error = max(base / 2, -(-self.policy.min_cell // base) * base - self.policy.min_cell)

        frame: dict[str, list[object]] = {
            c: [None if i is None else d[i] for i in (cell[k] for cell in table.cells)]
            for k, (c, d) in enumerate(zip(query.group_columns, dims, strict=True))
        }
        frame[COUNT] = [None if h else int(v) for v, h in zip(released, hidden, strict=True)]
        frame[accuracy_column(COUNT)] = [rounding_error] * len(table.cells)
        interior = np.arange(len(table.cells)) < size
        for measure in query.measures:
            if measure.kind == MeasureKind.count:
                continue
            s = query.sum_for(measure)
            sums = np.zeros(size)
            sums[exact["_flat"].to_numpy()] = exact[s.column].to_numpy()
            frame[measure.name] = [
                _sdc_value(measure, sums[i], counts[i]) if interior[i] and not hidden[i] else None
                for i in range(len(table.cells))
            ]
            frame[accuracy_column(measure.name)] = [0.0] * len(table.cells)
        frame["suppressed_primary"] = protection.primary.tolist()
        frame["suppressed_secondary"] = protection.secondary.tolist()
        frame["margin"] = (~interior).tolist()
        schema = {c: query.keys.schema[c] for c in query.group_columns}
        return pl.DataFrame(frame, schema_overrides=schema, strict=False)

    def _result(
        self, query: CompiledQuery, table: pl.DataFrame, epsilon: float, notes: list[str]
    ) -> QueryResult:
        plan = query.area_plan
        if plan is not None:
            table = table.join(plan.keys, on=AREA, how="left", maintain_order="left").with_columns(
                (pl.col(AREA_LEVEL) != plan.requested.value).fill_null(False).alias("coarsened")
            )
            coarsened = len(plan.mapping)
            if coarsened:
                used = ", ".join(level.value for level in plan.levels_used)
                notes.append(
                    f"{coarsened} {plan.requested.value} area(s) have a public population below "
                    f"{self.policy.coarsen_below} and were released at a coarser level (levels used: {used})."
                )
        else:
            table = table.with_columns(pl.lit(False).alias("coarsened"))
            coarsened = 0
        if "margin" not in table.columns:
            table = table.with_columns(pl.lit(False).alias("margin"))
        measures = self._measure_columns(query)
        leading = [*query.group_columns, *([AREA_LEVEL] if plan is not None else []), "margin"]
        values = [c for m in measures for c in (m, accuracy_column(m))]
        table = table.select(*leading, *values, "suppressed_primary", "suppressed_secondary", "coarsened")
        return QueryResult(
            mode=query.mode,
            table=table,
            group_columns=query.group_columns,
            measure_columns=measures,
            epsilon_spent=epsilon,
            geography_requested=plan.requested if plan else None,
            geography_levels_used=plan.levels_used if plan else [],
            coarsened_areas=coarsened,
            min_cell=self.policy.min_cell,
            round_to=self.policy.round_to,
            warnings=notes,
        )


def _sdc_value(measure: Measure, total: float, count: float) -> float:
    return float(total) if measure.kind == MeasureKind.sum else float(total / count)
