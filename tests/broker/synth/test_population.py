"""School stages follow the 1 March cut-off; households have siblings and twins."""

from __future__ import annotations

import datetime as dt

from broker.synth.geography import build_geography
from broker.synth.population import Populator, p1_year, stage_for


def test_p1_cohort_runs_from_1_march_to_end_of_february() -> None:
    # The 2024 P1 intake: born 1 March 2019 to 29 February 2020.
    assert p1_year(dt.date(2019, 3, 1)) == 2024
    assert p1_year(dt.date(2020, 2, 29)) == 2024
    assert p1_year(dt.date(2019, 2, 28)) == 2023
    assert stage_for(dt.date(2019, 3, 1), deferred=False) == "P1"
    assert stage_for(dt.date(2019, 2, 28), deferred=False) == "P2"
    assert stage_for(dt.date(2020, 2, 1), deferred=True) == ""  # deferred: still at nursery
    assert stage_for(dt.date(2012, 6, 1), deferred=False) == "S1"
    assert stage_for(dt.date(2007, 9, 1), deferred=False) == "S6"
    assert stage_for(dt.date(2021, 1, 1), deferred=False) == ""


def test_households_fill_zones_with_siblings_and_some_twins() -> None:
    geography = build_geography(20_000)
    populator = Populator(1, geography)
    households = [h for zone in geography.zones for h in populator.households(zone)]
    for zone in geography.zones[:20]:
        held = sum(len(h.children) for h in households if h.zone is zone)
        assert zone.population_0_17 <= held <= zone.population_0_17 + 4
    sizes = [len(h.children) for h in households]
    assert 1 in sizes and 3 in sizes and max(sizes) <= 4
    twins = [h for h in households if len({c.dob for c in h.children}) < len(h.children)]
    assert 0.002 < len(twins) / len(households) < 0.04
    children = [c for h in households for c in h.children]
    assert len({c.id for c in children}) == len(children)
    assert len({c.chi for c in children}) == len(children)
    pupils = [c for c in children if c.scn]
    assert len({c.scn for c in pupils}) == len(pupils)
    same_surname = sum(c.surname == c.household.surname for c in children) / len(children)
    assert 0.9 < same_surname < 1.0


def test_rural_zones_have_different_children_with_the_same_name() -> None:
    geography = build_geography(20_000)
    populator = Populator(2, geography)
    clashes = 0
    for zone in geography.zones:
        children = [c for h in populator.households(zone) for c in h.children]
        if zone.rural:
            names = [(c.forename, c.surname) for c in children]
            clashes += len(names) - len(set(names))
    assert clashes >= 5
