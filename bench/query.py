"""Warm DP query latency over synthetic linked rows.

(a) ~160-cell query (council x SIMD quintile): ours end to end vs the same plain polars group-by.
(b) ~14,000-cell query (data zone x flag): ours end to end vs a bare cached OpenDP release of the same
    measurement on a long-lived odometer (OpenDP's exact-noise floor). Runs are interleaved; p50 reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import opendp.prelude as dp
import polars as pl

from disclosure import (
    Catalogue,
    DisclosurePolicy,
    FieldSpec,
    FrameSet,
    GeographyLookup,
    QueryEngine,
    QuerySpec,
)


def synthetic(rows: int, zones: int, seed: int = 0) -> tuple[pl.DataFrame, GeographyLookup]:
    rng = np.random.default_rng(seed)
    dz = np.array([f"S01{i:06d}" for i in range(zones)])
    iz_of = np.arange(zones) // 5
    lookup = GeographyLookup(
        pl.DataFrame(
            {
                "data_zone": dz,
                "intermediate_zone": [f"S02{i:06d}" for i in iz_of],
                "council": [f"S12{(i % 32):06d}" for i in iz_of],
                "population": rng.integers(100, 300, zones),
            }
        )
    )
    frame = pl.DataFrame(
        {
            "child_id": np.arange(rows).astype(str),
            "data_zone": dz[rng.integers(0, zones, rows)],
            "simd_quintile": rng.integers(1, 6, rows),
            "flag": rng.random(rows) < 0.25,
        }
    )
    return frame, lookup


def p50(fn: Callable[[], object], runs: list[float]) -> None:
    start = time.perf_counter()
    fn()
    runs.append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, zones, reps = (100_000, 3_500, 5) if args.quick else (1_000_000, 7_000, 15)

    frame, lookup = synthetic(rows, zones)
    catalogue = Catalogue(
        datasets={
            "linked": {
                "data_zone": FieldSpec(kind="geography", dtype="string"),
                "simd_quintile": FieldSpec(kind="categorical", dtype="int", categories=(1, 2, 3, 4, 5)),
                "flag": FieldSpec(kind="categorical", dtype="bool"),
            }
        },
        geography_fields=("linked.data_zone",),
        max_subjects=2 * rows,
    )
    start = time.perf_counter()
    frames = FrameSet(catalogue, {"linked": frame}, lookup, subject_column="child_id")
    load = time.perf_counter() - start
    engine = QueryEngine(frames, DisclosurePolicy(min_cell=5, max_epsilon_per_query=1.0))
    query_a = QuerySpec(
        datasets=["linked"], geography="council", group_by=["linked.simd_quintile"], epsilon=0.5
    )
    query_b = QuerySpec(datasets=["linked"], geography="data_zone", group_by=["linked.flag"], epsilon=0.5)

    def reserve(epsilon: float) -> None:
        """Stands in for the ledger: the bench measures the library, not the database."""

    start = time.perf_counter()
    cells_a = engine.run(query_a, reserve).table.height
    first_a = time.perf_counter() - start
    start = time.perf_counter()
    cells_b = engine.run(query_b, reserve).table.height
    first_b = time.perf_counter() - start

    plain = frames.frame.lazy()
    bare = dp.c.make_fully_adaptive_composition(frames.domain, dp.symmetric_distance(), dp.max_divergence())(
        plain
    )
    measurement_a = engine.cache.prepare(frames, engine.compile(query_a)).measurement
    measurement_b = engine.cache.prepare(frames, engine.compile(query_b)).measurement

    ours_a: list[float] = []
    base_a: list[float] = []
    bare_a: list[float] = []
    ours_b: list[float] = []
    base_b: list[float] = []
    for _ in range(reps):
        p50(lambda: engine.run(query_a, reserve), ours_a)
        p50(lambda: plain.group_by("council", "linked.simd_quintile").agg(pl.len()).collect(), base_a)
        p50(lambda: bare(measurement_a).collect(), bare_a)
        p50(lambda: engine.run(query_b, reserve), ours_b)
        p50(lambda: bare(measurement_b).collect(), base_b)
    a, ba, fa, b, bb = (statistics.median(x) for x in (ours_a, base_a, bare_a, ours_b, base_b))
    print(f"rows {rows:,}  load+validate+hand to OpenDP {load * 1e3:.0f} ms")
    print(f"(a) {cells_a} cells: ours p50 {a * 1e3:.1f} ms, plain polars p50 {ba * 1e3:.1f} ms")
    print(f"    bare cached OpenDP release of (a) p50 {fa * 1e3:.1f} ms")
    print(f"(b) {cells_b} cells: ours p50 {b * 1e3:.1f} ms, bare OpenDP p50 {bb * 1e3:.1f} ms")
    print(f"first (cold, incl. plan and calibration): (a) {first_a * 1e3:.0f} ms, (b) {first_b * 1e3:.0f} ms")
    print(
        json.dumps(
            {
                "bench": "query",
                "ratio": round(a / ba, 3),
                "baseline": "(a) plain polars group-by council x quintile on the same frame",
                "ratio_b": round(b / bb, 3),
                "baseline_b": "(b) bare cached OpenDP release of the same data zone x flag measurement",
                "rows": rows,
                "cells_a": cells_a,
                "cells_b": cells_b,
                "p50_ms_a": round(a * 1e3, 2),
                "p50_ms_plain_a": round(ba * 1e3, 2),
                "p50_ms_bare_a": round(fa * 1e3, 2),
                "p50_ms_b": round(b * 1e3, 2),
                "p50_ms_bare_b": round(bb * 1e3, 2),
                "first_ms_a": round(first_a * 1e3, 1),
                "first_ms_b": round(first_b * 1e3, 1),
                "load_ms": round(load * 1e3, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
