"""Correlated risk: deprivation and household adversity drive every agency's events.

Each outcome uses a one-factor Gaussian copula. A latent ``loading * factor + noise`` above the normal
quantile for the target rate gives the stated marginal rate, and outcomes that share a factor co-occur.
The factors are the household's deprivation ``z`` (from the zone's SIMD decile plus household spread)
and the child's *vulnerability* (``z``, a household shock shared by siblings, and the child's own part).
Target rates come from the research notes (§2, §6.4). The calibration tests check them.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from statistics import NormalDist

from broker.synth.population import (
    REFERENCE_DATE,
    YEAR_END,
    YEAR_START,
    Child,
    Household,
    day_between,
)
from broker.synth.streams import numpy_stream, stream

BENEFITS_RATE = 0.36  # households on a qualifying benefit (Scottish Child Payment reaches ~1 in 3 under-16s)
SCP_TAKE_UP = 0.92
FSM_REGISTRATION = 0.6  # FSM income thresholds are stricter than SCP: ~20% of pupils
HOMELESS_RATE = 0.013  # households with children making a homelessness application in the year
TEMPORARY_ACCOMMODATION = 0.6
HOUSING_SUPPORT_RATE = 0.02  # other housing-service contacts (tenancy support), no application
CONCERN_RATE = 0.045  # police child-concern reports
SCRA_RATE = 0.014  # referrals to the Children's Reporter (1.4% of children a year)
CP_RATE = 0.003  # child protection register (0.3%)
LAC_RATE = 0.014  # looked after (1.4%)
CHILD_IN_NEED_RATE = 0.01
ASN_RATE = {"M": 0.44, "F": 0.30}  # about 37% overall, about 60% of them boys
SPECIAL_SCHOOL_SHARE = 0.035  # of pupils with ASN
ACEL_STAGES = ("P1", "P4", "P7", "S3")
ACEL_RATES: dict[str, dict[str, float]] = {
    "reading": {"P1": 0.80, "P4": 0.78, "P7": 0.76, "S3": 0.90},
    "writing": {"P1": 0.76, "P4": 0.72, "P7": 0.70, "S3": 0.89},
    "numeracy": {"P1": 0.85, "P4": 0.76, "P7": 0.73, "S3": 0.89},
}
_REVIEWS = (("13-15m", 13), ("27-30m", 27), ("4-5y", 48))
# Ages in months of the Universal Health Visiting Pathway's home contacts (11 in all; unverified count).
_PATHWAY_CONTACT_MONTHS = (0, 0, 0, 0, 1, 2, 2, 4, 13, 27, 48)
SCRA_SOURCES = (("police", 75), ("social_work", 15), ("education", 5), ("other", 5))
CP_CONCERNS = (
    ("domestic_abuse", 25), ("parental_substance_misuse", 20), ("neglect", 20),
    ("parental_mental_health", 15), ("emotional_abuse", 10), ("physical_abuse", 7), ("sexual_abuse", 3),
)  # fmt: skip
CONCERN_TYPES = (
    ("child_concern", 45),
    ("domestic_abuse_child_present", 40),
    ("missing_person", 8),
    ("other", 7),
)
PLACEMENTS = (("at_home", 24), ("kinship", 32), ("foster", 32), ("residential", 10), ("secure", 2))


@functools.cache
def _threshold(rate: float) -> float:
    return NormalDist().inv_cdf(1 - rate)


def exceeds(rng: random.Random, loading: float, factor: float, rate: float) -> bool:
    """True with marginal probability ``rate`` (for a standard-normal factor), more often as it rises."""
    latent = loading * factor + math.sqrt(1 - loading * loading) * rng.gauss(0, 1)
    return latent > _threshold(rate)


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


class RiskModel:
    """Assigns benefits, homelessness and every child's events, each group from its own stream."""

    def __init__(self, seed: int) -> None:
        self._household = stream(seed, "risk:household")
        self._welfare = stream(seed, "risk:welfare")
        self._education = stream(seed, "risk:education")
        self._health = stream(seed, "risk:health")
        self._exclusions = numpy_stream(seed, "risk:exclusions")
        self._counts = numpy_stream(seed, "risk:health_counts")

    def household(self, household: Household) -> None:
        """Benefits, FSM and SCP take-up, and any homelessness application (before moves are planned)."""
        rng = self._household
        z = household.deprivation
        household.benefits = exceeds(rng, 0.85, z, BENEFITS_RATE)
        fsm = household.benefits and rng.random() < FSM_REGISTRATION
        household.scp_client = household.benefits and rng.random() < SCP_TAKE_UP
        adversity = (z + household.shock) / math.sqrt(2)
        if exceeds(rng, 0.8, adversity, HOMELESS_RATE):
            household.homeless_date = day_between(rng, YEAR_START, YEAR_END)
            household.temporary_accommodation = rng.random() < TEMPORARY_ACCOMMODATION
        elif exceeds(rng, 0.6, adversity, HOUSING_SUPPORT_RATE):
            household.housing_support_date = day_between(rng, YEAR_START, YEAR_END)
        for child in household.children:
            child.fsm = fsm and child.at_school

    def child(self, child: Child) -> None:
        household = child.household
        child.vulnerability = (
            0.5 * household.deprivation + 0.5 * household.shock + math.sqrt(0.5) * self._welfare.gauss(0, 1)
        )
        self._welfare_events(child)
        if child.at_school:
            self._schooling(child)
        self._health_visiting(child)
        if household.scp_client and child.age < 16:
            child.scp = True
        if child.age_months < 12:
            child.best_start_grant = "pregnancy_and_baby"
        elif 24 <= child.age_months < 42:
            child.best_start_grant = "early_learning"
        elif child.stage == "P1":
            child.best_start_grant = "school_age"
        if not household.scp_client:
            child.best_start_grant = ""

    def _welfare_events(self, child: Child) -> None:
        """Police concern -> social work assessment -> CP registration or a referral to the Reporter."""
        rng, v = self._welfare, child.vulnerability
        if exceeds(rng, 0.8, v, CONCERN_RATE):
            child.concern_date = day_between(rng, max(child.dob, YEAR_START), REFERENCE_DATE)
            child.concern_type = _pick(rng, CONCERN_TYPES)
        if exceeds(rng, 0.85, v, SCRA_RATE):
            child.scra_source = _pick(rng, SCRA_SOURCES)
            child.scra_grounds = (
                "offence" if child.age >= 12 and rng.random() < 0.35 else "care_and_protection"
            )
            if child.scra_source == "police" and child.concern_date is None:
                child.concern_date = day_between(rng, max(child.dob, YEAR_START), REFERENCE_DATE)
                child.concern_type = "child_concern"
            earliest = child.concern_date or max(child.dob, YEAR_START)
            child.scra_date = day_between(rng, earliest, max(earliest, REFERENCE_DATE))
        if exceeds(rng, 0.75, v, CP_RATE):
            child.cp_date = day_between(
                rng, max(child.dob, REFERENCE_DATE - dt.timedelta(days=540)), REFERENCE_DATE
            )
            child.cp_concern = _pick(rng, CP_CONCERNS)
        if exceeds(rng, 0.7, v, LAC_RATE):
            child.lac_date = day_between(
                rng, max(child.dob, REFERENCE_DATE - dt.timedelta(days=1500)), REFERENCE_DATE
            )
            child.placement = _pick(rng, PLACEMENTS)
        child.sw_involved = (
            child.cp_registered
            or child.looked_after
            or child.scra_source == "social_work"
            or (child.concern_date is not None and rng.random() < 0.3)
            or exceeds(rng, 0.7, v, CHILD_IN_NEED_RATE)
        )

    def _schooling(self, child: Child) -> None:
        rng, z = self._education, child.household.deprivation
        child.asn = exceeds(rng, 0.45, child.vulnerability, ASN_RATE[child.sex])
        if child.asn and rng.random() < SPECIAL_SCHOOL_SHARE:
            child.stage = "SP"
        secondary = child.stage.startswith("S") and child.stage != "SP"
        mean = (
            (0.89 if secondary else 0.925)
            - 0.022 * z
            - 0.02 * child.asn
            - 0.04 * child.household.temporary_accommodation
            - 0.03 * child.looked_after
            - 0.015 * (child.concern_date is not None)
        )
        mean = min(max(mean, 0.5), 0.985)
        # Low concentration: left-skewed, so about a third of pupils fall below 90% (persistent absence).
        child.attendance = rng.betavariate(mean * 18, (1 - mean) * 18)
        rate = (0.012 if secondary else 0.002) * math.exp(0.7 * z)
        rate *= (
            (1.8 if child.sex == "M" else 1.0)
            * (2.0 if child.asn else 1.0)
            * (2.0 if child.looked_after else 1.0)
        )
        child.exclusions = int(self._exclusions.poisson(rate))
        ability = -0.7 * z + math.sqrt(1 - 0.49) * rng.gauss(0, 1) - 0.3 * child.asn + 0.11
        for organiser, rates in ACEL_RATES.items():
            if child.stage in ACEL_STAGES:
                child.acel[organiser] = "Y" if exceeds(rng, 0.8, ability, rates[child.stage]) else "N"

    def _health_visiting(self, child: Child) -> None:
        """Pathway reviews (13-15m, 27-30m, 4-5y) and contacts; coverage falls with deprivation, concerns
        are more common for boys, and unscheduled care rises with deprivation and vulnerability."""
        rng, z = self._health, child.household.deprivation
        months = child.age_months
        child.unscheduled_care = int(
            self._counts.poisson(0.3 * math.exp(0.3 * z + 0.3 * child.vulnerability))
        )
        pathway = sum(months >= m for m in _PATHWAY_CONTACT_MONTHS)
        child.hv_contacts = pathway + int(self._counts.poisson(1.5 * child.sw_involved + 0.3 * max(z, 0)))
        for stage, due in _REVIEWS:
            if months >= due:
                child.review_stage = stage
                child.review_date = child.dob + dt.timedelta(days=round(due * 30.44) + rng.randint(0, 60))
        if months < 30:
            child.hv_review = "not_due"
            return
        if rng.random() < min(0.98, 0.92 - 0.04 * z):
            child.hv_review = "completed"
            rate = 0.21 if child.sex == "M" else 0.12
            child.dev_concern = "Y" if exceeds(rng, 0.4, z, rate) else "N"
        else:
            child.hv_review = "not_completed"
            if child.review_stage == "27-30m":
                child.review_date = None
