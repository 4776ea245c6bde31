"""Held out v1, in-sample since issue 4's second pass tuned the recognisers on its misses.

Hyphenated and bracketed numbers, landlines, labels glued to values, other date orders, surname-first
names; clean notes of look-alike numbers.
"""

from __future__ import annotations

import random
from typing import Final

from pseudonymise.scan_eval.generate import (
    MONTH_NAMES,
    Note,
    build_notes,
    day_month_year,
    inward_code,
    spelt_nino,
    valid_chi,
    valid_nhs,
    valid_scn,
)
from pseudonymise.scan_eval.in_sample import AREAS

_TEMPLATES: Final = {
    "CHI": [
        "CHI:{v} (per health board letter).",
        "Child's CHI number is {v}; checked against the GP record.",
        "Referral form, box 4: {v}.",
    ],
    "NHS": [
        "NHS No. {v} - please quote on correspondence.",
        "The nhs number ({v}) was wrong on the old form.",
        "Patient identifier {v}.",
    ],
    "SCN": ["SCN:{v}", "Scottish Candidate Number {v} carried over at transition.", "Ref. no {v} (SQA)."],
    "PHONE": [
        "Granny's landline: {v}.",
        "Texted the young person at {v} - no reply.",
        "Phone ({v}) goes straight to answerphone.",
    ],
    "EMAIL": [
        "Emailed {v} with the minutes.",
        "Social worker contact - {v}",
        "Reply received from <{v}> this morning.",
    ],
    "POSTCODE": [
        "Lives at Flat 2/1, 14 Kirk Road, {v} with mum.",
        "Temporary accommodation, postcode {v}.",
        "Moved out of the {v} area in June.",
    ],
    "NINO": ["National Insurance: {v}.", "Mum's NI no. is {v} (for the grant).", "NINO:{v}"],
    "DATE": [
        "D.O.B. {v}.",
        "Child was born on {v} according to the birth certificate.",
        "Birthday {v}; party planned at school.",
    ],
    "NAME": [
        "Meeting attended by {v} and the class teacher.",
        "Concerns raised about {v} by the dinner staff.",
        "{v} (child) declined to speak today.",
    ],
}
_CLEAN: Final = [
    "Invoice INV-{a}{b} paid by the council; no further action.",
    "Case conference moved to 14:{a:02d}, Room {b}B.",
    "Scored {a}/{b} on the reading assessment, up from last term.",
    "Bus number {a} to school; journey about {b} minutes.",
    "Referral ticket {a}{b}{a} logged with the housing team.",
    "Spent £{a}.{b:02d} of the £{a}0 budget on uniform.",
    "Week {b} of the programme: {a} tasks done, mood 7/10.",
    "Form version {b}.{a} used; page {a} of {b} missing.",
    "Height {a}{b} cm, weight {b}.{a} kg at the health check.",
    "Followed up after {a} missed sessions; {b} calls made.",
]
_FORENAMES: Final = ["Niamh", "Kenzie", "Ailsa", "Struan", "Mhairi", "Jamie", "Ciarán", "Rowan"]
_SURNAMES: Final = ["Sutherland", "MacKenzie", "Ó Briain", "Grant", "Mackay", "Docherty"]
_LANDLINE_AREAS: Final = ["0131", "0141", "01224", "01382", "01463"]


def _value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt in ways the in-sample set never uses."""
    if label == "CHI":
        chi = valid_chi(rnd)
        return rnd.choice([f"{chi[:6]}-{chi[6:]}", f"{chi[:2]} {chi[2:4]} {chi[4:6]} {chi[6:]}", chi])
    if label == "NHS":
        digits = valid_nhs(rnd).replace(" ", "")
        return rnd.choice([f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", digits])
    if label == "SCN":
        scn = valid_scn(rnd)
        return rnd.choice([scn, f"{scn[:3]} {scn[3:6]} {scn[6:]}"])
    if label == "PHONE":
        if rnd.random() < 0.5:
            area = rnd.choice(_LANDLINE_AREAS)
            number = f"{rnd.randint(200, 999)}{rnd.randint(1000, 9999)}"[: 11 - len(area)]
            return rnd.choice([f"{area} {number}", f"({area}) {number}"])
        mobile = f"7{rnd.choice(['700', '911', '812', '400'])}{rnd.randint(100000, 999999)}"
        return rnd.choice([f"0{mobile}", f"+44{mobile}", f"+44 (0){mobile[:4]} {mobile[4:]}"])
    if label == "EMAIL":
        user = rnd.choice([surname.lower().replace(" ", "").replace("ó", "o"), f"{forename[0]}{surname[:3]}"])
        return f"{user}{rnd.randint(1, 999)}@{rnd.choice(['council.gov.uk', 'nhs.scot', 'mail.co.uk'])}"
    if label == "POSTCODE":
        outward, inward = f"{rnd.choice(AREAS)}{rnd.randint(1, 20)}", inward_code(rnd)
        return rnd.choice([f"{outward}{inward}", f"{outward}  {inward}", f"{outward} {inward}".lower()])
    if label == "NINO":
        return spelt_nino(rnd, lambda p, d, s: [f"{p}{d}{s}", f"{p}-{d[:2]}-{d[2:4]}-{d[4:]}"])
    if label == "DATE":
        day, month, year = day_month_year(rnd)
        return rnd.choice(
            [
                f"{year}-{month:02d}-{day:02d}",
                f"{day}.{month}.{year}",
                f"{day:02d}-{month:02d}-{year}",
                f"{MONTH_NAMES[month - 1]} {day}, {year}",
                f"{day}th of {MONTH_NAMES[month - 1]} {year}",
            ]
        )
    return rnd.choice([f"{surname.upper()}, {forename}", f"{forename.lower()} {surname.lower()}", forename])


def held_out_v1_notes(per_label: int = 40, clean: int = 400, seed: int = 11) -> list[Note]:
    """Held out until issue 4 tuned on it (in-sample now): other templates, spellings and names."""
    names = (_FORENAMES, _SURNAMES)
    return build_notes(_TEMPLATES, _CLEAN, _value, names, per_label, clean, seed)
