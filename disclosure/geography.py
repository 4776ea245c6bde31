"""Public geography lookup and coarsening decided from public population denominators only.

Coarsening keeps a nested partition: when any data zone of an intermediate zone is below the threshold
the whole intermediate zone is released as one area (and likewise intermediate zones into councils), so
a table never holds an area together with a part of it that could be subtracted.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from dataclasses import dataclass

import polars as pl

from disclosure.errors import QueryRejected
from disclosure.spec import GeographyLevel

LEVELS = list(GeographyLevel)
_COLUMNS = [level.value for level in LEVELS]


@dataclass(frozen=True)
class AreaPlan:
    """How each area of the requested level is released: ``mapping`` sends coarsened codes to their parent."""

    requested: GeographyLevel
    mapping: dict[str, str]
    keys: pl.DataFrame  # columns: area (str), area_level (str): the public release areas

    @property
    def levels_used(self) -> list[GeographyLevel]:
        used = set(self.keys["area_level"].unique().to_list())
        return [level for level in LEVELS if level.value in used]


class GeographyLookup:
    """The public data zone -> intermediate zone -> council lookup with a population per data zone."""

    def __init__(self, frame: pl.DataFrame) -> None:
        missing = {*_COLUMNS, "population"} - set(frame.columns)
        if missing:
            raise ValueError(f"geography lookup lacks columns {sorted(missing)}")
        frame = frame.select(
            *(pl.col(c).cast(pl.String) for c in _COLUMNS), pl.col("population").cast(pl.Int64)
        )
        if frame.null_count().sum_horizontal().item() or frame["data_zone"].n_unique() != frame.height:
            raise ValueError("geography lookup needs one complete row per data zone")
        for child, parent in itertools.pairwise(_COLUMNS):
            if frame.group_by(child).agg(pl.col(parent).n_unique()).get_column(parent).max() != 1:
                raise ValueError(f"every {child} must sit in exactly one {parent}")
        self.frame = frame
        self._plans: dict[Hashable, AreaPlan] = {}

    def codes(self, level: GeographyLevel) -> set[str]:
        return set(self.frame[level.value].to_list())

    def populations(self, level: GeographyLevel) -> pl.DataFrame:
        return self.frame.group_by(level.value).agg(pl.col("population").sum())

    def plan(
        self,
        requested: GeographyLevel,
        threshold: int,
        restrict: dict[GeographyLevel, set[str]] | None = None,
    ) -> AreaPlan:
        """Release areas for ``requested``, rolled up wherever a public population is below ``threshold``.

        Plans are pure functions of public inputs, so they are memoised (queries repeat them).
        """
        restrict = restrict or {}
        key = (requested, threshold, tuple(sorted((lv, tuple(sorted(c))) for lv, c in restrict.items())))
        if key not in self._plans:
            self._plans[key] = self._plan(requested, threshold, restrict)
        return self._plans[key]

    def _plan(
        self, requested: GeographyLevel, threshold: int, restrict: dict[GeographyLevel, set[str]]
    ) -> AreaPlan:
        frame = self.frame
        for level, codes in restrict.items():
            frame = frame.filter(pl.col(level.value).is_in(sorted(codes)))
        if frame.is_empty():
            raise QueryRejected("the geography filter selects no public area")
        # release[c] is the area each requested-level code is released as, with its level
        area = pl.col(requested.value)
        area_level = pl.lit(requested.value)
        for child, parent in zip(LEVELS[requested.rank :], LEVELS[requested.rank + 1 :], strict=False):
            small_parents = (
                self.frame.group_by(child.value)
                .agg(pl.col("population").sum(), pl.col(parent.value).first())
                .filter(pl.col("population") < threshold)[parent.value]
                .unique()
                .to_list()
            )
            rolled = pl.col(parent.value).is_in(small_parents)
            area = pl.when(rolled).then(pl.col(parent.value)).otherwise(area)
            area_level = pl.when(rolled).then(pl.lit(parent.value)).otherwise(area_level)
        released = frame.select(
            pl.col(requested.value).alias("code"), area.alias("area"), area_level.alias("area_level")
        ).unique()
        coarsened = released.filter(pl.col("area_level") != requested.value)
        keys = released.select("area", "area_level").unique().sort("area_level", "area")
        return AreaPlan(
            requested=requested,
            mapping=dict(zip(coarsened["code"].to_list(), coarsened["area"].to_list(), strict=True)),
            keys=keys,
        )
