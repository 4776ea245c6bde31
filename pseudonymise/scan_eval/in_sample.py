"""The in-sample set: templates and spellings written together with the recognisers.

Spaced CHIs, +44 phones, lower-case postcodes and written-out dates: it checks that the recognisers do
what they claim, not how they fare on notes nobody wrote for them.
"""

from __future__ import annotations

import random
from typing import Final

from pseudonymise.scan_eval.generate import (
    MONTH_NAMES,
    NINO_LETTERS,
    Note,
    build_notes,
    day_month_year,
    inward_code,
    valid_chi,
    valid_nhs,
    valid_nino,
    valid_scn,
)

_TEMPLATES: Final = {
    "CHI": [
        "Health visitor confirmed CHI {v} on file.",
        "GP letter quotes {v} for the child.",
        "Ref {v} from the health board.",
    ],
    "NHS": ["NHS number {v} given by mum.", "Discharge summary lists {v}.", "Hospital number {v} noted."],
    "SCN": ["Pupil SCN {v} transferred from previous school.", "Candidate number {v} on the SEEMiS record."],
    "PHONE": [
        "Call mum on {v} after 3pm.",
        "Dad's mobile is {v}.",
        "Left voicemail at {v} regarding attendance.",
    ],
    "EMAIL": ["Send the plan to {v} by Friday.", "Carer email {v} confirmed.", "Contact: {v}"],
    "POSTCODE": [
        "Family moved to {v} last month.",
        "New address is 4 Main Street, {v}.",
        "Placement in {v} area.",
    ],
    "NINO": ["Carer NI number {v} for the benefit claim.", "NINO {v} supplied by the young person."],
    "DATE": ["Date of birth {v} confirmed with school.", "DOB {v}.", "Born {v} at home."],
    "NAME": ["Spoke to {v} about attendance.", "{v} was upset at drop-off.", "Home visit: {v} present."],
}
_CLEAN: Final = [
    "Attended {a} of {b} sessions this term; engagement improving.",
    "Review meeting held in Room {a} at 10:30, next review in week {b}.",
    "School reports settled behaviour; {a} late marks since the holidays.",
    "Voucher of £{a} issued for school clothing.",
    "Child enjoyed the football club, scored {a} goals on Saturday.",
    "P{a} class teacher notes good progress in reading level {b}.",
    "Support plan updated; {a} actions agreed, {b} outstanding.",
    "Attendance {a}% over the last {b} weeks.",
    "Family received food parcel; follow-up in {a} days.",
    "Worker to chase housing repair, ticket number pending.",
]
_FORENAMES: Final = [
    "Aileen",
    "Callum",
    "Eilidh",
    "Fraser",
    "Isla",
    "Lewis",
    "Morag",
    "Ruaridh",
    "Skye",
    "Zoë",
]
_SURNAMES: Final = [
    "MacLeod",
    "Campbell",
    "O'Neill",
    "Robertson",
    "Fraser-Hughes",
    "McIntyre",
    "Stewart",
    "Wallace",
]
# Postcode areas, drawn from by held-out v1 too.
AREAS: Final = ["EH", "G", "AB", "DD", "KY", "IV", "PA", "FK"]
_MOBILE: Final = ["07911", "07400", "07812", "07723", "07500"]


def _value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt as the recognisers were first written to find it."""
    if label == "CHI":
        chi = valid_chi(rnd)
        return f"{chi[:6]} {chi[6:]}" if rnd.random() < 0.3 else chi
    if label == "NHS":
        return valid_nhs(rnd)
    if label == "SCN":
        return valid_scn(rnd)
    if label == "PHONE":
        mobile = f"{rnd.choice(_MOBILE)} {rnd.randint(100000, 999999)}"
        return "+44 " + mobile[1:] if rnd.random() < 0.3 else mobile
    if label == "EMAIL":
        return f"{forename.lower().replace('ë', 'e')}.{rnd.randint(1, 99)}@example.org"
    if label == "POSTCODE":
        inward = inward_code(rnd)
        postcode = f"{rnd.choice(AREAS)}{rnd.randint(1, 20)} {inward}"
        return postcode.lower() if rnd.random() < 0.2 else postcode
    if label == "NINO":

        def nino() -> str:
            pairs = " ".join(str(rnd.randint(10, 99)) for _ in range(3))
            return f"{rnd.choice(NINO_LETTERS)}{rnd.choice(NINO_LETTERS)} {pairs} {rnd.choice('ABCD')}"

        return valid_nino(nino)
    if label == "DATE":
        day, month, year = day_month_year(rnd)
        if rnd.random() < 0.3:  # written out: presidio's date patterns are numeric only
            return f"{day} {MONTH_NAMES[month - 1]} {year}"
        return f"{day:02d}/{month:02d}/{year}"
    return f"{forename} {surname}"


def labelled_notes(per_label: int = 40, clean: int = 400, seed: int = 7) -> list[Note]:
    """In-sample: ``per_label`` notes per entity label plus ``clean`` notes with no identifier."""
    names = (_FORENAMES, _SURNAMES)
    return build_notes(_TEMPLATES, _CLEAN, _value, names, per_label, clean, seed)
