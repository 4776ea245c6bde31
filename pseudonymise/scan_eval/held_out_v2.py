"""Held out v2, in-sample since the third pass tuned the recognisers on its misses.

Written before the issue-4 recogniser changes. Practitioners' shorthand: labels glued to values,
brackets, bullet lists and line breaks, mixed separators, lower and mixed case. DATE covers event dates
as well as dates of birth (a full day-month-year date is flagged whatever it records; see the package
docstring).
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
        "HV visit 10:15.\nBaby CHI {v}\nMum well, feeding ok.",
        "Seen at A&E (CHI{v}), d/c same day.",
        "chi no.{v}; GP Dr Reid, Kirkcaldy",
        "Sibling's CHI - {v} - also on the plan.",
        "Details:\n* CHI: {v}\n* School: St Mary's PS",
    ],
    "NHS": [
        "NHS#{v} (mum's)",
        "Referred to CAMHS, nhs no:{v}.",
        "GP surgery gave NHS number as\n{v}",
        "Hosp. no./NHS no. {v}, Ward 5.",
        "- NHS {v}\n- allergies: none known",
    ],
    "SCN": [
        "SQA cand. no: {v}",
        "Prev school SCN ({v}) not on SEEMiS yet.",
        "scn{v} - check with office",
        "Transition list\n1. SCN {v}\n2. ASN: yes",
        "Exam entries under candidate no. {v}.",
    ],
    "PHONE": [
        "mob: {v} (mum)",
        "Dad - {v}, works nights",
        "Contact nos.\nH: {v}\nW: not given",
        "tel{v} no answer x2",
        "Gran (kinship carer) [{v}]",
    ],
    "EMAIL": [
        "email:{v}",
        "Sent letter via mailto:{v}",
        "Forwarded to [{v}].",
        "Mum's email is {v}.",
        "Contacts\n- email {v}\n- phone: none",
    ],
    "POSTCODE": [
        "New addr:\n12 Mill Lane\nPerth\n{v}",
        "Moved to Gran's ({v}) temporarily.",
        "Refuge - do NOT disclose: {v}",
        "addr 3/2, 45 High St,{v}",
        "postcode:{v} (council checking)",
    ],
    "NINO": [
        "NI no.{v}",
        "Mum's NI ({v}) for the UC claim",
        "N.I.N.: {v}",
        "UC journal shows NI number {v};",
        "Benefits check -\nNI: {v}\nUC: yes",
    ],
    "DATE": [
        "dob {v}",
        "(DOB:{v})",
        "b. {v} - premature",
        "Incident on {v} at the school gate.",
        "Child protection registration {v}.",
        "Kinship order granted {v}",
    ],
    "NAME": [
        "{v} seemed withdrawn in class.",
        "Spoke w/ {v} re: lunch money",
        "Mum says {v} isn't sleeping.",
        "Pupil: {v}\nYear: S2",
        "(see {v} file)",
    ],
}
# Near misses: references, money, times, years, rooms, extensions, partial dates (no year), a public
# helpline, a sort code, scores and fractions; none is personal data.
_CLEAN: Final = [
    "HV visit {time}. Wt {kg}kg, ht {cm}cm; feeding ok. Next visit w/c {dm}.",
    "Case ref {caseref} - housing benefit backdated £{money}. Chased w/ council x{ext}.",
    "Rm {room}, {time}: TAC mtg. Present: HT, DHT, SW, HV.\nActions (x{a}) agreed; review {month_year}.",
    "Attendance: {pct}% (Aug-{month})\n- {a} unauth absences\n- {b} lates",
    "Rang switchboard, ext. {ext}, left msg. Call back after {time}.",
    "School clothing grant £{money} paid {weekday}; ref no. {ref8}.",
    "P{p}/{p1} composite class, group {a}; reading age {b}.{b}",
    "In care since {year}; {b} moves. LAC review due {month_year}.",
    "Invoice #{ref10} (£{money}) for taxi to school, {a} journeys.",
    "Bus {bus} then walk ~{b} mins; arrives {time}.",
    "Session {year}/{yy}: {a} referrals, {b} closed.",
    "Dental appt {dm} @ {time} - mum to take.",
    "Scored {b}/{a} on the phonics check; target {b}/{b}.",
    "Sort code {sortcode} given for the grant (no acc no. recorded).",
    "Childline 0800 1111 card given. Also NHS 24 on 111.",
    "Parents' evening {weekday} {dm}; slot {time}, rm {room}.",
    "Food bank voucher x{b} (£{money} value); referral via CAB, ref {ref6}.",
    "Lunch debt £{money} cleared; {a} meals @ £{price}.",
    "Tax code {taxcode} on the payslip mum brought in.",
    "Q{q} {year} data:\n* {pct}% attendance\n* up {b} pts on Q{q1}",
]
_FORENAMES: Final = ["Orla", "Finlay", "Catriona", "Euan", "Kirsty", "Siobhán", "Archie", "Eòin"]
_SURNAMES: Final = ["Munro", "MacDonald", "Ferguson", "Kerr-Lindsay", "Baird", "O'Hara"]
_AREAS: Final = ["PH", "ML", "TD", "DG", "KA", "HS", "ZE", "KW"]
_MOBILE: Final = ["7734", "7850", "7956", "7415"]
_LANDLINES: Final = ["0141", "01382", "01738", "01592"]


def _value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt in ways neither the in-sample set nor v1 uses."""
    if label == "CHI":
        c = valid_chi(rnd)
        return rnd.choice([f"{c[:3]} {c[3:6]} {c[6:]}", f"{c[:3]}-{c[3:6]}-{c[6:]}", f"{c[:6]}/{c[6:]}", c])
    if label == "NHS":
        d = valid_nhs(rnd).replace(" ", "")
        return rnd.choice([f"{d[:3]} {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]} {d[6:]}", d])
    if label == "SCN":
        s = valid_scn(rnd)
        return rnd.choice([f"{s[:3]}-{s[3:6]}-{s[6:]}", f"{s[:4]} {s[4:]}", s])
    if label == "PHONE":
        return spelt_phone(
            rnd,
            _LANDLINES,
            lambda area, local: [f"{area}-{local[:3]}-{local[3:]}", f"({area}) {local[:3]} {local[3:]}"],
            _MOBILE,
            lambda m: [
                f"0{m[:4]}-{m[4:]}",
                f"0{m[:4]} {m[4:7]} {m[7:]}",
                f"0044 {m[:4]} {m[4:]}",
                f"+44-{m[:4]}-{m[4:]}",
            ],
        )
    if label == "EMAIL":
        user = rnd.choice(
            [
                f"{forename[0]}.{surname}".replace("'", ""),
                f"{forename.lower()}_{surname.lower()}{rnd.randint(2005, 2015)}".replace("'", ""),
                f"{surname.lower()}.family+school".replace("'", ""),
            ]
        )
        domain = rnd.choice(["Fife.gov.uk", "hotmail.co.uk", "btinternet.com", "GMAIL.COM"])
        return f"{unaccented(user)}@{domain}"
    if label == "POSTCODE":
        outward, inward = f"{rnd.choice(_AREAS)}{rnd.randint(1, 20)}", inward_code(rnd)
        return rnd.choice(
            [f"{outward} {inward}", f"{outward}{inward}".lower(), f"{outward.title()} {inward.lower()}"]
        )
    if label == "NINO":
        return spelt_nino(
            rnd,
            lambda p, d, s: [
                f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}".lower(),
                f"{p} {d} {s}",
                f"{p}{d} {s}",
                f"{p}{d[:2]}-{d[2:4]}-{d[4:]}{s}",
            ],
        )
    if label == "DATE":
        day, month, year = day_month_year(rnd)
        mon = MONTH_NAMES[month - 1][:3]
        return rnd.choice(
            [
                f"{day}/{month}/{year % 100:02d}",
                f"{day:02d}.{month:02d}.{year % 100:02d}",
                f"{day}-{mon}-{year}",
                f"{day:02d} {mon.upper()} {year}",
                f"{day}/{month}/{year}",
                f"{year}/{month:02d}/{day:02d}",
                f"{MONTH_NAMES[month - 1]} {ordinal(day)} {year}",
                f"{mon}. {day} {year}",
                f"{day:02d}{mon}{year}",
                f"{ordinal(day)} {mon} {year % 100:02d}",
            ]
        )
    return rnd.choice(
        [
            f"{forename}'s",
            f"{surname.upper()} family",
            f"Mr {surname}",
            f"{forename[0]}. {surname}",
            unaccented(forename),
        ]
    )


def _fields(rnd: random.Random) -> dict[str, object]:
    month = rnd.randint(1, 12)
    year = rnd.randint(2015, 2025)
    p = rnd.randint(1, 6)
    q = rnd.randint(1, 4)
    return {
        "a": rnd.randint(2, 40),
        "b": rnd.randint(1, 9),
        "time": rnd.choice(
            [
                f"{rnd.randint(8, 17)}:{rnd.choice(['00', '15', '30', '45'])}",
                f"{rnd.randint(1, 11)}.30pm",
                f"{rnd.randint(8, 17)}{rnd.choice(['00', '30'])}hrs",
            ]
        ),
        "kg": f"{rnd.randint(3, 40)}.{rnd.randint(0, 9)}",
        "cm": rnd.randint(50, 160),
        "dm": rnd.choice([f"{rnd.randint(1, 28)}/{month:02d}", f"{ordinal(rnd.randint(1, 28))}"]),
        "caseref": f"SW/{year}/{rnd.randint(0, 99999):05d}",
        "money": rnd.choice(
            [
                f"{rnd.randint(5, 999)}",
                f"{rnd.randint(1, 3)},{rnd.randint(0, 999):03d}.00",
                f"{rnd.randint(1, 99)}.{rnd.randint(0, 99):02d}",
            ]
        ),
        "ext": rnd.randint(2000, 7999),
        "room": rnd.choice(
            [
                f"{rnd.randint(1, 3)}.{rnd.randint(1, 20):02d}",
                f"B{rnd.randint(1, 30)}",
                f"{rnd.randint(1, 3)}/{rnd.randint(1, 20)}",
            ]
        ),
        "month_year": f"{MONTH_NAMES[month - 1][:3]} {year + 1}",
        "pct": f"{rnd.randint(40, 99)}.{rnd.randint(0, 9)}",
        "month": MONTH_NAMES[month - 1][:3],
        "weekday": rnd.choice(WEEKDAYS),
        "ref8": f"{rnd.randint(0, 99999999):08d}",
        "ref10": f"{rnd.randint(0, 9999999999):010d}",
        "ref6": f"{rnd.randint(0, 999999):06d}",
        "p": p,
        "p1": p + 1,
        "year": year,
        "yy": f"{(year + 1) % 100:02d}",
        "bus": rnd.choice(["X59", "7A", "23", "X26"]),
        "sortcode": f"{rnd.randint(80, 83)}-{rnd.randint(10, 99)}-{rnd.randint(10, 99)}",
        "price": f"{rnd.randint(1, 3)}.{rnd.choice(['00', '30', '50', '75'])}",
        "taxcode": rnd.choice(["1257L", "BR", "K475", "0T"]),
        "q": q,
        "q1": q - 1 if q > 1 else 4,
    }


def held_out_v2_notes(per_label: int = 80, clean: int = 800, seed: int = 13) -> list[Note]:
    """Held out until the third pass tuned on its misses (in-sample now): shorthand and layout."""
    names = (_FORENAMES, _SURNAMES)
    return build_notes(_TEMPLATES, _CLEAN, _value, names, per_label, clean, seed, _fields)
