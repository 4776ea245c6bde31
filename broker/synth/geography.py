"""Synthetic Scottish geography: the 32 real council areas, with invented data zones, intermediate zones,
postcodes and schools inside them.

The geography depends only on the number of children, not on the master seed. It stands for the public
world: NRS lookups and school lists do not change when a different set of synthetic people is drawn.
Urban data zones hold about 140 children each, as real ones do (a mean of 784 residents). Rural zones
hold far fewer, and every council has at least two zones. `population_0_17` is the zone's public
denominator, and the population generator fills each zone to it.
"""

from __future__ import annotations

import csv
import itertools
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from statistics import NormalDist

import polars as pl

from broker.synth.streams import stream

GEOGRAPHY_SEED = 2011
"""Fixed seed of the public geography (the year of the data zones the real SIMD still uses)."""

LOOKUP_COLUMNS = (
    "data_zone",
    "intermediate_zone",
    "council_code",
    "council_name",
    "population_0_17",
    "simd_decile",
    "urban_rural",
)
LOOKUP_SCHEMA = {
    "data_zone": pl.String,
    "intermediate_zone": pl.String,
    "council_code": pl.String,
    "council_name": pl.String,
    "population_0_17": pl.Int64,
    "simd_decile": pl.Int64,
    "urban_rural": pl.Int64,
}

# Probability of each 8-fold urban-rural class (1 large urban ... 8 very remote rural) per council profile.
_URBAN_RURAL_PROFILES: dict[str, tuple[float, ...]] = {
    "large_urban": (1.0, 0, 0, 0, 0, 0, 0, 0),
    "city": (0.93, 0.02, 0, 0, 0, 0.05, 0, 0),
    "urban": (0, 0.80, 0.10, 0, 0, 0.10, 0, 0),
    "mixed": (0, 0.55, 0.15, 0.03, 0, 0.22, 0.05, 0),
    "rural": (0, 0.30, 0.15, 0.08, 0.02, 0.25, 0.12, 0.08),
    "remote": (0, 0.25, 0.05, 0.10, 0.08, 0.12, 0.15, 0.25),
    "islands": (0, 0, 0, 0, 0.20, 0, 0.15, 0.65),
}
# Mean and spread of children per zone by urban-rural class: rural zones have few children.
_CHILDREN_BY_CLASS: dict[int, tuple[float, float]] = {
    1: (140, 30),
    2: (140, 30),
    3: (125, 30),
    4: (120, 30),
    5: (110, 30),
    6: (100, 30),
    7: (70, 25),
    8: (45, 20),
}
# Postcode inward-unit letters (C, I, K, M, O and V are never used).
_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_UNITS = tuple(a + b for a in _UNIT_LETTERS for b in _UNIT_LETTERS)
_ZONES_PER_SECTOR = 3
_MAX_UNITS_PER_ZONE = len(_UNITS) // _ZONES_PER_SECTOR

_PLACE_HEADS = (
    "Aber", "Auchen", "Bal", "Ben", "Craig", "Dal", "Drum", "Dun", "Glen", "Inver",
    "Kil", "Kin", "Loch", "Strath", "Tulli", "Pit", "Cam", "Ard", "Carn", "Fin",
)  # fmt: skip
_PLACE_TAILS = (
    "more", "burn", "brae", "field", "hill", "side", "ton", "bank", "muir", "haven",
    "lea", "wood", "gask", "lochy", "dale", "row", "mount", "shiels",
)  # fmt: skip


@dataclass(frozen=True)
class Council:
    """One of the 32 real council areas, with the approximate figures that shape its synthetic zones."""

    code: str
    name: str
    postcode_area: str
    children_weight: float
    profile: str
    deprived_share: float
    lat: float
    lon: float


@dataclass(frozen=True)
class School:
    code: str
    name: str
    kind: str  # primary | secondary | special
    council_code: str
    data_zone: str


@dataclass
class DataZone:
    code: str
    council: Council
    urban_rural: int
    population_0_17: int
    deprivation: float
    intermediate_zone: str = ""
    simd_decile: int = 0
    postcodes: tuple[str, ...] = ()
    primary: str = ""
    secondary: str = ""

    @property
    def rural(self) -> bool:
        return self.urban_rural >= 6


@dataclass
class Geography:
    councils: tuple[Council, ...]
    zones: tuple[DataZone, ...]
    schools: tuple[School, ...]
    zones_by_council: dict[str, tuple[DataZone, ...]] = field(default_factory=dict)
    special_school: dict[str, str] = field(default_factory=dict)

    def lookup_rows(self) -> list[dict[str, object]]:
        """The public lookup, one row per data zone, in `LOOKUP_COLUMNS` order."""
        return [
            {
                "data_zone": z.code,
                "intermediate_zone": z.intermediate_zone,
                "council_code": z.council.code,
                "council_name": z.council.name,
                "population_0_17": z.population_0_17,
                "simd_decile": z.simd_decile,
                "urban_rural": z.urban_rural,
            }
            for z in self.zones
        ]


def load_councils() -> tuple[Council, ...]:
    """The 32 councils typed into ``data/councils.csv`` (codes and names under the OGL v3)."""
    text = resources.files("broker.synth").joinpath("data/councils.csv").read_text(encoding="utf-8")
    return tuple(
        Council(
            code=row["council_code"],
            name=row["council_name"],
            postcode_area=row["postcode_area"],
            children_weight=float(row["children_weight"]),
            profile=row["profile"],
            deprived_share=float(row["deprived_share"]),
            lat=float(row["lat"]),
            lon=float(row["lon"]),
        )
        for row in csv.DictReader(text.splitlines())
    )


def build_geography(n_children: int) -> Geography:
    """Zones, intermediate zones, postcodes and schools for a population of about ``n_children``."""
    rng = stream(GEOGRAPHY_SEED, "geography")
    councils = load_councils()
    total_weight = sum(c.children_weight for c in councils)
    zones: list[DataZone] = []
    by_council: dict[str, list[DataZone]] = {}
    for council in councils:
        target = n_children * council.children_weight / total_weight
        council_zones = _council_zones(rng, council, target, start=len(zones))
        by_council[council.code] = council_zones
        zones.extend(council_zones)
    _assign_deciles(zones)
    _assign_intermediate_zones(rng, by_council)
    _assign_postcodes(councils, by_council)
    schools, special = _assign_schools(rng, by_council)
    return Geography(
        councils=councils,
        zones=tuple(zones),
        schools=tuple(schools),
        zones_by_council={code: tuple(zs) for code, zs in by_council.items()},
        special_school=special,
    )


def _council_zones(rng: random.Random, council: Council, target: float, start: int) -> list[DataZone]:
    profile = _URBAN_RURAL_PROFILES[council.profile]
    expected = sum(p * _CHILDREN_BY_CLASS[cls][0] for cls, p in enumerate(profile, start=1))
    n_zones = max(2, round(target / expected))
    classes = rng.choices(range(1, 9), weights=profile, k=n_zones)
    classes.sort()
    bases = []
    for cls in classes:
        mean, sd = _CHILDREN_BY_CLASS[cls]
        bases.append(max(mean / 4, rng.gauss(mean, sd)))
    scale = target / sum(bases)
    # Council mean deprivation chosen so that about `deprived_share` of its zones fall in the most
    # deprived national quintile; zone scores are normal around it. Rural zones score lower because SIMD
    # is weak at finding rural deprivation (households there get more individual spread instead).
    share = min(max(council.deprived_share, 0.003), 0.6)
    mean_score = NormalDist().inv_cdf(0.8) - NormalDist().inv_cdf(1 - share)
    return [
        DataZone(
            code=f"X01{start + i + 1:06d}",
            council=council,
            urban_rural=cls,
            population_0_17=max(1, round(base * scale)),
            deprivation=rng.gauss(mean_score, 1.0) - (0.4 if cls >= 6 else 0.0),
        )
        for i, (cls, base) in enumerate(zip(classes, bases, strict=True))
    ]


def _assign_deciles(zones: list[DataZone]) -> None:
    """National SIMD-like deciles by rank of the deprivation score (decile 1 = most deprived)."""
    ranked = sorted(zones, key=lambda z: (-z.deprivation, z.code))
    for rank, zone in enumerate(ranked):
        zone.simd_decile = 1 + rank * 10 // len(ranked)


def _assign_intermediate_zones(rng: random.Random, by_council: dict[str, list[DataZone]]) -> None:
    """Groups of 4-8 similar data zones (same rurality, similar deprivation) within each council."""
    counter = itertools.count(1)
    for council_zones in by_council.values():
        ordered = sorted(council_zones, key=lambda z: (z.urban_rural, z.simd_decile, z.code))
        groups: list[list[DataZone]] = []
        i = 0
        while i < len(ordered):
            size = rng.randint(4, 8)
            group = ordered[i : i + size]
            if len(group) < 4 and groups:
                groups[-1].extend(group)
            else:
                groups.append(group)
            i += size
        for group in groups:
            code = f"X02{next(counter):06d}"
            for zone in group:
                zone.intermediate_zone = code


def _assign_postcodes(councils: tuple[Council, ...], by_council: dict[str, list[DataZone]]) -> None:
    """Unique postcodes per zone. Up to three zones share a postcode sector, and ten sectors make a district.

    The units of the zones that share a sector are disjoint slices of one shuffled list.
    """
    per_area: dict[str, int] = {}
    for council in councils:
        for zone in by_council[council.code]:
            k = per_area.get(council.postcode_area, 0)
            per_area[council.postcode_area] = k + 1
            slot, part = divmod(k, _ZONES_PER_SECTOR)
            district, sector = divmod(slot, 10)
            units = list(_UNITS)
            stream(GEOGRAPHY_SEED, f"postcodes:{council.postcode_area}:{slot}").shuffle(units)
            n_units = min(_MAX_UNITS_PER_ZONE, max(2, round(zone.population_0_17 / 6)))
            chosen = units[part * _MAX_UNITS_PER_ZONE : part * _MAX_UNITS_PER_ZONE + n_units]
            outward = f"{council.postcode_area}{district + 1}"
            zone.postcodes = tuple(sorted(f"{outward} {sector}{unit}" for unit in chosen))


def _place_name(rng: random.Random) -> str:
    return rng.choice(_PLACE_HEADS) + rng.choice(_PLACE_TAILS)


def _assign_schools(
    rng: random.Random, by_council: dict[str, list[DataZone]]
) -> tuple[list[School], dict[str, str]]:
    """Urban primaries serve 3-6 zones (about 150-350 pupils), rural ones 1-2 zones (5-40 pupils); a
    secondary serves 1-3 intermediate zones; one special school per council."""
    schools: list[School] = []
    special: dict[str, str] = {}
    codes = itertools.count(100001)

    def new_school(kind: str, suffix: str, council_code: str, zone: DataZone) -> str:
        code = f"X{next(codes)}"
        schools.append(School(code, f"{_place_name(rng)} {suffix}", kind, council_code, zone.code))
        return code

    for council_code, council_zones in by_council.items():
        by_iz: dict[str, list[DataZone]] = {}
        for zone in council_zones:
            by_iz.setdefault(zone.intermediate_zone, []).append(zone)
        for iz_zones in by_iz.values():
            i = 0
            while i < len(iz_zones):
                size = rng.randint(1, 2) if iz_zones[i].rural else rng.randint(3, 6)
                group = iz_zones[i : i + size]
                code = new_school("primary", "Primary School", council_code, group[0])
                for zone in group:
                    zone.primary = code
                i += size
        iz_groups = list(by_iz.values())
        i = 0
        while i < len(iz_groups):
            size = rng.randint(1, 3)
            members = [z for group in iz_groups[i : i + size] for z in group]
            suffix = rng.choice(("Academy", "High School"))
            code = new_school("secondary", suffix, council_code, members[0])
            for zone in members:
                zone.secondary = code
            i += size
        special[council_code] = new_school("special", "School", council_code, council_zones[0])
    return schools, special


def load_lookup(path: Path | None = None) -> pl.DataFrame:
    """The public data-zone lookup: a generated ``geography.csv``, or the demo lookup shipped in the package.

    Group keys and coarsening decisions in the broker come from this table, never from the private data.
    """
    if path is None:
        source = resources.files("broker.synth").joinpath("data/geography_demo.csv").read_bytes()
        return pl.read_csv(source, schema=LOOKUP_SCHEMA)
    return pl.read_csv(path, schema=LOOKUP_SCHEMA)
