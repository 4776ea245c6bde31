"""The public geography: real councils, invented zones, sensible deciles, postcodes and schools."""

from __future__ import annotations

import re
from collections import Counter

import polars as pl
import pytest

from broker.synth.generator import PRESETS
from broker.synth.geography import LOOKUP_COLUMNS, Geography, build_geography, load_councils, load_lookup
from pseudonymise.normalise import normalise_postcode

# A few real codes checked against the research note's table.
KNOWN = {
    "S12000049": "Glasgow City",
    "S12000047": "Fife",
    "S12000013": "Na h-Eileanan Siar",
    "S12000050": "North Lanarkshire",
}


def test_thirty_two_real_councils() -> None:
    councils = load_councils()
    assert len(councils) == 32
    assert len({c.code for c in councils}) == 32
    assert all(re.fullmatch(r"S12000\d{3}", c.code) for c in councils)
    by_code = {c.code: c.name for c in councils}
    assert all(by_code[code] == name for code, name in KNOWN.items())


@pytest.fixture(scope="module")
def demo_geography() -> Geography:
    return build_geography(PRESETS["demo"].n_children)


def test_zone_codes_are_not_real_and_nest(demo_geography: Geography) -> None:
    zones = demo_geography.zones
    assert all(re.fullmatch(r"X01\d{6}", z.code) for z in zones)
    assert all(re.fullmatch(r"X02\d{6}", z.intermediate_zone) for z in zones)
    councils_of_iz: dict[str, set[str]] = {}
    for z in zones:
        councils_of_iz.setdefault(z.intermediate_zone, set()).add(z.council.code)
    assert all(len(c) == 1 for c in councils_of_iz.values()), "an intermediate zone crosses councils"
    sizes = Counter(z.intermediate_zone for z in zones)
    big_enough = [n for n in sizes.values() if n >= 4]
    assert len(big_enough) >= 0.9 * len(sizes)
    assert {z.council.code for z in zones} == {c.code for c in demo_geography.councils}


def test_population_matches_the_preset_and_rural_zones_are_small(demo_geography: Geography) -> None:
    zones = demo_geography.zones
    assert abs(sum(z.population_0_17 for z in zones) - 50_000) < 500
    urban = [z.population_0_17 for z in zones if z.urban_rural <= 2]
    very_remote = [z.population_0_17 for z in zones if z.urban_rural == 8]
    assert very_remote and sum(very_remote) / len(very_remote) < 0.75 * sum(urban) / len(urban)


def test_deciles_are_national_and_skewed_by_council(demo_geography: Geography) -> None:
    zones = demo_geography.zones
    counts = Counter(z.simd_decile for z in zones)
    assert set(counts) == set(range(1, 11))
    assert max(counts.values()) - min(counts.values()) <= 1

    def deprived_share(*codes: str) -> float:
        chosen = [z for z in zones if z.council.code in codes]
        return sum(z.simd_decile <= 2 for z in chosen) / len(chosen)

    west = deprived_share("S12000049", "S12000018", "S12000039")  # Glasgow, Inverclyde, West Dunbartonshire
    calm = deprived_share(
        "S12000034", "S12000045", "S12000011", "S12000026"
    )  # Aberdeenshire, E Dunb, E Renf, Borders
    assert west > 0.3 and calm < 0.1


def test_urban_rural_profiles(demo_geography: Geography) -> None:
    by_council = demo_geography.zones_by_council
    assert {z.urban_rural for z in by_council["S12000049"]} == {1}  # Glasgow all large urban
    islands = [z for code in ("S12000013", "S12000023", "S12000027") for z in by_council[code]]
    assert all(z.urban_rural >= 5 for z in islands)


def test_postcodes_are_unique_valid_and_in_the_council_area(demo_geography: Geography) -> None:
    seen: set[str] = set()
    for zone in demo_geography.zones:
        assert zone.postcodes
        for pc in zone.postcodes:
            assert normalise_postcode(pc) == pc
            assert pc.startswith(zone.council.postcode_area)
            assert pc not in seen
            seen.add(pc)


def test_every_zone_has_a_primary_and_a_secondary_of_its_council(demo_geography: Geography) -> None:
    schools = {s.code: s for s in demo_geography.schools}
    for zone in demo_geography.zones:
        for code, kind in ((zone.primary, "primary"), (zone.secondary, "secondary")):
            assert schools[code].kind == kind
            assert schools[code].council_code == zone.council.code
    assert set(demo_geography.special_school) == {c.code for c in demo_geography.councils}


def test_shipped_lookup_is_the_demo_geography(demo_geography: Geography) -> None:
    shipped = load_lookup()
    assert shipped.columns == list(LOOKUP_COLUMNS)
    assert shipped.to_dicts() == demo_geography.lookup_rows()
    assert shipped.schema["population_0_17"] == pl.Int64


def test_geography_does_not_depend_on_anything_but_size() -> None:
    assert build_geography(2_000).lookup_rows() == build_geography(2_000).lookup_rows()
    assert len(build_geography(2_000).zones) < len(build_geography(20_000).zones)
