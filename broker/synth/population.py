"""Households and children: names, dates of birth, identifiers, school stages and moves.

Time is fixed. The simulated academic year runs from `YEAR_START` to `YEAR_END`, and every extract is a
snapshot on `REFERENCE_DATE` (the end of the social-work statistical year, 31 July). Nothing reads the
clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist

from broker.synth.geography import Council, DataZone, Geography
from broker.synth.identifiers import Allocator
from broker.synth.names import NamePicker
from broker.synth.streams import faker, stream

YEAR_START = dt.date(2024, 8, 19)
YEAR_END = dt.date(2025, 6, 27)
REFERENCE_DATE = dt.date(2025, 7, 31)
OLDEST_DOB = dt.date(2007, 8, 1)  # 17 at the reference date
STAGES = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "S1", "S2", "S3", "S4", "S5", "S6")

_CHILDREN_PER_HOUSEHOLD = ((1, 2, 3, 4), (42, 38, 14, 6))
_FAMILY_SPAN = dt.timedelta(days=8 * 365)
_TWIN_SHARE = 0.03  # of households with two or more children: about 1.5% of births are twins
_HALF_SIBLING_SHARE = 0.10
_LOCAL_SURNAMES = 4
_LOCAL_SURNAME_SHARE = 0.4
_BORN_OUTSIDE_SCOTLAND = 0.04  # carries an England NHS number
_SCHOOLED_IN_ENGLAND = 0.03  # carries an English UPN
_DEFER_JAN_FEB = 0.40  # unverified rates (research note §6.3)
_DEFER_SEP_DEC = 0.10
_STAY_ON = {"S5": 0.85, "S6": 0.60}
_MOVE_RATE = 0.035
_MOVE_RATE_HOMELESS = 0.45
_CROSS_COUNCIL_SHARE = 0.25
_CROSS_COUNCIL_SHARE_HOMELESS = 0.35


@dataclass(frozen=True)
class Move:
    """A mid-year move of the whole household to another zone, possibly in another council."""

    date: dt.date
    zone: DataZone
    postcode: str
    cross_council: bool


@dataclass
class Household:
    id: str
    zone: DataZone
    postcode: str
    surname: str
    deprivation: float  # latent z: higher is more deprived
    shock: float  # household-level adversity shared by siblings
    children: list[Child] = field(default_factory=list)
    benefits: bool = False
    scp_client: bool = False
    client_ref: str = ""
    parent_nino: str = ""
    homeless_date: dt.date | None = None
    temporary_accommodation: bool = False
    housing_support_date: dt.date | None = None
    move: Move | None = None

    def address_on(self, day: dt.date) -> tuple[DataZone, str]:
        """Where the household lived on ``day``."""
        if self.move is not None and day >= self.move.date:
            return self.move.zone, self.move.postcode
        return self.zone, self.postcode

    @property
    def current(self) -> tuple[DataZone, str]:
        return self.address_on(REFERENCE_DATE)


@dataclass
class Child:
    """One synthetic child: the ground truth behind every agency record of them."""

    id: str
    household: Household
    forename: str
    surname: str
    sex: str
    dob: dt.date
    chi: str
    nhs: str = ""
    stage: str = ""  # P1-S6 or SP (special school); empty when not at school
    scn: str = ""
    upn: str = ""
    vulnerability: float = 0.0
    asn: bool = False
    fsm: bool = False
    attendance: float = 0.0
    exclusions: int = 0
    acel: dict[str, str] = field(default_factory=dict)
    concern_date: dt.date | None = None
    concern_type: str = ""
    scra_date: dt.date | None = None
    scra_source: str = ""
    scra_grounds: str = ""
    cp_date: dt.date | None = None
    cp_concern: str = ""
    lac_date: dt.date | None = None
    placement: str = ""
    sw_involved: bool = False
    hv_review: str = ""
    dev_concern: str = ""
    review_stage: str = ""
    review_date: dt.date | None = None
    hv_contacts: int = 0
    unscheduled_care: int = 0
    scp: bool = False
    best_start_grant: str = ""

    @property
    def age_months(self) -> int:
        d = REFERENCE_DATE
        return (d.year - self.dob.year) * 12 + d.month - self.dob.month - (d.day < self.dob.day)

    @property
    def age(self) -> int:
        return self.age_months // 12

    @property
    def at_school(self) -> bool:
        return self.stage != ""

    @property
    def looked_after(self) -> bool:
        return self.lac_date is not None

    @property
    def cp_registered(self) -> bool:
        return self.cp_date is not None


def p1_year(dob: dt.date) -> int:
    """The August a child is due to start P1: born 1 March (Y-5) to end of February (Y-4)."""
    return dob.year + 5 if dob.month >= 3 else dob.year + 4


def stage_for(dob: dt.date, deferred: bool, year_start: dt.date = YEAR_START) -> str:
    """School stage in the academic year starting ``year_start``; empty before P1 or after S6."""
    index = year_start.year - p1_year(dob) - int(deferred)
    return STAGES[index] if 0 <= index < len(STAGES) else ""


def day_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


class Populator:
    """Fills data zones with households. Every draw comes from named streams, so batches are reproducible."""

    def __init__(self, seed: int, geography: Geography) -> None:
        self.geography = geography
        self.allocator = Allocator(seed)
        self._rng = stream(seed, "households")
        self._moves = stream(seed, "moves")
        self._ids = stream(seed, "identifiers")
        self._names = NamePicker(stream(seed, "names"), faker(seed, "faker:names"))
        self._child_ids = itertools.count(1)
        self._household_ids = itertools.count(1)
        self._zone_weights = {
            code: list(itertools.accumulate(z.population_0_17 for z in zones))
            for code, zones in geography.zones_by_council.items()
        }

    def households(self, zone: DataZone) -> list[Household]:
        """Households until the zone holds its public number of children.

        In rural zones many families share a few local surnames, as on the islands. Together with
        common forenames, this gives the hard negatives of a small school: different children with
        the same name.
        """
        local = [self._names.surname() for _ in range(_LOCAL_SURNAMES)] if zone.rural else []
        result: list[Household] = []
        count = 0
        while count < zone.population_0_17:
            household = self._household(zone, local)
            result.append(household)
            count += len(household.children)
        return result

    def _household(self, zone: DataZone, local_surnames: list[str]) -> Household:
        rng = self._rng
        decile_score = -_NORMAL_INV[zone.simd_decile]
        # SIMD describes rural households less well: more individual spread there.
        weight = 0.55 if zone.rural else 0.8
        deprivation = weight * decile_score + math.sqrt(1 - weight**2) * rng.gauss(0, 1)
        household = Household(
            id=f"H{next(self._household_ids):07d}",
            zone=zone,
            postcode=rng.choice(zone.postcodes),
            surname=(
                rng.choice(local_surnames)
                if local_surnames and rng.random() < _LOCAL_SURNAME_SHARE
                else self._names.surname()
            ),
            deprivation=deprivation,
            shock=rng.gauss(0, 1),
        )
        n_children = rng.choices(*_CHILDREN_PER_HOUSEHOLD)[0]
        dobs = self._dobs(n_children)
        for i, dob in enumerate(dobs):
            sex = "M" if rng.random() < 0.512 else "F"
            surname = household.surname
            if i > 0 and rng.random() < _HALF_SIBLING_SHARE:
                surname = self._names.surname()
            household.children.append(self._child(household, sex, dob, surname))
        return household

    def _dobs(self, n_children: int) -> list[dt.date]:
        """Siblings 15 months to 5 years apart; sometimes the first two are twins.

        Families are placed on a window eight years wider than 0-17 on each side, and only the children
        aged 0-17 are kept (the others are grown up or not yet born). This keeps the age distribution
        flat up to the edges instead of thinning the youngest and oldest years.
        """
        rng = self._rng
        while True:
            dobs = [day_between(rng, OLDEST_DOB - _FAMILY_SPAN, REFERENCE_DATE + _FAMILY_SPAN)]
            if n_children >= 2 and rng.random() < _TWIN_SHARE:
                dobs.append(dobs[0])
            while len(dobs) < n_children:
                gap = dt.timedelta(days=rng.randint(450, 1800))
                dobs.append(min(dobs) - gap if rng.random() < 0.5 else max(dobs) + gap)
            kept = sorted(d for d in dobs if OLDEST_DOB <= d <= REFERENCE_DATE)
            if kept:
                return kept

    def _child(self, household: Household, sex: str, dob: dt.date, surname: str) -> Child:
        rng, ids = self._rng, self._ids
        child = Child(
            id=f"C{next(self._child_ids):07d}",
            household=household,
            forename=self._names.forename(sex),
            surname=surname,
            sex=sex,
            dob=dob,
            chi=self.allocator.chi(dob, sex),
        )
        if ids.random() < _BORN_OUTSIDE_SCOTLAND:
            child.nhs = self.allocator.nhs()
        deferred = rng.random() < (
            _DEFER_JAN_FEB if dob.month in (1, 2) else _DEFER_SEP_DEC if dob.month >= 9 else 0.0
        )
        stage = stage_for(dob, deferred)
        if stage in _STAY_ON and rng.random() > _STAY_ON[stage]:
            stage = ""  # left school at 16
        child.stage = stage
        if stage:
            child.scn = self.allocator.scn(max(2006, p1_year(dob) + int(deferred)))
            if ids.random() < _SCHOOLED_IN_ENGLAND:
                child.upn = self.allocator.upn(p1_year(dob) + int(deferred))
        return child

    def plan_move(self, household: Household) -> None:
        """3-5% of families move in the year, homeless ones far more often; some cross councils."""
        rng = self._moves
        homeless = household.homeless_date is not None
        if rng.random() >= (_MOVE_RATE_HOMELESS if homeless else _MOVE_RATE):
            return
        earliest = max(YEAR_START + dt.timedelta(days=14), household.homeless_date or YEAR_START)
        date = day_between(rng, earliest, max(earliest, YEAR_END - dt.timedelta(days=14)))
        origin = household.zone.council
        cross = rng.random() < (_CROSS_COUNCIL_SHARE_HOMELESS if homeless else _CROSS_COUNCIL_SHARE)
        council = self._neighbour(rng, origin) if cross else origin
        zones = self.geography.zones_by_council[council.code]
        zone = household.zone
        while zone is household.zone:
            zone = rng.choices(zones, cum_weights=self._zone_weights[council.code])[0]
        household.move = Move(date=date, zone=zone, postcode=rng.choice(zone.postcodes), cross_council=cross)

    def _neighbour(self, rng: random.Random, origin: Council) -> Council:
        """Another council, favouring large and nearby ones (weight / (distance + 20 km)^2)."""
        others = [c for c in self.geography.councils if c.code != origin.code]
        weights = [c.children_weight / (_distance_km(origin, c) + 20) ** 2 for c in others]
        return rng.choices(others, weights=weights)[0]


def _distance_km(a: Council, b: Council) -> float:
    """Equirectangular distance between rough centroids: good enough to rank neighbours."""
    x = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    y = math.radians(b.lat - a.lat)
    return 6371 * math.hypot(x, y)


# Standard-normal score at the middle of each decile (decile 1 = most deprived gets the lowest value,
# negated at use so that higher means more deprived).
_NORMAL_INV = {decile: NormalDist().inv_cdf((decile - 0.5) / 10) for decile in range(1, 11)}
