"""Per-agency extracts: what each agency holds about the children it knows, with its own lags and errors.

Every dataset has its own streams (``extract:<name>`` for lags and payload, ``errors:<name>`` for
injected errors). Adding a dataset therefore changes no other file. A row records which child it
belongs to, the error tags it carries, and the planted identifiers in its free text. `writer.py` turns
these into ``truth.csv`` and ``pii_labels.csv``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from broker.synth.errors import ErrorProfile, Record, inject
from broker.synth.geography import DataZone, Geography
from broker.synth.identifiers import Allocator
from broker.synth.notes import Label, pastoral_note
from broker.synth.population import (
    REFERENCE_DATE,
    STAGES,
    YEAR_END,
    YEAR_START,
    Child,
    Household,
    day_between,
)
from broker.synth.streams import stream


@dataclass
class Row:
    values: Record
    child_id: str
    tags: list[str] = field(default_factory=list)
    labels: list[tuple[str, Label]] = field(default_factory=list)


@dataclass(frozen=True)
class Dataset:
    """One agency extract: file name (= dataset id), record-id prefix, columns, error rates and builder."""

    name: str
    prefix: str
    columns: tuple[str, ...]
    errors: ErrorProfile
    build: Callable[[Context, Household], Iterator[Row]]
    free_text: tuple[str, ...] = ()


class Context:
    """Streams, counters and lookups shared by the builders of one generation run."""

    def __init__(self, seed: int, geography: Geography, allocator: Allocator) -> None:
        self.seed = seed
        self.geography = geography
        self.allocator = allocator
        self.previous_pupil = ("", "")  # (child id, SCN): the source of duplicate-SCN errors
        self._streams: dict[str, random.Random] = {}
        self._counters: dict[str, Iterator[int]] = {}

    def rng(self, part: str) -> random.Random:
        if part not in self._streams:
            self._streams[part] = stream(self.seed, part)
        return self._streams[part]

    def next_id(self, kind: str) -> int:
        return next(self._counters.setdefault(kind, itertools.count(1)))

    def school(self, zone: DataZone, stage: str) -> str:
        if stage == "SP":
            return self.geography.special_school[zone.council.code]
        return zone.primary if stage.startswith("P") else zone.secondary


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else ""


def _identity(child: Child, zone: DataZone, postcode: str, *fields: str) -> Record:
    """The identifier fields an agency holds, as recorded before any error."""
    available = {
        "chi": child.chi,
        "nhs": child.nhs,
        "scn": child.scn,
        "upn": child.upn,
        "forename": child.forename,
        "surname": child.surname,
        "dob": child.dob.isoformat(),
        "sex": child.sex,
        "postcode": postcode,
        "council_code": zone.council.code,
        "data_zone": zone.code,
    }
    return {f: available[f] for f in fields}


def _seen_address(rng: random.Random, household: Household, update: float) -> tuple[DataZone, str, list[str]]:
    """The agency's current address for the household; after a move it catches up with chance ``update``."""
    if household.move is None or rng.random() < update:
        zone, postcode = household.current
        return zone, postcode, []
    return household.zone, household.postcode, ["postcode_stale"]


def _address_at(household: Household, day: dt.date) -> tuple[DataZone, str, list[str]]:
    """The address on ``day`` (an event date); tagged when it is the pre-move address."""
    zone, postcode = household.address_on(day)
    return zone, postcode, (["postcode_previous"] if household.move and day < household.move.date else [])


def _finish(ctx: Context, dataset: str, record: Record, child: Child, tags: list[str]) -> Row:
    profile = DATASETS_BY_NAME[dataset].errors
    tags = tags + inject(ctx.rng(f"errors:{dataset}"), record, profile, looked_after=child.looked_after)
    return Row(values=record, child_id=child.id, tags=sorted(tags))


# --- education --------------------------------------------------------------------------------


def _school_entry(child: Child) -> dt.date:
    """First day at the current school: the August the child started P1, S1 or (special) school."""
    if child.stage == "SP":
        years = max(0, child.age - 5)
    else:
        index = STAGES.index(child.stage)
        years = index if index < 7 else index - 7
    return YEAR_START.replace(year=YEAR_START.year - years)


def _education(ctx: Context, household: Household) -> Iterator[Row]:
    rng = ctx.rng("extract:education")
    move = household.move
    for child in household.children:
        if not child.at_school:
            continue
        old_school = ctx.school(household.zone, child.stage)
        enrolments: list[tuple[DataZone, str, str, dt.date, dt.date | None, list[str]]] = []
        if move is not None and ctx.school(move.zone, child.stage) != old_school:
            # Two enrolments with a gap between them; occasionally a long one (missing from education).
            gap = rng.randint(20, 60) if rng.random() < 0.1 else rng.randint(1, 10)
            entry = min(move.date + dt.timedelta(days=gap), YEAR_END)
            before = (household.zone, household.postcode, old_school, _school_entry(child), move.date)
            enrolments.append((*before, ["postcode_previous"]))
            enrolments.append((move.zone, move.postcode, ctx.school(move.zone, child.stage), entry, None, []))
        else:
            zone, postcode, tags = _seen_address(rng, household, update=0.85)
            enrolments.append((zone, postcode, old_school, _school_entry(child), None, tags))
        seemis: dict[str, str] = {}  # one SEEMiS pupil id per council the child was enrolled in
        for zone, postcode, school, entry, leaving, tags in enrolments:
            current = leaving is None
            council = zone.council.code
            if council not in seemis:
                seemis[council] = f"{council[-2:]}{ctx.next_id('seemis'):07d}"
            record = _identity(
                child, zone, postcode, "scn", "upn", "forename", "surname", "dob", "sex", "postcode"
            )
            tags = list(tags)
            if (
                current
                and move is not None
                and move.cross_council
                and len(enrolments) == 2
                and rng.random() < 0.2
            ):
                record["scn"] = ctx.allocator.scn(YEAR_START.year)
                tags.append("scn_new_on_move")
            previous = ctx.previous_pupil
            if (
                previous[0] not in ("", child.id)
                and rng.random() < DATASETS_BY_NAME["education"].errors.scn_duplicate
            ):
                record["scn"] = previous[1]
                tags.append("scn_duplicate")
            ctx.previous_pupil = (child.id, child.scn)
            attendance = min(1.0, max(0.0, child.attendance + rng.gauss(0, 0.01)))
            note, labels = (
                pastoral_note(ctx.rng("notes"), child) if current and _has_note(rng, child) else ("", [])
            )
            record.update(
                seemis_id=seemis[council],
                council_code=council,
                school=school,
                stage=child.stage,
                entry_date=entry.isoformat(),
                leaving_date=_iso(leaving),
                attendance_pct=f"{100 * attendance:.1f}",
                fsm=_yn(child.fsm),
                asn=_yn(child.asn),
                acel_reading=child.acel.get("reading", "") if current else "",
                acel_writing=child.acel.get("writing", "") if current else "",
                acel_numeracy=child.acel.get("numeracy", "") if current else "",
                exclusions=str(child.exclusions if current else 0),
                pastoral_note=note,
                data_zone=zone.code,
            )
            row = _finish(ctx, "education", record, child, tags)
            row.labels = [("pastoral_note", label) for label in labels]
            yield row


def _has_note(rng: random.Random, child: Child) -> bool:
    """About one pupil in ten has a recent pastoral note; far more among the vulnerable."""
    return rng.random() < min(0.8, 0.07 * math.exp(0.9 * child.vulnerability))


# --- health -----------------------------------------------------------------------------------


def _health(ctx: Context, household: Household) -> Iterator[Row]:
    rng = ctx.rng("extract:health")
    for child in household.children:
        zone, postcode, tags = _seen_address(rng, household, update=0.6)
        record = _identity(
            child, zone, postcode, "chi", "nhs", "forename", "surname", "dob", "sex", "postcode"
        )
        record.update(
            council_code=zone.council.code,
            hv_review_27_30m=child.hv_review,
            review_stage=child.review_stage,
            review_date=_iso(child.review_date),
            developmental_concern=child.dev_concern,
            hv_contacts=str(child.hv_contacts),
            unscheduled_care_12m=str(child.unscheduled_care),
            data_zone=zone.code,
        )
        yield _finish(ctx, "health_visiting", record, child, tags)


# --- social work ------------------------------------------------------------------------------


def _social_work(ctx: Context, household: Household) -> Iterator[Row]:
    rng = ctx.rng("extract:social_work")
    move = household.move
    for child in household.children:
        if not child.sw_involved:
            continue
        # A cross-council move of an open case leaves a record in each council; the new council holds a
        # transfer case conference when the child is on the register.
        if move is not None and move.cross_council:
            views = [
                (household.zone, household.postcode, ["postcode_previous"], False),
                (*household.current, [], True),
            ]
        else:
            zone, postcode, tags = _seen_address(rng, household, update=0.85)
            views = [(zone, postcode, tags, False)]
        for zone, postcode, tags, transferred in views:
            record = _identity(
                child, zone, postcode, "chi", "scn", "forename", "surname", "dob", "sex", "postcode"
            )
            if rng.random() >= 0.4:
                record["scn"] = ""
            conference = ""
            if child.cp_registered:
                recent = child.cp_date is not None and (REFERENCE_DATE - child.cp_date).days < 90
                conference = "transfer" if transferred else "initial" if recent else "review"
            record.update(
                client_id=f"SW{zone.council.code[-2:]}{ctx.next_id('sw_client'):07d}",
                council_code=zone.council.code,
                cp_registered=_yn(child.cp_registered),
                registration_date=_iso(child.cp_date),
                concern_type=child.cp_concern,
                case_conference=conference,
                looked_after=_looked_after(child),
                la_placement_type=child.placement,
                la_episode_start=_iso(child.lac_date),
                data_zone=zone.code,
            )
            yield _finish(ctx, "social_work", record, child, tags)


def _looked_after(child: Child) -> str:
    if not child.looked_after:
        return "none"
    return "at_home" if child.placement == "at_home" else "away_from_home"


# --- housing ----------------------------------------------------------------------------------

_ASSESSMENTS = (
    ("homeless", 70), ("threatened", 12), ("not_homeless", 8), ("resolved", 4), ("withdrawn", 3),
    ("intentionally_homeless", 3),
)  # fmt: skip


def _housing(ctx: Context, household: Household) -> Iterator[Row]:
    rng = ctx.rng("extract:housing")
    applications: list[tuple[dt.date, DataZone, str, list[str]]] = []
    if household.homeless_date is not None:
        applications.append((household.homeless_date, *_address_at(household, household.homeless_date)))
        move = household.move
        if move is not None and move.cross_council and rng.random() < 0.5:
            # A new HL1 application in the council the household moved to.
            applied = day_between(rng, move.date, max(move.date, YEAR_END))
            applications.append((applied, move.zone, move.postcode, []))
    for applied, zone, postcode, tags in applications:
        reference = f"HL1-{zone.council.code[-2:]}-{ctx.next_id('hl1'):07d}"
        assessment = rng.choices([a for a, _ in _ASSESSMENTS], weights=[w for _, w in _ASSESSMENTS])[0]
        yield from _housing_rows(ctx, household, applied, zone, postcode, tags, reference, assessment)
    if household.housing_support_date is not None:
        # Tenancy-sustainment support without a homelessness application.
        applied = household.housing_support_date
        yield from _housing_rows(ctx, household, applied, *_address_at(household, applied), "", "")


def _housing_rows(
    ctx: Context,
    household: Household,
    applied: dt.date,
    zone: DataZone,
    postcode: str,
    tags: list[str],
    reference: str,
    assessment: str,
) -> Iterator[Row]:
    for child in household.children:
        record = _identity(child, zone, postcode, "forename", "surname", "dob", "sex", "postcode")
        record.update(
            application_ref=reference,
            council_code=zone.council.code,
            application_date=applied.isoformat(),
            homeless_application=_yn(bool(reference)),
            assessment=assessment,
            temporary_accommodation=_yn(bool(reference) and household.temporary_accommodation),
            data_zone=zone.code,
        )
        yield _finish(ctx, "housing", record, child, tags)


# --- justice (Police Scotland concern reports and SCRA referrals) -----------------------------


def _justice(ctx: Context, household: Household) -> Iterator[Row]:
    for child in household.children:
        events = [d for d in (child.concern_date, child.scra_date) if d is not None]
        if not events:
            continue
        zone, postcode, tags = _address_at(household, min(events))
        record = _identity(child, zone, postcode, "forename", "surname", "dob", "sex", "postcode")
        record.update(
            police_ref=f"PS{ctx.next_id('police'):08d}" if child.concern_date else "",
            scra_ref=f"SCRA{ctx.next_id('scra'):07d}" if child.scra_date else "",
            council_code=zone.council.code,
            concern_report=_yn(child.concern_date is not None),
            concern_type=child.concern_type,
            concern_date=_iso(child.concern_date),
            scra_referral=_yn(child.scra_date is not None),
            referral_date=_iso(child.scra_date),
            referral_source=child.scra_source,
            grounds=child.scra_grounds,
            data_zone=zone.code,
        )
        yield _finish(ctx, "justice", record, child, tags)


# --- social security (Social Security Scotland) -----------------------------------------------


def _social_security(ctx: Context, household: Household) -> Iterator[Row]:
    if not household.scp_client:
        return
    rng = ctx.rng("extract:social_security")
    zone, postcode, tags = _seen_address(rng, household, update=0.9)
    ended = rng.random() < 0.08  # left the qualifying benefit during the year
    end = day_between(rng, YEAR_START, YEAR_END) if ended else None
    for child in household.children:
        if not (child.scp or child.best_start_grant):
            continue
        start = day_between(rng, max(child.dob, REFERENCE_DATE - dt.timedelta(days=1400)), REFERENCE_DATE)
        record = _identity(child, zone, postcode, "forename", "surname", "dob", "postcode")
        record.update(
            client_ref=household.client_ref,
            nino=household.parent_nino,
            council_code=zone.council.code,
            scottish_child_payment=_yn(child.scp and not ended),
            best_start_grant=child.best_start_grant,
            award_start=start.isoformat(),
            award_end=_iso(max(start, end) if end else None),
            data_zone=zone.code,
        )
        yield _finish(ctx, "social_security", record, child, tags)


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "education",
        "edu",
        (
            "record_id",
            "seemis_id",
            "scn",
            "upn",
            "forename",
            "surname",
            "dob",
            "sex",
            "postcode",
            "council_code",
            "school",
            "stage",
            "entry_date",
            "leaving_date",
            "attendance_pct",
            "fsm",
            "asn",
            "acel_reading",
            "acel_writing",
            "acel_numeracy",
            "exclusions",
            "pastoral_note",
            "data_zone",
        ),
        ErrorProfile(typo=0.01, nickname=0.15, scn_duplicate=0.002, postcode_missing=0.005),
        _education,
        free_text=("pastoral_note",),
    ),
    Dataset(
        "health_visiting",
        "hv",
        (
            "record_id",
            "chi",
            "nhs",
            "forename",
            "surname",
            "dob",
            "sex",
            "postcode",
            "council_code",
            "hv_review_27_30m",
            "review_stage",
            "review_date",
            "developmental_concern",
            "hv_contacts",
            "unscheduled_care_12m",
            "data_zone",
        ),
        ErrorProfile(typo=0.01, chi_missing=0.003, chi_leading_zero_lost=0.01, chi_invalid_check=0.002),
        _health,
    ),
    Dataset(
        "social_work",
        "sw",
        (
            "record_id",
            "client_id",
            "chi",
            "scn",
            "forename",
            "surname",
            "dob",
            "sex",
            "postcode",
            "council_code",
            "cp_registered",
            "registration_date",
            "concern_type",
            "case_conference",
            "looked_after",
            "la_placement_type",
            "la_episode_start",
            "data_zone",
        ),
        ErrorProfile(
            typo=0.025,
            surname_change=0.03,
            dob_day_month_swap=0.012,
            chi_missing=0.12,
            chi_leading_zero_lost=0.06,
            chi_invalid_check=0.01,
        ),
        _social_work,
    ),
    Dataset(
        "housing",
        "hsg",
        (
            "record_id",
            "application_ref",
            "forename",
            "surname",
            "dob",
            "sex",
            "postcode",
            "council_code",
            "application_date",
            "homeless_application",
            "assessment",
            "temporary_accommodation",
            "data_zone",
        ),
        ErrorProfile(
            typo=0.035, nickname=0.25, dob_day_month_swap=0.02, dob_format=0.02, postcode_format=0.04
        ),
        _housing,
    ),
    Dataset(
        "justice",
        "jus",
        (
            "record_id",
            "police_ref",
            "scra_ref",
            "forename",
            "surname",
            "dob",
            "sex",
            "postcode",
            "council_code",
            "concern_report",
            "concern_type",
            "concern_date",
            "scra_referral",
            "referral_date",
            "referral_source",
            "grounds",
            "data_zone",
        ),
        ErrorProfile(
            typo=0.035, nickname=0.3, name_order_swap=0.01, dob_day_month_swap=0.02, dob_default=0.005
        ),
        _justice,
    ),
    Dataset(
        "social_security",
        "sss",
        (
            "record_id",
            "client_ref",
            "nino",
            "forename",
            "surname",
            "dob",
            "postcode",
            "council_code",
            "scottish_child_payment",
            "best_start_grant",
            "award_start",
            "award_end",
            "data_zone",
        ),
        ErrorProfile(typo=0.01, dob_day_month_swap=0.005),
        _social_security,
    ),
)
DATASETS_BY_NAME = {d.name: d for d in DATASETS}
