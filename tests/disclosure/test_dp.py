"""DP mode: public keys only, budget charged before noise and exactly as OpenDP accounts, attacks blunted."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import opendp.prelude as dp
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure import (
    BudgetExceeded,
    Catalogue,
    DisclosurePolicy,
    Filter,
    FrameSet,
    GeographyLevel,
    GeographyLookup,
    Measure,
    QueryEngine,
    QuerySpec,
)
from disclosure.dp import MeasurementCache


def spec(**kw: object) -> QuerySpec:
    base: dict[str, object] = {"datasets": ["education"], "geography": "data_zone", "epsilon": 0.5}
    return QuerySpec.model_validate(base | kw)


def test_output_keys_are_exactly_the_public_keys(dp_engine: QueryEngine, geography: GeographyLookup) -> None:
    result = dp_engine.run(spec(group_by=["education.stage"]), lambda eps: None)
    areas = set(result.table["area"].to_list())
    assert areas == geography.codes(GeographyLevel.data_zone)
    assert set(result.table["education.stage"].to_list()) == {"P1", "P4", "S2"}
    assert result.table.height == len(areas) * 3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(0, 400), level=st.sampled_from(list(GeographyLevel)))
def test_keys_never_come_from_the_data(synth: Any, seed: int, n: int, level: GeographyLevel) -> None:
    geography = synth.geography(2, 2, 3)
    frames = synth.frames(geography, n=n, seed=seed)
    # data zones outside the public list must not surface as keys
    rogue = frames["education"].with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit("S01999999")).otherwise(pl.col("data_zone"))
    )
    engine = QueryEngine(
        FrameSet(synth.catalogue, {**frames, "education": rogue}, geography),
        DisclosurePolicy(min_cell=5, coarsen_below=100),
    )
    result = engine.run(spec(geography=level.value, group_by=["education.fsm"]), lambda eps: None)
    public = geography.codes(level) | geography.codes(GeographyLevel.intermediate_zone)
    public |= geography.codes(GeographyLevel.council)
    assert set(result.table["area"].to_list()) <= public
    assert "S01999999" not in result.to_csv()
    released = result.table.filter(~pl.col("suppressed_primary"))
    assert (released["count"] >= 5).all()  # no released cell below the threshold
    assert result.table.filter(pl.col("suppressed_primary"))["count"].null_count() == int(
        result.table["suppressed_primary"].sum()
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(epsilon=st.floats(0.01, 2.0), with_mean=st.booleans())
def test_charge_matches_opendp_accounting(frames: FrameSet, epsilon: float, with_mean: bool) -> None:
    engine = QueryEngine(frames, DisclosurePolicy(max_epsilon_per_query=2.0))
    measures = [Measure(kind="count")] + (
        [Measure(kind="mean", field="education.attendance")] if with_mean else []
    )
    query = spec(epsilon=epsilon, measures=measures, group_by=["education.fsm"])
    charged: list[float] = []
    before = frames.opendp_privacy_loss()
    result = engine.run(query, charged.append)
    prepared = engine.cache.prepare(frames, engine.compile(query))
    assert charged == [prepared.measurement.map(1)] == [result.epsilon_spent]
    assert charged[0] <= epsilon
    assert charged[0] == pytest.approx(epsilon, rel=1e-6)
    assert frames.opendp_privacy_loss() == pytest.approx(before + charged[0], rel=1e-12)


def test_reserve_is_called_before_noise_and_a_refusal_costs_nothing(dp_engine: QueryEngine) -> None:
    frames = dp_engine.frames
    before = frames.opendp_privacy_loss()

    def refuse(epsilon: float) -> None:
        raise BudgetExceeded("over budget")

    with pytest.raises(BudgetExceeded):
        dp_engine.run(spec(), refuse)
    assert frames.opendp_privacy_loss() == before  # OpenDP never ran the measurement


def test_repeated_queries_are_charged_each_time(dp_engine: QueryEngine) -> None:
    charged: list[float] = []
    results = [dp_engine.run(spec(epsilon=0.25), charged.append) for _ in range(4)]
    assert len(charged) == 4 and sum(charged) == pytest.approx(1.0)
    counts = [r.table["count"].to_list() for r in results]
    assert any(a != b for a, b in itertools.pairwise(counts))  # fresh noise, never free


def test_budget_ledger_refuses_once_spent(dp_engine: QueryEngine) -> None:
    spent: list[float] = []

    def reserve(epsilon: float) -> None:
        if sum(spent) + epsilon > 1.0 + 1e-9:
            raise BudgetExceeded("over budget")
        spent.append(epsilon)

    outcomes = []
    for eps in (0.4, 0.4, 0.4, 0.1):
        try:
            dp_engine.run(spec(epsilon=eps), reserve)
            outcomes.append(True)
        except BudgetExceeded:
            outcomes.append(False)
    assert outcomes == [True, True, False, True]  # a refusal leaves later small queries possible
    assert sum(spent) <= 1.0


def test_calibration_is_cached_per_template(frames: FrameSet) -> None:
    cache = MeasurementCache()
    engine = QueryEngine(frames, DisclosurePolicy(max_epsilon_per_query=2.0), cache)
    engine.cost(spec(epsilon=0.5))
    engine.cost(spec(epsilon=1.5))  # another epsilon: same template, no new plan
    engine.cost(spec(epsilon=0.5, filters=[Filter(field="education.fsm", op="eq", value=True)]))
    assert len(cache._plans) == 2
    assert len(cache._prepared) == 3


def test_accuracy_and_mean_bounds(dp_engine: QueryEngine) -> None:
    query = spec(
        geography="council", measures=[Measure(kind="mean", field="education.attendance")], epsilon=1.0
    )
    table = dp_engine.run(query, lambda eps: None).table
    summary = dp.summarize_polars_measurement(
        dp_engine.cache.prepare(dp_engine.frames, dp_engine.compile(query)).measurement
    )
    count_scale = summary.filter(pl.col("column") == "count")["scale"][0]
    assert table["count.accuracy95"].unique().to_list() == [
        pytest.approx(dp.discrete_laplacian_scale_to_accuracy(count_scale, 0.05))
    ]
    means = table["mean:education.attendance"].drop_nulls()
    assert ((means >= 0) & (means <= 1)).all()
    assert (table["mean:education.attendance.accuracy95"].drop_nulls() > 0).all()


def differencing_frames(catalogue: Catalogue) -> FrameSet:
    """The research demo: 60 children in one intermediate zone, data zone 3 small."""
    rng = np.random.default_rng(7)
    geography = GeographyLookup(
        pl.DataFrame(
            {
                "data_zone": ["DZ1", "DZ2", "DZ3"],
                "intermediate_zone": ["IZ1"] * 3,
                "council": ["C1"] * 3,
                "population": [300, 300, 300],
            }
        )
    )
    n = 60
    education = pl.DataFrame(
        {
            "subject": [f"c{i}" for i in range(n)],
            "data_zone": rng.choice(["DZ1", "DZ2", "DZ3"], n, p=[0.45, 0.45, 0.10]),
            "fsm": rng.random(n) < 0.2,
            "stage": ["P1"] * n,
            "attendance": [0.9] * n,
        }
    )
    health = pl.DataFrame({"subject": ["c0"], "visits": [1], "flag": [False]})
    return FrameSet(catalogue, {"education": education, "health": health}, geography)


def attack_queries(mode: str, epsilon: float | None) -> tuple[QuerySpec, QuerySpec]:
    fsm = Filter(field="education.fsm", op="eq", value=True)
    whole = QuerySpec(datasets=["education"], filters=[fsm], mode=mode, epsilon=epsilon)
    rest = QuerySpec(
        datasets=["education"],
        filters=[fsm, Filter(field="data_zone", op="in", value=["DZ1", "DZ2"])],
        mode=mode,
        epsilon=epsilon,
    )
    return whole, rest


def test_differencing_recovers_the_cell_under_sdc_but_not_under_dp(synth: Any) -> None:
    frames = differencing_frames(synth.catalogue)
    truth = frames.frame.filter(pl.col("education.fsm") & (pl.col("data_zone") == "DZ3")).height
    assert truth == 1  # the demo's suppressed cell

    sdc = QueryEngine(frames, DisclosurePolicy(mode="sdc", min_cell=5))
    whole, rest = attack_queries("sdc", None)
    a, b = sdc.run(whole, lambda eps: None), sdc.run(rest, lambda eps: None)
    assert a.table["count"][0] - b.table["count"][0] == truth  # why sdc results carry a warning
    assert any("differenced" in w for w in a.warnings)

    dp_engine = QueryEngine(frames, DisclosurePolicy(mode="dp", min_cell=1, max_epsilon_per_query=1.0))
    whole, rest = attack_queries("dp", 0.5)
    charged: list[float] = []
    trials = 40
    pairs = [
        (
            dp_engine.run(whole, charged.append).table["count"][0],
            dp_engine.run(rest, charged.append).table["count"][0],
        )
        for _ in range(trials)
    ]
    # a withheld count (noisy value below the threshold, rare here) tells the attacker nothing;
    # P(two discrete-Laplace draws of scale 2 cancel exactly) is ~0.13
    exact = sum(a is not None and b is not None and a - b == truth for a, b in pairs)
    assert exact < trials * 0.35
    assert len(charged) == 2 * trials and sum(charged) == pytest.approx(trials)
