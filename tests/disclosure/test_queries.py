"""Query compilation (refusals from public metadata only), coarsening, sdc tables and CSV rendering."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from disclosure import (
    DisclosurePolicy,
    FieldSpec,
    FrameSet,
    GeographyLevel,
    Measure,
    QueryEngine,
    QueryRejected,
    QuerySpec,
)
from disclosure.result import safe_text


def q(**kw: Any) -> QuerySpec:
    return QuerySpec.model_validate({"datasets": ["education"], "epsilon": 0.5} | kw)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (q(epsilon=None), "must state epsilon"),
        (q(epsilon=5.0), "per-query cap"),
        (q(mode="sdc"), "allows mode dp only"),
        (q(datasets=["police"]), "unknown dataset"),
        (q(group_by=["health.flag"]), "not in the query's datasets"),
        (q(group_by=["education.attendance"]), "not a declared categorical"),
        (q(group_by=["education.data_zone"]), "not a declared categorical"),
        (q(measures=[{"kind": "sum", "field": "education.stage"}]), "not a declared numeric"),
        (q(filters=[{"field": "education.fsm", "op": "eq", "value": "yes"}]), "not of the field's type"),
        (q(filters=[{"field": "education.stage", "op": "lt", "value": "P4"}]), "must use eq, ne or in"),
        (q(filters=[{"field": "council", "op": "eq", "value": "nowhere"}]), "not public codes"),
        (
            q(filters=[{"field": "education.data_zone", "op": "eq", "value": "x"}]),
            "through its public levels",
        ),
        (
            q(
                measures=[
                    {"kind": "sum", "field": "education.attendance"},
                    {"kind": "mean", "field": "education.attendance", "bounds": [0.0, 0.5]},
                ]
            ),
            "one set of bounds",
        ),
    ],
)
def test_refusals_are_decided_from_public_metadata(
    dp_engine: QueryEngine, query: QuerySpec, reason: str
) -> None:
    before = dp_engine.frames.opendp_privacy_loss()
    with pytest.raises(QueryRejected, match=reason):
        dp_engine.run(query, lambda eps: pytest.fail("reserve must not be called"))
    assert dp_engine.frames.opendp_privacy_loss() == before


def test_malformed_specs_fail_validation() -> None:
    with pytest.raises(ValidationError):
        QuerySpec.model_validate({"datasets": []})
    with pytest.raises(ValidationError):
        Measure(kind="count", field="education.attendance")
    with pytest.raises(ValidationError):
        QuerySpec.model_validate(
            {"datasets": ["education"], "filters": [{"field": "x", "op": "in", "value": 1}]}
        )
    with pytest.raises(ValidationError):
        FieldSpec(kind="numeric", dtype="float", lower=1.0, upper=0.0)


def test_min_geography_is_enforced(frames: FrameSet) -> None:
    engine = QueryEngine(frames, DisclosurePolicy(min_geography=GeographyLevel.intermediate_zone))
    with pytest.raises(QueryRejected, match="no finer than intermediate_zone"):
        engine.compile(q(geography="data_zone"))


def test_coarsening_uses_public_denominators_only(synth: Any) -> None:
    geography = synth.geography()
    policy = DisclosurePolicy(coarsen_below=100)
    plans = []
    for seed, n in ((1, 50), (2, 3_000)):  # very different private data, an equal public lookup
        lookup = synth.geography()  # a fresh lookup object: no memoised plan is shared
        engine = QueryEngine(FrameSet(synth.catalogue, synth.frames(lookup, n=n, seed=seed), lookup), policy)
        plans.append(engine.compile(q(geography="data_zone")).area_plan)
    plan, other = plans
    assert plan is not None and other is not None and plan is not other
    assert plan.mapping == other.mapping and plan.keys.equals(other.keys)
    small = set(geography.frame.filter(pl.col("population") < 100)["intermediate_zone"].to_list())
    assert set(plan.mapping.values()) == small  # every data zone of those zones rolls up, nothing else
    assert {GeographyLevel.data_zone, GeographyLevel.intermediate_zone} == set(plan.levels_used)


def test_coarsened_cells_are_flagged_and_explained(dp_engine: QueryEngine, frames: FrameSet) -> None:
    engine = QueryEngine(frames, dp_engine.policy.model_copy(update={"coarsen_below": 100}))
    result = engine.run(q(geography="data_zone"), lambda eps: None)
    coarse = result.table.filter(pl.col("coarsened"))
    assert coarse.height > 0 and (coarse["area_level"] == "intermediate_zone").all()
    assert result.coarsened_areas == 5 * 4 and any("coarser level" in w for w in result.warnings)
    # a nested partition: no released area contains another
    assert not set(coarse["area"].to_list()) & set(
        result.table.filter(~pl.col("coarsened"))["area"].to_list()
    )


def test_sdc_table_with_margins_suppression_and_rounding(frames: FrameSet) -> None:
    engine = QueryEngine(frames, DisclosurePolicy(mode="sdc", min_cell=10, round_to=5))
    result = engine.run(
        q(epsilon=None, geography="council", group_by=["education.stage"], measures=[{"kind": "count"}]),
        lambda eps: pytest.fail("sdc charges no epsilon"),
    )
    table = result.table
    assert result.epsilon_spent == 0.0
    assert table.height == 3 * 3 + 3 + 3 + 1
    released = table.filter(pl.col("count").is_not_null())
    assert (released["count"] % 5 == 0).all() and (released["count"] >= 10).all()
    total = table.filter(pl.col("area").is_null() & pl.col("education.stage").is_null())
    assert total["margin"].to_list() == [True]
    exact_total = frames.frame.height
    assert abs(total["count"][0] - exact_total) <= 2.5


def test_sdc_suppression_in_a_sparse_table(frames: FrameSet) -> None:
    engine = QueryEngine(frames, DisclosurePolicy(mode="sdc", min_cell=5))
    query = q(
        epsilon=None,
        datasets=["education", "health"],
        geography="data_zone",
        filters=[{"field": "education.stage", "op": "eq", "value": "P1"}],
        group_by=["health.flag"],
        measures=[{"kind": "mean", "field": "health.visits"}],
    )
    table = engine.run(query, lambda eps: None).table
    withheld = table.filter(pl.col("suppressed_primary") | pl.col("suppressed_secondary"))
    assert withheld.height > 0 and withheld["count"].null_count() == withheld.height
    assert table["suppressed_secondary"].any()
    assert table["suppressed_secondary"].any()
    assert withheld["mean:health.visits"].null_count() == withheld.height
    assert (table["count"].drop_nulls() >= 5).all()


def test_sdc_refuses_tables_too_large_for_the_audit(frames: FrameSet) -> None:
    engine = QueryEngine(frames, DisclosurePolicy(mode="sdc", max_sdc_cells=50))
    with pytest.raises(QueryRejected, match="limited to 50 cells"):
        engine.compile(q(epsilon=None, geography="data_zone", group_by=["education.stage"]))


def test_csv_is_safe_against_formula_injection(synth: Any) -> None:
    assert safe_text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_text("@SUM(A1)") == "'@SUM(A1)" and safe_text("S12000001") == "S12000001"
    geography = synth.geography(1, 1, 2)
    catalogue = synth.catalogue.model_copy(
        update={
            "datasets": {
                **synth.catalogue.datasets,
                "education": {
                    **synth.catalogue.datasets["education"],
                    "stage": FieldSpec(kind="categorical", dtype="string", categories=("=cmd()", "+1", "P4")),
                },
            }
        }
    )
    frames = synth.frames(geography, n=100)
    frames["education"] = frames["education"].with_columns(pl.lit("P4").alias("stage"))
    engine = QueryEngine(FrameSet(catalogue, frames, geography), DisclosurePolicy())
    text = engine.run(q(group_by=["education.stage"]), lambda eps: None).to_csv()
    lines = text.splitlines()
    assert lines[0].startswith("education.stage,margin,count,count.accuracy95")
    assert not any(cell.startswith(("=", "+", "@")) for line in lines for cell in line.split(","))
    assert "'=cmd()" in text and "'+1" in text
