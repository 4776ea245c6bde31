"""Differentially private release with OpenDP: plan per template, scale from a stored calibration.

Calibration is stored per query template. For pure-epsilon plans built with ``global_scale`` OpenDP's
privacy map is inversely proportional to the scale, so one map evaluation at scale 1 gives the constant;
every derived measurement is still checked with OpenDP's own ``map`` and falls back to OpenDP's binary
search if the check fails. Rebuilding a measurement from the stored constant takes milliseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from opendp.accuracy import summarize_polars_measurement
from opendp.extras.polars import dp_len
from opendp.measurements import make_private_lazyframe
from opendp.measures import max_divergence
from opendp.metrics import symmetric_distance
from opendp.mod import Measurement, binary_search_chain

from disclosure.frames import FrameSet
from disclosure.query import COUNT, CompiledQuery

ALPHA = 0.05
_SAFETY = 1 + 1e-9  # keeps rounding in the division on the safe side of the requested epsilon


@dataclass(frozen=True)
class Prepared:
    """A measurement ready to run, with what it costs (OpenDP's map) and its per-aggregate accuracy."""

    measurement: Measurement
    epsilon: float
    accuracy: dict[str, float]  # 95% half-width per aggregate column
    accuracy_975: dict[str, float]  # 97.5% half-widths, for the union bound on a mean


def _plan(frames: FrameSet, query: CompiledQuery) -> pl.LazyFrame:
    aggregates = [dp_len(signed=True).alias(COUNT)]
    for s in query.sums:
        column = pl.col(s.field)
        if s.integer:
            bounds: tuple[int, int] | tuple[float, float] = (int(s.lower), int(s.upper))
            column = column.fill_null(int(s.lower))
        else:
            bounds = (s.lower, s.upper)
            column = column.fill_nan(s.lower).fill_null(s.lower)
        aggregates.append(column.dp.sum(bounds).alias(s.column))  # type: ignore[attr-defined]
    plan = pl.LazyFrame(schema=frames.schema)
    if query.predicate is not None:
        plan = plan.filter(query.predicate)
    area = query.area_expr()
    if area is not None:
        plan = plan.with_columns(area)
    if not query.group_columns:
        return plan.select(aggregates)
    grouped = plan.group_by(query.group_columns).agg(aggregates)
    # public keys: every key comes back (noisy zeros included) and no key comes from the data
    return query.keys.lazy().join(grouped, how="left", on=query.group_columns, nulls_equal=True)


def _summary(measurement: Measurement, alpha: float) -> dict[str, float]:
    table = summarize_polars_measurement(measurement, alpha=alpha)
    return dict(zip(table["column"].to_list(), table["accuracy"].to_list(), strict=True))


class MeasurementCache:
    """Plans and calibration constants per template; measurements per (template, epsilon), LRU-bounded."""

    def __init__(self, max_measurements: int = 64) -> None:
        self._plans: dict[tuple[str, str], tuple[pl.LazyFrame, float]] = {}
        self._prepared: OrderedDict[tuple[str, str, float], Prepared] = OrderedDict()
        self._max = max_measurements
        self._lock = threading.Lock()

    def _make(self, frames: FrameSet, plan: pl.LazyFrame) -> Callable[[float], Measurement]:
        def make(scale: float) -> Measurement:
            return make_private_lazyframe(
                frames.domain, symmetric_distance(), max_divergence(), plan, global_scale=scale
            )

        return make

    def calibrated(self, frames: FrameSet, query: CompiledQuery) -> tuple[pl.LazyFrame, float]:
        """The plan and its constant c = epsilon x scale, computed once per template."""
        key = (frames.fingerprint, query.template)
        with self._lock:
            if key not in self._plans:
                plan = _plan(frames, query)
                self._plans[key] = (plan, float(self._make(frames, plan)(1.0).map(1)))
            return self._plans[key]

    def prepare(self, frames: FrameSet, query: CompiledQuery) -> Prepared:
        assert query.epsilon is not None
        key = (frames.fingerprint, query.template, query.epsilon)
        with self._lock:
            if key in self._prepared:
                self._prepared.move_to_end(key)
                return self._prepared[key]
        plan, constant = self.calibrated(frames, query)
        make = self._make(frames, plan)
        measurement = make(constant / query.epsilon * _SAFETY)
        if measurement.map(1) > query.epsilon:
            measurement = binary_search_chain(make, d_in=1, d_out=query.epsilon, T=float)
        prepared = Prepared(
            measurement=measurement,
            epsilon=float(measurement.map(1)),
            accuracy=_summary(measurement, ALPHA),
            accuracy_975=_summary(measurement, ALPHA / 2),
        )
        with self._lock:
            self._prepared[key] = prepared
            while len(self._prepared) > self._max:
                self._prepared.popitem(last=False)
        return prepared


def noisy_table(frames: FrameSet, query: CompiledQuery, prepared: Prepared) -> pl.DataFrame:
    """Draw the noise (the caller has already reserved the budget) and return the raw noisy table."""
    out = frames.release(prepared.measurement)
    return out.sort(query.group_columns) if query.group_columns else out
