"""Held out v3, in-sample since the fourth pass tuned the recognisers on its misses.

Written before the pass that tuned on v2's misses, from how social workers, teachers, health visitors
and housing officers write, without reading which v2 notes were missed; tuned against only in the
fourth pass, after v4 was frozen. CHIs with dots, slashes and a 6+4 split, SCNs with labels and
prefixes, dates as `3/4/19`, `03.04.2019`, `3rd of April 2019` or ISO after `DOB`, `d.o.b` or `born on`,
parents' dates of birth, names in any case and position; clean notes of centiles, immunisation
schedules, UPRNs, case and court references, money, times, rooms, flats, school years and extensions.
"""

from __future__ import annotations

import random
from typing import Final

from pseudonymise.scan_eval.generate import (
    MONTH_NAMES,
    WEEKDAYS,
    Note,
    build_notes,
    day_month_year,
    inward_code,
    ordinal,
    spelt_nino,
    spelt_phone,
    unaccented,
    valid_chi,
    valid_nhs,
    valid_scn,
)

_TEMPLATES: Final = {
    "CHI": [
        "New birth visit - baby's CHI {v}. Mum and baby well.",
        "Health details\nCHI no - {v}\nGP: Bellshill Clinic",
        "IRD: child (CHI {v}) to be seen by paediatrician.",
        "chi {v} confirmed on TrakCare",
        "Referral rec'd from HV, CHI{v}.",
        "CHI number:{v} (from the GP letter)",
        "Ref {v} on the A&E discharge letter",
    ],
    "NHS": [
        "English NHS no. {v} (family moved up from Carlisle).",
        "NHS Number: {v}",
        "Transferred from England - NHS {v}, records requested.",
        "nhs no {v}, not yet registered with a GP here",
        "NHS no.{v}",
    ],
    "SCN": [
        "SCN {v}",
        "S.C.N. {v} on the transfer form.",
        "Pupil's Scottish Candidate No: {v}",
        "SQA no. {v} - N5 entries confirmed",
        "SEEMiS: SCN-{v}, reg class 3B",
        "Pupil record ({v}) sent on to the new school.",
        "candidate no {v}",
    ],
    "PHONE": [
        "Mum's mob {v}",
        "Tel: {v} (gran)",
        "Called dad on {v}, no answer, left VM.",
        "Contact number given as {v}.",
        "Home phone {v} - disconnected?",
        "Text sent to {v} re: appt",
        "phone no.{v}",
    ],
    "EMAIL": [
        "e-mail: {v}",
        "Mum's email {v} - sent invite for the TAC.",
        "Emailed {v} (dad) the minutes.",
        "email address given as {v}; check spelling",
        "Contact by email only ({v})",
    ],
    "POSTCODE": [
        "Address: 21/3 Easter Road, Edinburgh, {v}",
        "Moved in with partner at {v}.",
        "Temp accom (B&B) - {v}",
        "Flat 0/2, 15 Dumbarton Rd\nGlasgow\n{v}",
        "New tenancy in {v} from Monday.",
        "post code {v}",
        "Gran lives in Kirkcaldy ({v}).",
    ],
    "NINO": [
        "NI No: {v}",
        "Mum's NINo {v} for the SWF application",
        "National Insurance no. {v}",
        "NI number - {v} (from DWP letter)",
        "N.I. {v}",
        "NI: {v}, UC claim live",
    ],
    "DATE": [
        "DOB {v}",
        "d.o.b {v}",
        "Born on {v} at the Royal Infirmary.",
        "D.O.B: {v}",
        "DoB - {v}",
        "date of birth:{v}",
        "Mum (dob {v}) present at the visit.",
        "Seen on {v} by duty SW.",
        "CP registration {v}.",
        "Excluded on {v} for 2 days.",
    ],
    "NAME": [
        "{v} was in good form today.",
        "Met with mum and {v} at home.",
        "Home visit - {v} not in.",
        "TAC mtg re {v} (P4).",
        "{v}: attended all sessions",
        "Spoke to school about {v}",
        "Mum reports {v} is bedwetting again.",
        "Child - {v} - in kinship care with gran.",
    ],
}
_CLEAN: Final = [
    "HV visit {time}. Wt {kg}kg ({centile} centile); {imms}. {review} review due {month_year}.",
    "S{s} pupil; period {period} {subject}, {a} referrals this term.",
    "P{p} teacher reports reading age {b}.{m}; spelling {b}/{c}.",
    "Rent arrears £{money}; plan of £{price}/wk agreed. Repair job {job}.",
    "UPRN {uprn} checked for the Home Options bid (band {band}).",
    "Case ref {caseref}; CP case conference {weekday} {time}, Rm {room}.",
    "Called switchboard, ext {ext}, re: housing application HA/{ref6}.",
    "Flat {flat}, {floor} floor; lift broken since {weekday}.",
    "Attendance {pct}% this session ({year}/{yy}); {b} unexplained absences.",
    "Child's Plan reviewed {weekday} {dm}; next review {month_year}.",
    "UC payment £{money} due on the {nth}; SWF ref {ref8} refused.",
    "Clinic {time}, {a} mins; BMI {bmi}, {centile} centile.",
    "Hearing continued to w/c {dm} (court ref {court}).",
    "Given {helpline} details and the Breathing Space leaflet.",
    "Mosaic ID {mosaic}: {a} previous referrals since {year}.",
    "Bus {bus} at {time}; back for tea.",
    "Calpol {ml}ml x{b} daily, review in {a} days.",
    "Exam {time}, seat {seat}, {extra}% extra time, reader and scribe.",
    "Class P{p}{cls} moved to Rm {room}; {a} pupils, {b} with ASN.",
    "Voucher £{money} ({b} x £{price}), invoice {invoice}.",
    "Age {b}y {m}m; P1 from Aug {year}.",
    "Phone call {time}, {a} mins; ext {ext} to call back.",
    "Dates: w/c {dm}, {month} hols, in-service day on the {nth}.",
    "Completed {a} of {c} Incredible Years sessions; SDQ {sdq}.",
    "Contact {b} x weekly, {time}, at the family centre.",
    "Council tax band {band}, {b} bed flat, {floor} floor.",
]
_FORENAMES: Final = [
    "Lachlan",
    "Ishbel",
    "Rhona",
    "Hamish",
    "Ellie-Mae",
    "Dàibhidh",
    "Aoife",
    "Shona",
    "Kyle",
]
_SURNAMES: Final = [
    "McAllister",
    "Gillespie",
    "McGregor",
    "Johnstone",
    "Hamilton",
    "McLaughlin",
    "Paterson",
]
_AREAS: Final = ["G", "EH", "DD", "IV", "KY", "FK", "PA", "AB", "ML"]
_MOBILE: Final = ["7712", "7984", "7547", "7391", "7803"]
_LANDLINES: Final = ["0131", "0141", "01506", "01389", "01475", "01698"]


def _value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt as written in v3's notes (some spellings overlap earlier sets)."""
    if label == "CHI":
        c = valid_chi(rnd)
        return rnd.choice(
            [
                f"{c[:2]}.{c[2:4]}.{c[4:6]}.{c[6:]}",
                f"{c[:6]}.{c[6:]}",
                f"{c[:2]}/{c[2:4]}/{c[4:6]} {c[6:]}",
                f"{c[:6]} {c[6:]}",
                f"{c[:6]} - {c[6:]}",
                f"{c[:4]} {c[4:7]} {c[7:]}",
                c,
            ]
        )
    if label == "NHS":
        d = valid_nhs(rnd).replace(" ", "")
        return rnd.choice(
            [d, f"{d[:3]} {d[3:6]} {d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}", f"{d[:3]}  {d[3:6]}  {d[6:]}"]
        )
    if label == "SCN":
        s = valid_scn(rnd)
        return rnd.choice([s, f"{s[:3]} {s[3:6]} {s[6:]}", f"{s[:3]}.{s[3:6]}.{s[6:]}", f"{s[:5]} {s[5:]}"])
    if label == "PHONE":
        return spelt_phone(
            rnd,
            _LANDLINES,
            lambda area, local: [
                f"{area} {local}",
                f"{area}-{local}",
                f"{area} {local[:3]} {local[3:]}",
                f"({area}){local}",
                f"+44 {area[1:]} {local}",
            ],
            _MOBILE,
            lambda m: [
                f"0{m[:4]} {m[4:]}",
                f"0{m}",
                f"0{m[:4]}.{m[4:7]}.{m[7:]}",
                f"(0{m[:4]}) {m[4:]}",
                f"+44{m}",
                f"0{m[:3]} {m[3:6]} {m[6:]}",
                f"+44 (0) {m[:4]} {m[4:]}",
            ],
        )
    if label == "EMAIL":
        user = rnd.choice(
            [
                f"{forename}{surname}".lower(),
                f"{forename[0]}{surname}{rnd.randint(1, 99)}".lower(),
                f"{surname}.{forename}",
                f"gw{rnd.randint(10, 19)}{surname}{forename}".lower(),
                f"{forename}_{rnd.randint(1990, 2012)}",
            ]
        )
        domain = rnd.choice(
            [
                "glow.sch.uk",
                "yahoo.co.uk",
                "outlook.com",
                "icloud.com",
                "sky.com",
                "edinburgh.gov.uk",
                "nhs.scot",
            ]
        )
        address = f"{unaccented(user)}@{domain}"
        return address.upper() if rnd.random() < 0.15 else address
    if label == "POSTCODE":
        o, i = f"{rnd.choice(_AREAS)}{rnd.randint(1, 45)}", inward_code(rnd)
        return rnd.choice([f"{o} {i}", f"{o}{i}", f"{o} {i}".lower(), f"{o}  {i}"])
    if label == "NINO":
        return spelt_nino(
            rnd,
            lambda p, d, s: [
                f"{p}{d}{s}",
                f"{p}{d}{s}".lower(),
                f"{p} {d[:3]} {d[3:]} {s}",
                f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}",
                f"{p} {d[:2]} {d[2:4]} {d[4:]}",
                f"{p}{d}",
                f"{p.lower()} {d} {s.lower()}",
            ],
        )
    if label == "DATE":
        day, month, year = day_month_year(rnd, 1978, 2024)
        full = MONTH_NAMES[month - 1]
        mon, yy = full[:3], f"{year % 100:02d}"
        return rnd.choice(
            [
                f"{day}/{month}/{yy}",
                f"{day:02d}.{month:02d}.{year}",
                f"{ordinal(day)} of {full} {year}",
                f"{full} {day} {year}",
                f"{year}-{month:02d}-{day:02d}",
                f"{day:02d}/{month:02d}/{year}",
                f"{day}.{month}.{yy}",
                f"{day}.{month}.{year}",
                f"{day} {mon} {yy}",
                f"{ordinal(day)} {full}, {year}",
                f"{day}-{month}-{year}",
                f"{day} {full.lower()} {year}",
                f"{full} {ordinal(day)}, {year}",
                f"{day:02d}-{mon}-{yy}",
            ]
        )
    return rnd.choice(
        [
            f"{forename} {surname}",
            forename.upper(),
            forename.lower(),
            f"{surname.upper()}, {forename}",
            f"Miss {surname}",
            f"{forename[0]} {surname}",
            f"{forename} {surname[0]}",
            unaccented(forename),
        ]
    )


def _fields(rnd: random.Random) -> dict[str, object]:
    day, month, year = day_month_year(rnd, 2016, 2026)
    full = MONTH_NAMES[month - 1]
    hour, minutes = rnd.randint(8, 17), rnd.choice(["00", "15", "30", "45"])
    half = f"{hour % 12 or 12}{'am' if hour < 12 else 'pm'}"
    return {
        "a": rnd.randint(2, 45),
        "b": rnd.randint(1, 9),
        "c": rnd.randint(10, 20),
        "m": rnd.randint(0, 11),
        "time": rnd.choice(
            [
                f"{hour}:{minutes}",
                f"{hour % 12 or 12}.{minutes}{half[-2:]}",
                half,
                f"{hour:02d}{minutes}hrs",
                f"{hour:02d}.{minutes}-{hour + 1:02d}.{minutes}",
            ]
        ),
        "kg": f"{rnd.randint(3, 40)}.{rnd.randint(0, 9)}",
        "centile": rnd.choice(["2nd", "9th", "25th", "50th", "75th", "91st", "25th-50th"]),
        "imms": rnd.choice(
            ["8/12/16 wk imms done", "pre-school boosters given", "imms up to date", "MMR due"]
        ),
        "review": rnd.choice(["6-8 week", "13-15 month", "27-30 month", "4-5 year"]),
        "month_year": rnd.choice(
            [f"{full[:3]} {year}", f"{full} {year}", f"{month:02d}/{year}", f"{full[:3]}-{year % 100}"]
        ),
        "s": rnd.randint(1, 6),
        "period": rnd.randint(1, 7),
        "subject": rnd.choice(["maths", "English", "PE", "RME", "HE"]),
        "p": rnd.randint(1, 7),
        "cls": rnd.choice("ABC"),
        "money": rnd.choice(
            [
                f"{rnd.randint(5, 999)}",
                f"{rnd.randint(1, 4)},{rnd.randint(0, 999):03d}.{rnd.randint(0, 99):02d}",
                f"{rnd.randint(1, 99)}.{rnd.randint(0, 99):02d}",
            ]
        ),
        "price": f"{rnd.randint(5, 40)}.{rnd.choice(['00', '50'])}",
        "job": rnd.choice([f"{rnd.randint(1000000, 9999999)}", f"RJ{rnd.randint(0, 999999):06d}"]),
        "uprn": f"{rnd.choice(['906', '1360', '1220'])}{rnd.randint(0, 10**8 - 1):08d}",
        "band": rnd.choice("ABCDEFGH"),
        "caseref": rnd.choice(
            [
                f"CP/{year}/{rnd.randint(1, 9999):04d}",
                f"SW{rnd.randint(100000, 999999)}",
                f"{rnd.randint(1, 999):03d}/{year % 100}",
            ]
        ),
        "weekday": rnd.choice(WEEKDAYS),
        "room": rnd.choice(
            [
                f"{rnd.randint(0, 3)}.{rnd.randint(1, 30):02d}",
                f"G{rnd.randint(1, 20):02d}",
                f"{rnd.randint(1, 40)}",
                f"B{rnd.randint(1, 3)}.{rnd.randint(1, 20):02d}",
            ]
        ),
        "ext": rnd.randint(1000, 8999),
        "ref6": f"{rnd.randint(0, 999999):06d}",
        "flat": rnd.choice(
            [f"{rnd.randint(0, 3)}/{rnd.randint(1, 3)}", f"{rnd.randint(1, 30)}{rnd.choice('ABCD')}"]
        ),
        "floor": rnd.choice(["ground", "1st", "2nd", "3rd", "top"]),
        "pct": f"{rnd.randint(40, 99)}.{rnd.randint(0, 9)}",
        "year": year,
        "yy": f"{(year + 1) % 100:02d}",
        "dm": rnd.choice(
            [
                f"{day}/{month}",
                f"{day:02d}/{month:02d}",
                f"{day}.{month}",
                ordinal(day),
                f"{ordinal(day)} {full}",
                f"{full[:3]} {day}",
            ]
        ),
        "nth": ordinal(rnd.randint(1, 28)),
        "ref8": f"{rnd.randint(0, 99999999):08d}",
        "bmi": f"{rnd.randint(13, 30)}.{rnd.randint(0, 9)}",
        "court": f"B{rnd.randint(1, 999)}/{year % 100}",
        "helpline": rnd.choice(
            [
                "Childline (0800 1111)",
                "Parentline (08000 28 22 33)",
                "NHS 24 (111)",
                "police non-emergency (101)",
            ]
        ),
        "mosaic": rnd.randint(1000000, 9999999),
        "bus": rnd.choice(["X7", "22", "38A", "N16"]),
        "ml": rnd.choice(["2.5", "5", "7.5", "10"]),
        "seat": f"{rnd.randint(1, 30)}{rnd.choice('ABCDEF')}",
        "extra": rnd.choice([10, 25, 33]),
        "invoice": rnd.choice([f"INV{rnd.randint(0, 999999):06d}", f"{rnd.randint(10**8, 10**9 - 1)}"]),
        "month": full,
        "sdq": rnd.randint(5, 35),
    }


def held_out_v3_notes(per_label: int = 80, clean: int = 800, seed: int = 17) -> list[Note]:
    """Held out until the fourth pass tuned on its misses (in-sample now): how practitioners write."""
    names = (_FORENAMES, _SURNAMES)
    return build_notes(_TEMPLATES, _CLEAN, _value, names, per_label, clean, seed, _fields)
