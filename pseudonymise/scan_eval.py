"""Labelled, synthetic sets of practitioner notes and the residual-PII scan's recall on them.

Notes are generated deterministically from templates: about half carry one planted identifier each (so
recall is measured per entity type), the other half are clean but full of ordinary numbers (times,
amounts, counts, rooms, references) so the false-positive rate means something.

* :func:`labelled_notes` is **in-sample**: its templates and spellings (spaced CHIs, +44 phones,
  lower-case postcodes, written-out dates) were written together with the recognisers, so it checks
  that they do what they claim.
* :func:`held_out_v1_notes` was held out (hyphenated and bracketed numbers, landlines, labels glued to
  values, other date orders, surname-first names, look-alike numbers in clean notes) until issue 4's
  second pass tuned the recognisers on its misses: it is **in-sample now**.
* :func:`held_out_v2_notes` was held out (shorthand, brackets, lists and line breaks, mixed separators
  and case; clean notes of references, money, times, years, rooms, extensions, sort codes, partial
  dates) until the third pass tuned the recognisers on its misses (labels typed against the number,
  CHIs split with a slash, written dates with a two-digit year, a full stop after the month or no
  spaces, names typed without their accent): it is **in-sample now**.
* :func:`held_out_v3_notes` was held out (written and frozen before that pass, from how social
  workers, teachers, health visitors and housing officers write: CHIs with dots, slashes or a spaced
  hyphen, dotted and double-spaced NHS numbers, SCNs behind ``S.C.N.`` or ``SCN-``, NINOs grouped
  3-3, ``glow.sch.uk`` addresses, dates in a dozen spellings; clean notes of centiles, immunisation
  schedules, UPRNs and references) until the fourth pass tuned the recognisers on its misses and
  false positives: it is **in-sample now**.
* :func:`held_out_v4_notes` is **held out**: written and frozen before that pass, from how notes
  reach a case system rather than from any set's misses, and never used to tune (flattened tables
  with tabs and pipes, forwarded e-mails, signatures and Windows line breaks, non-breaking spaces
  and Word's en dash from copy-paste, form boxes read one character apiece, spreadsheet exports: a
  CHI without its leading zero, a date with a midnight time; clean notes dense in look-alikes:
  immunisation schedules, ``6/52`` and ``x 7/7`` shorthand, centiles, doses, bus numbers, case
  references of many shapes, postcode districts and sectors alone, SQA course codes). It is the
  nearer estimate of recall on notes nobody wrote for the scanner; improving against it needs a v5.

Dates: any full date (day, month and year) counts as PII, a date of birth or not: a pattern cannot
tell them apart, a date of birth is often written unlabelled, and exact event dates about a child are
quasi-identifiers themselves. A month and year, a year, a day without a year, a time or a school
session is not, and those fill the clean notes.

Run ``python -m pseudonymise.scan_eval`` to print every set's figures and the CPU time per 1,000 notes
(quoted in docs/pseudonymisation.md).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from pseudonymise import checkdigits
from pseudonymise.normalise import normalise_nino
from pseudonymise.scan import CHI_ENTITY, KNOWN_PERSON, SCN_ENTITY, Scanner

# Label -> the entity types that count as catching it (a valid CHI is also a valid NHS number by the
# same Mod-11 rule, so either type is a correct catch).
ACCEPTED: Final = {
    "CHI": {CHI_ENTITY, "UK_NHS"},
    "NHS": {"UK_NHS", CHI_ENTITY},
    "SCN": {SCN_ENTITY},
    "PHONE": {"PHONE_NUMBER"},
    "EMAIL": {"EMAIL_ADDRESS"},
    "POSTCODE": {"UK_POSTCODE"},
    "NINO": {"UK_NINO"},
    "DATE": {"DATE_TIME"},
    "NAME": {KNOWN_PERSON},
}

_PII_TEMPLATES: Final = {
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
_CLEAN_TEMPLATES: Final = [
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
_AREAS: Final = ["EH", "G", "AB", "DD", "KY", "IV", "PA", "FK"]
_MOBILE: Final = ["07911", "07400", "07812", "07723", "07500"]
_MONTH_NAMES: Final = (
    "January February March April May June July August September October November December".split()  # noqa: SIM905
)
_NINO_LETTERS: Final = "ABCEGHJKLMNPRSTWXYZ"


@dataclass(frozen=True)
class Note:
    text: str
    label: str | None  # None for a clean note
    names: tuple[str, ...] = ()  # the subject's names, passed as the scan's deny-list


def _chi(rnd: random.Random) -> str:
    while True:
        first9 = f"{rnd.randint(1, 28):02d}{rnd.randint(1, 12):02d}{rnd.randint(8, 24):02d}"
        first9 += f"{rnd.randint(0, 999):03d}"
        check = checkdigits.chi_check_digit(first9)
        if check is not None:
            return first9 + str(check)


def _nhs(rnd: random.Random) -> str:
    while True:
        first9 = f"{rnd.randint(400, 799)}{rnd.randint(0, 999999):06d}"
        check = checkdigits.nhs_check_digit(first9)
        if check is not None:
            s = first9 + str(check)
            return f"{s[:3]} {s[3:6]} {s[6:]}" if rnd.random() < 0.5 else s


def _scn(rnd: random.Random) -> str:
    while True:
        first8 = f"{rnd.randint(6, 25):02d}{rnd.randint(0, 999999):06d}"
        check = checkdigits.scn_check_digit(first8)
        if check is not None:
            return first8 + str(check)


def _dmy(rnd: random.Random, first_year: int = 2008, last_year: int = 2024) -> tuple[int, int, int]:
    """Day, month and year of a date that exists (no day after the 28th)."""
    return rnd.randint(1, 28), rnd.randint(1, 12), rnd.randint(first_year, last_year)


def _inward(rnd: random.Random) -> str:
    """A postcode's inward code, from the letters Royal Mail uses there."""
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{rnd.randint(1, 9)}{rnd.choice(letters)}{rnd.choice(letters)}"


def _valid_nino(draw: Callable[[], str]) -> str:
    """Draw spellings until one has a prefix HMRC issues (random letter pairs often are not)."""
    while True:
        nino = draw()
        if isinstance(normalise_nino(nino), str):
            return nino


def _ascii(text: str) -> str:
    """Accents dropped, as people type a name on a keyboard without them."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    if label == "CHI":
        chi = _chi(rnd)
        return f"{chi[:6]} {chi[6:]}" if rnd.random() < 0.3 else chi
    if label == "NHS":
        return _nhs(rnd)
    if label == "SCN":
        return _scn(rnd)
    if label == "PHONE":
        mobile = f"{rnd.choice(_MOBILE)} {rnd.randint(100000, 999999)}"
        return "+44 " + mobile[1:] if rnd.random() < 0.3 else mobile
    if label == "EMAIL":
        return f"{forename.lower().replace('ë', 'e')}.{rnd.randint(1, 99)}@example.org"
    if label == "POSTCODE":
        inward = _inward(rnd)
        postcode = f"{rnd.choice(_AREAS)}{rnd.randint(1, 20)} {inward}"
        return postcode.lower() if rnd.random() < 0.2 else postcode
    if label == "NINO":

        def nino() -> str:
            pairs = " ".join(str(rnd.randint(10, 99)) for _ in range(3))
            return f"{rnd.choice(_NINO_LETTERS)}{rnd.choice(_NINO_LETTERS)} {pairs} {rnd.choice('ABCD')}"

        return _valid_nino(nino)
    if label == "DATE":
        day, month, year = _dmy(rnd)
        if rnd.random() < 0.3:  # written out: presidio's date patterns are numeric only
            return f"{day} {_MONTH_NAMES[month - 1]} {year}"
        return f"{day:02d}/{month:02d}/{year}"
    return f"{forename} {surname}"


_HELD_OUT_TEMPLATES: Final = {
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
_HELD_OUT_CLEAN: Final = [
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
_HELD_OUT_FORENAMES: Final = ["Niamh", "Kenzie", "Ailsa", "Struan", "Mhairi", "Jamie", "Ciarán", "Rowan"]
_HELD_OUT_SURNAMES: Final = ["Sutherland", "MacKenzie", "Ó Briain", "Grant", "Mackay", "Docherty"]
_LANDLINE_AREAS: Final = ["0131", "0141", "01224", "01382", "01463"]


def _held_out_value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt in ways :func:`_value` never uses."""
    if label == "CHI":
        chi = _chi(rnd)
        return rnd.choice([f"{chi[:6]}-{chi[6:]}", f"{chi[:2]} {chi[2:4]} {chi[4:6]} {chi[6:]}", chi])
    if label == "NHS":
        digits = _nhs(rnd).replace(" ", "")
        return rnd.choice([f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", digits])
    if label == "SCN":
        scn = _scn(rnd)
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
        outward, inward = f"{rnd.choice(_AREAS)}{rnd.randint(1, 20)}", _inward(rnd)
        return rnd.choice([f"{outward}{inward}", f"{outward}  {inward}", f"{outward} {inward}".lower()])
    if label == "NINO":

        def nino() -> str:
            digits = f"{rnd.randint(0, 999999):06d}"
            prefix = rnd.choice(_NINO_LETTERS) + rnd.choice(_NINO_LETTERS)
            return rnd.choice(
                [f"{prefix}{digits}{rnd.choice('ABCD')}", f"{prefix}-{digits[:2]}-{digits[2:4]}-{digits[4:]}"]
            )

        return _valid_nino(nino)
    if label == "DATE":
        day, month, year = _dmy(rnd)
        return rnd.choice(
            [
                f"{year}-{month:02d}-{day:02d}",
                f"{day}.{month}.{year}",
                f"{day:02d}-{month:02d}-{year}",
                f"{_MONTH_NAMES[month - 1]} {day}, {year}",
                f"{day}th of {_MONTH_NAMES[month - 1]} {year}",
            ]
        )
    return rnd.choice([f"{surname.upper()}, {forename}", f"{forename.lower()} {surname.lower()}", forename])


# Held out v2: written before the issue-4 recogniser changes, tuned against in the third. Practitioners'
# shorthand: labels glued to values, brackets, bullet lists and line breaks, mixed separators, lower
# and mixed case. DATE covers event dates as well as dates of birth (a full day-month-year date is
# flagged whatever it records; see the module docstring).
_V2_TEMPLATES: Final = {
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
_V2_CLEAN: Final = [
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
_V2_FORENAMES: Final = ["Orla", "Finlay", "Catriona", "Euan", "Kirsty", "Siobhán", "Archie", "Eòin"]
_V2_SURNAMES: Final = ["Munro", "MacDonald", "Ferguson", "Kerr-Lindsay", "Baird", "O'Hara"]
_V2_AREAS: Final = ["PH", "ML", "TD", "DG", "KA", "HS", "ZE", "KW"]
_V2_MOBILE: Final = ["7734", "7850", "7956", "7415"]
_V2_LANDLINES: Final = ["0141", "01382", "01738", "01592"]
_WEEKDAYS: Final = ["Mon", "Tues", "Wed", "Thurs", "Fri"]


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _landline(rnd: random.Random, areas: list[str]) -> tuple[str, str]:
    """An area code and a local number that make up 10 digits after the 0."""
    area = rnd.choice(areas)
    return area, f"{rnd.randint(2, 9)}{rnd.randint(0, 10 ** (10 - len(area)) - 1):0{10 - len(area)}d}"


def _mobile(rnd: random.Random, prefixes: list[str]) -> str:
    """A UK mobile's 10 digits after the 0 (7xxx plus 6)."""
    return f"{rnd.choice(prefixes)}{rnd.randint(100000, 999999)}"


def _v2_value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt in ways neither :func:`_value` nor :func:`_held_out_value` uses."""
    if label == "CHI":
        c = _chi(rnd)
        return rnd.choice([f"{c[:3]} {c[3:6]} {c[6:]}", f"{c[:3]}-{c[3:6]}-{c[6:]}", f"{c[:6]}/{c[6:]}", c])
    if label == "NHS":
        d = _nhs(rnd).replace(" ", "")
        return rnd.choice([f"{d[:3]} {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]} {d[6:]}", d])
    if label == "SCN":
        s = _scn(rnd)
        return rnd.choice([f"{s[:3]}-{s[3:6]}-{s[6:]}", f"{s[:4]} {s[4:]}", s])
    if label == "PHONE":
        if rnd.random() < 0.4:
            area, local = _landline(rnd, _V2_LANDLINES)
            return rnd.choice([f"{area}-{local[:3]}-{local[3:]}", f"({area}) {local[:3]} {local[3:]}"])
        m = _mobile(rnd, _V2_MOBILE)
        return rnd.choice(
            [
                f"0{m[:4]}-{m[4:]}",
                f"0{m[:4]} {m[4:7]} {m[7:]}",
                f"0044 {m[:4]} {m[4:]}",
                f"+44-{m[:4]}-{m[4:]}",
            ]
        )
    if label == "EMAIL":
        user = rnd.choice(
            [
                f"{forename[0]}.{surname}".replace("'", ""),
                f"{forename.lower()}_{surname.lower()}{rnd.randint(2005, 2015)}".replace("'", ""),
                f"{surname.lower()}.family+school".replace("'", ""),
            ]
        )
        return f"{_ascii(user)}@{rnd.choice(['Fife.gov.uk', 'hotmail.co.uk', 'btinternet.com', 'GMAIL.COM'])}"
    if label == "POSTCODE":
        outward, inward = f"{rnd.choice(_V2_AREAS)}{rnd.randint(1, 20)}", _inward(rnd)
        return rnd.choice(
            [f"{outward} {inward}", f"{outward}{inward}".lower(), f"{outward.title()} {inward.lower()}"]
        )
    if label == "NINO":

        def nino() -> str:
            d = f"{rnd.randint(0, 999999):06d}"
            prefix, suffix = rnd.choice(_NINO_LETTERS) + rnd.choice(_NINO_LETTERS), rnd.choice("ABCD")
            return rnd.choice(
                [
                    f"{prefix} {d[:2]} {d[2:4]} {d[4:]} {suffix}".lower(),
                    f"{prefix} {d} {suffix}",
                    f"{prefix}{d} {suffix}",
                    f"{prefix}{d[:2]}-{d[2:4]}-{d[4:]}{suffix}",
                ]
            )

        return _valid_nino(nino)
    if label == "DATE":
        day, month, year = _dmy(rnd)
        mon = _MONTH_NAMES[month - 1][:3]
        return rnd.choice(
            [
                f"{day}/{month}/{year % 100:02d}",
                f"{day:02d}.{month:02d}.{year % 100:02d}",
                f"{day}-{mon}-{year}",
                f"{day:02d} {mon.upper()} {year}",
                f"{day}/{month}/{year}",
                f"{year}/{month:02d}/{day:02d}",
                f"{_MONTH_NAMES[month - 1]} {_ordinal(day)} {year}",
                f"{mon}. {day} {year}",
                f"{day:02d}{mon}{year}",
                f"{_ordinal(day)} {mon} {year % 100:02d}",
            ]
        )
    return rnd.choice(
        [
            f"{forename}'s",
            f"{surname.upper()} family",
            f"Mr {surname}",
            f"{forename[0]}. {surname}",
            _ascii(forename),
        ]
    )


def _v2_fields(rnd: random.Random) -> dict[str, object]:
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
        "dm": rnd.choice([f"{rnd.randint(1, 28)}/{month:02d}", f"{_ordinal(rnd.randint(1, 28))}"]),
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
        "month_year": f"{_MONTH_NAMES[month - 1][:3]} {year + 1}",
        "pct": f"{rnd.randint(40, 99)}.{rnd.randint(0, 9)}",
        "month": _MONTH_NAMES[month - 1][:3],
        "weekday": rnd.choice(_WEEKDAYS),
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


# Held out v3: written before the pass that tuned on v2's misses, from how social workers, teachers, health
# visitors and housing officers write, without reading which v2 notes were missed; tuned against only in
# the fourth pass, after v4 was frozen. CHIs with dots, slashes and a 6+4 split, SCNs with labels and
# prefixes, dates as `3/4/19`, `03.04.2019`, `3rd of April 2019` or ISO after `DOB`, `d.o.b` or `born on`,
# parents' dates of birth, names in any case and position; clean notes of centiles, immunisation
# schedules, UPRNs, case and court references, money, times, rooms, flats, school years and extensions.
_V3_TEMPLATES: Final = {
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
_V3_CLEAN: Final = [
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
_V3_FORENAMES: Final = [
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
_V3_SURNAMES: Final = [
    "McAllister",
    "Gillespie",
    "McGregor",
    "Johnstone",
    "Hamilton",
    "McLaughlin",
    "Paterson",
]
_V3_AREAS: Final = ["G", "EH", "DD", "IV", "KY", "FK", "PA", "AB", "ML"]
_V3_MOBILE: Final = ["7712", "7984", "7547", "7391", "7803"]
_V3_LANDLINES: Final = ["0131", "0141", "01506", "01389", "01475", "01698"]


def _v3_value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt as written in v3's notes (some spellings overlap earlier sets)."""
    if label == "CHI":
        c = _chi(rnd)
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
        d = _nhs(rnd).replace(" ", "")
        return rnd.choice(
            [d, f"{d[:3]} {d[3:6]} {d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}", f"{d[:3]}  {d[3:6]}  {d[6:]}"]
        )
    if label == "SCN":
        s = _scn(rnd)
        return rnd.choice([s, f"{s[:3]} {s[3:6]} {s[6:]}", f"{s[:3]}.{s[3:6]}.{s[6:]}", f"{s[:5]} {s[5:]}"])
    if label == "PHONE":
        if rnd.random() < 0.4:
            area, local = _landline(rnd, _V3_LANDLINES)
            return rnd.choice(
                [
                    f"{area} {local}",
                    f"{area}-{local}",
                    f"{area} {local[:3]} {local[3:]}",
                    f"({area}){local}",
                    f"+44 {area[1:]} {local}",
                ]
            )
        m = _mobile(rnd, _V3_MOBILE)
        return rnd.choice(
            [
                f"0{m[:4]} {m[4:]}",
                f"0{m}",
                f"0{m[:4]}.{m[4:7]}.{m[7:]}",
                f"(0{m[:4]}) {m[4:]}",
                f"+44{m}",
                f"0{m[:3]} {m[3:6]} {m[6:]}",
                f"+44 (0) {m[:4]} {m[4:]}",
            ]
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
        address = f"{_ascii(user)}@{domain}"
        return address.upper() if rnd.random() < 0.15 else address
    if label == "POSTCODE":
        o, i = f"{rnd.choice(_V3_AREAS)}{rnd.randint(1, 45)}", _inward(rnd)
        return rnd.choice([f"{o} {i}", f"{o}{i}", f"{o} {i}".lower(), f"{o}  {i}"])
    if label == "NINO":

        def nino() -> str:
            d = f"{rnd.randint(0, 999999):06d}"
            p, s = rnd.choice(_NINO_LETTERS) + rnd.choice(_NINO_LETTERS), rnd.choice("ABCD")
            return rnd.choice(
                [
                    f"{p}{d}{s}",
                    f"{p}{d}{s}".lower(),
                    f"{p} {d[:3]} {d[3:]} {s}",
                    f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}",
                    f"{p} {d[:2]} {d[2:4]} {d[4:]}",
                    f"{p}{d}",
                    f"{p.lower()} {d} {s.lower()}",
                ]
            )

        return _valid_nino(nino)
    if label == "DATE":
        day, month, year = _dmy(rnd, 1978, 2024)
        full = _MONTH_NAMES[month - 1]
        mon, yy = full[:3], f"{year % 100:02d}"
        return rnd.choice(
            [
                f"{day}/{month}/{yy}",
                f"{day:02d}.{month:02d}.{year}",
                f"{_ordinal(day)} of {full} {year}",
                f"{full} {day} {year}",
                f"{year}-{month:02d}-{day:02d}",
                f"{day:02d}/{month:02d}/{year}",
                f"{day}.{month}.{yy}",
                f"{day}.{month}.{year}",
                f"{day} {mon} {yy}",
                f"{_ordinal(day)} {full}, {year}",
                f"{day}-{month}-{year}",
                f"{day} {full.lower()} {year}",
                f"{full} {_ordinal(day)}, {year}",
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
            _ascii(forename),
        ]
    )


def _v3_fields(rnd: random.Random) -> dict[str, object]:
    day, month, year = _dmy(rnd, 2016, 2026)
    full = _MONTH_NAMES[month - 1]
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
        "weekday": rnd.choice(_WEEKDAYS),
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
                _ordinal(day),
                f"{_ordinal(day)} {full}",
                f"{full[:3]} {day}",
            ]
        ),
        "nth": _ordinal(rnd.randint(1, 28)),
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


# Held out v4: written and frozen before the pass that tuned on v3's misses, from how Scottish
# practitioners' notes arrive rather than from any set's misses: flattened tables (tabs, pipes),
# forwarded e-mails and signatures, Windows line breaks, non-breaking spaces and Word's en dash from
# copy-paste, form boxes flattened to one digit or letter each, spreadsheet exports (a CHI that lost
# its leading zero, a date with a midnight time). Clean notes are dense in look-alikes: immunisation
# schedules, medical shorthand (`6/52`, `3/12`, `x 7/7`), centiles, doses, bus numbers, case references
# of many shapes, postcode districts and sectors alone, SQA course codes, years, times and money.
_V4_TEMPLATES: Final = {
    "CHI": [
        "Child: (see file) | CHI: {v} | GP: Kirkcaldy HC",
        "CHI\t{v}\tGP\tDr Anand\tHV\tyes",
        "From: Health Visiting Team\r\nSubject: RE: new baby, CHI {v}\r\n\r\nHi, details below.",
        "Pls check the CHI is {v} - mum wasn't sure.",
        "CHI/NHS no. {v}",
        "TrakCare shows the child under the old surname ({v}).",
        "CHI number, as in the red book: {v}",
    ],
    "NHS": [
        "NHS No\t{v}\tRegistered GP\tnot known",
        "Registered in England, NHS number {v}; CHI to follow.",
        "From: GP practice (Carlisle)\r\nRe: NHS {v}\r\nRecords sent today.",
        "| NHS number | {v} |",
        "NHS no:- {v}",
        "Old English number {v} on the discharge letter.",
    ],
    "SCN": [
        "SCN: {v}\nStage: S3\nASN: yes",
        "Transfer form: Scottish Candidate Number (SCN) {v}",
        "Pupil ID {v} on SEEMiS",
        "SCN no. {v} - please update the record",
        "Candidate {v}, N4 English",
        "SQA number\t{v}",
        "Scottish cand. no {v}",
    ],
    "PHONE": [
        "Kind regards\nKinship Care Team\nT: {v}",
        "Mob. No. {v}",
        "Mum: {v} / dad: no phone",
        "Contact\tMum\t{v}",
        "Rang {v} x3, no answer.",
        "Gran's number ({v}) now disconnected.",
        "Telephone:- {v}",
    ],
    "EMAIL": [
        "From: Duty SW [mailto:{v}]\r\nSent: Tuesday\r\nTo: Team Leader",
        "Outlook contact: <{v}>",
        "Email - {v}",
        "E: {v}",
        "Mum asked that letters go to {v}.",
        "Copied in {v} (school).",
    ],
    "POSTCODE": [
        "Address:\t14 Mill Wynd, Methil, Leven, Fife, {v}",
        "Current address - 2F1, 10 Leith Walk, EDINBURGH {v}",
        "c/o Gran, 3 Church St, {v}",
        "Moved to {v} (new build).",
        "Post Code: {v}",
        "| Address | 7 Bank Row, Dundee, {v} |",
    ],
    "NINO": [
        "NI No:- {v}",
        "National Ins. no {v}",
        "DWP letter quotes NINO {v}.",
        "NI\t{v}\tUC\tyes",
        "Mum's National Insurance number is {v}",
        "UC50 form: NI {v}",
    ],
    "DATE": [
        "DOB\t{v}\tAge\t14",
        "D.O.B.:- {v}",
        "Date of birth {v} (per SEEMiS)",
        "dob: {v}",
        "Born {v}, 3 weeks early.",
        "Incident reported {v} by the school.",
        "IRD held {v}; outcome: joint investigation.",
        "Child (dob {v}) and mum seen at home.",
        "Case opened {v}.",
    ],
    "NAME": [
        "{v} was seen at school today.",
        "Child | {v} | P5 | St Ninian's PS",
        "Re: {v} - update from the HV",
        "Subject: Concern about {v}\r\n\r\nHi all,",
        "Met with {v} and gran.",
        "{v} disclosed to the class teacher.",
        "Spoke to {v} at the gate.",
    ],
}
_V4_CLEAN: Final = [
    "{imms} given at the clinic; {booster}. Next HV contact {review}.",
    "Wt {kg}kg ({centile} centile), length {cm}cm, OFC {ofc}cm.",
    "{drug}; review in {shorthand}.",
    "Takes the {bus} at {time}, then the {bus} home; about {a} mins.",
    "Case ref {caseref} - {a} contacts logged since {year}.",
    "Family lives in {district}; school is in {district} too.",
    "Patch covers {district}, {district2} and sector {sector}.",
    "Attendance {pct}% ({a}/{c} half-days) in {session}.",
    "S{s} timetable: period {period} {subject}, {course}.",
    "Flat {flat}, {a} stairs; lift out since {weekday}.",
    "Given Childline (0800 1111) and Parentline Scotland (08000 28 22 33) numbers.",
    "Breathing Space 0800 83 85 87 card given to dad.",
    "Budget £{money} for {month} {year}; £{price}/wk mileage.",
    "Contact {weekday} {dm}, {time} for {a} mins.",
    "Item\tQty\tCost\r\nNappies\t{b}\t£{price}\r\nWipes\t{m}\t£{money}",
    "| Day | Time | Venue |\n| {dm} | {time} | Rm {room} |",
    "Kind regards\r\nDuty Team (North), Social Work\r\nExt {ext} - this mailbox is not monitored.",
    "Age {b}y {m}m; reading age {b}.{m}, SDQ {sdq}.",
    "Form CP{a} v{b}.{m}, rev {mon} {year}. Ext. {ext}.",
    "Followed @{handle} on Facebook for school updates.",
    "Temp {temp}C, sats {sats}%, RR {a}; safety-netted.",
    "Minutes: item {b}.{m} agreed, {a} actions, next TAC {month} {year}.",
    "UPRN {uprn} and Home Options ref {ref} checked.",
    "Rm {room}, {time}; {a} attendees, {b} apologies.",
    "Benefit £{money} every {b} weeks; tax year {year}/{yy}.",
]
_V4_FORENAMES: Final = ["Màiri", "Calum", "Freya", "Ruairidh", "Kayden", "Jessica-Leigh", "Oliwia", "Amira"]
_V4_SURNAMES: Final = [
    "O'Donnell",
    "MacPhail",
    "Kowalski",
    "Mackintosh",
    "Dunbar-Smith",
    "Cunningham",
    "Ahmed",
]
_V4_AREAS: Final = ["KY", "G", "EH", "DD", "AB", "PA", "ML", "FK", "KA", "IV"]
_V4_MOBILE: Final = ["7700", "7825", "7969", "7481", "7590"]
_V4_LANDLINES: Final = ["0131", "0141", "01592", "01382", "01224", "01389"]
_V4_DOMAINS: Final = [
    "fife.gov.uk",
    "nhs.net",
    "ggc.scot.nhs.uk",
    "gov.scot",
    "ea.glasgow.sch.uk",
    "edubuzz.org",
    "btinternet.com",
    "hotmail.co.uk",
    "live.com",
    "gmail.com",
]
_NBSP: Final = "\u00a0"


def _v4_value(label: str, rnd: random.Random, forename: str, surname: str) -> str:
    """Each identifier spelt as v4's notes write it: typed, pasted, exported or read off a boxed form."""
    if label == "CHI":
        c = _chi(rnd)
        return rnd.choice(
            [c, f"{c[:6]} {c[6:]}", " ".join(c), f"{c[:6]}{_NBSP}{c[6:]}", f"{c[:6]} – {c[6:]}", str(int(c))]
        )
    if label == "NHS":
        d = _nhs(rnd).replace(" ", "")
        return rnd.choice([d, f"{d[:3]} {d[3:6]} {d[6:]}", _NBSP.join((d[:3], d[3:6], d[6:])), " ".join(d)])
    if label == "SCN":
        s = _scn(rnd)
        return rnd.choice([s, f"{s[:3]} {s[3:6]} {s[6:]}", " ".join(s), f"{s[:3]}-{s[3:6]}-{s[6:]}"])
    if label == "PHONE":
        if rnd.random() < 0.4:
            area, local = _landline(rnd, _V4_LANDLINES)
            return rnd.choice(
                [
                    f"{area} {local[:3]} {local[3:]}",
                    f"{area}-{local[:3]}-{local[3:]}",
                    f"({area}) {local}",
                    f"+44 (0){area[1:]} {local}",
                    f"{area} {local}",
                ]
            )
        m = _mobile(rnd, _V4_MOBILE)
        return rnd.choice(
            [
                f"0{m[:4]} {m[4:]}",
                f"0{m}",
                f"0{m[:4]} {m[4:7]} {m[7:]}",
                f"+44{m}",
                f"+44 {m[:4]} {m[4:]}",
                f"0{m[:2]} {m[2:6]} {m[6:]}",
                f"0{m[:4]}{_NBSP}{m[4:]}",
            ]
        )
    if label == "EMAIL":
        first, last = _ascii(forename).lower(), _ascii(surname).replace("'", "").replace(" ", "").lower()
        user = rnd.choice(
            [
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{last}{first[0]}{rnd.randint(1, 9)}",
                f"{first}_{last}",
            ]
        )
        domain = rnd.choice(_V4_DOMAINS)
        address = f"{user}@{domain}"
        return rnd.choice([address, f"{user.title()}@{domain}", f"{user} @{domain}", address.upper()])
    if label == "POSTCODE":
        o, i = f"{rnd.choice(_V4_AREAS)}{rnd.randint(1, 30)}", _inward(rnd)
        return rnd.choice(
            [f"{o} {i}", f"{o}{i}", f"{o} {i}".lower(), f"{o}{_NBSP}{i}", f"{o.title()} {i.lower()}"]
        )
    if label == "NINO":

        def nino() -> str:
            d = f"{rnd.randint(0, 999999):06d}"
            p, s = rnd.choice(_NINO_LETTERS) + rnd.choice(_NINO_LETTERS), rnd.choice("ABCD")
            return rnd.choice(
                [
                    f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}",
                    f"{p}{d}{s}",
                    " ".join(f"{p}{d}{s}"),
                    f"{p} {d} {s}",
                    f"{p}{d[:2]} {d[2:4]} {d[4:]}{s}",
                    f"{p}{_NBSP}{d[:2]}{_NBSP}{d[2:4]}{_NBSP}{d[4:]}{_NBSP}{s}",
                ]
            )

        return _valid_nino(nino)
    if label == "DATE":
        day, month, year = _dmy(rnd, 1980, 2025)
        full = _MONTH_NAMES[month - 1]
        mon = full[:3]
        weekday = dt.date(year, month, day).strftime("%A")
        return rnd.choice(
            [
                f"{day:02d}/{month:02d}/{year}",
                f"{day}/{month}/{year % 100:02d}",
                f"{day:02d} {month:02d} {year}",
                f"{day:02d}-{mon.upper()}-{year}",
                f"{_ordinal(day)} {mon} {year}",
                f"{mon} {_ordinal(day)} {year}",
                f"{day} {full}, {year}",
                f"{day:02d}/{month:02d}/{year} 00:00",
                f"{weekday} {_ordinal(day)} {full} {year}",
                f"{day} {mon} '{year % 100:02d}",
                f"{day:02d}/{mon}/{year}",
                f"{_ordinal(day)} {mon}. {year}",
            ]
        )
    return rnd.choice(
        [
            f"{forename} {surname}",
            forename,
            surname.upper(),
            f"{forename}'s mum",
            f"Mr & Mrs {surname}",
            f"{forename[0]}.{surname}",
            _ascii(forename),
            surname.replace("'", "’"),
        ]
    )


def _v4_fields(rnd: random.Random) -> dict[str, object]:
    year = rnd.randint(2015, 2026)
    month = _MONTH_NAMES[rnd.randint(0, 11)]
    hour, minutes = rnd.randint(8, 17), rnd.choice(["00", "15", "30", "45"])
    area = f"{rnd.choice(_V4_AREAS)}{rnd.randint(1, 30)}"
    return {
        "a": rnd.randint(2, 60),
        "b": rnd.randint(1, 9),
        "c": rnd.randint(60, 380),
        "m": rnd.randint(0, 11),
        "imms": rnd.choice(
            ["8/12/16wk imms", "8, 12 & 16 week imms", "6-in-1 (8/12/16 weeks)", "12/13m imms", "MenB 8/16wk"]
        ),
        "booster": rnd.choice(
            ["3y4m booster due", "MMR2 at 3 yrs 4 mths", "flu spray Oct", "BCG not needed"]
        ),
        "review": rnd.choice(["at 13-15 months", "27-30m review", "in 6/52", "in 3/12"]),
        "kg": f"{rnd.randint(3, 30)}.{rnd.randint(0, 99):02d}",
        "centile": rnd.choice(["0.4th", "2nd", "9th-25th", "50th-75th", "98th", "91st"]),
        "cm": f"{rnd.randint(50, 130)}.{rnd.randint(0, 9)}",
        "ofc": f"{rnd.randint(35, 52)}.{rnd.randint(0, 9)}",
        "drug": rnd.choice(
            [
                "Calpol 2.5ml QDS",
                "ibuprofen 100mg/5ml, 7.5ml TDS x 5/7",
                "melatonin 2mg nocte",
                "Movicol 1 sachet BD",
                "amoxicillin 250mg/5ml 5ml TDS x 7/7",
                "methylphenidate 18mg mane",
            ]
        ),
        "shorthand": rnd.choice(["6/52", "3/12", "2/7", "1/12", "4-6/52"]),
        "bus": rnd.choice(["X27", "No. 38", "4A", "N22", "66", "X60"]),
        "time": rnd.choice([f"{hour}:{minutes}", f"{hour:02d}{minutes}", f"{hour % 12 or 12}.{minutes}"]),
        "caseref": rnd.choice(
            [
                f"SW/{year}/{rnd.randint(0, 99999):05d}",
                f"CP-{year % 100}-{rnd.randint(0, 9999):04d}",
                f"{rnd.choice(['HB', 'CT', 'CF', 'PT'])}{rnd.randint(0, 999999):06d}",
                f"INC{rnd.randint(0, 9999999):07d}",
                f"Mosaic {rnd.randint(1000000, 9999999)}",
                f"{rnd.randint(10**8, 10**9 - 1)}",
                f"B{rnd.randint(1, 999)}/{year % 100}",
                f"JS/AB/{rnd.randint(1, 9999)}",
            ]
        ),
        "year": year,
        "yy": f"{(year + 1) % 100:02d}",
        "district": area,
        "district2": f"{rnd.choice(_V4_AREAS)}{rnd.randint(1, 30)}",
        "sector": f"{area} {rnd.randint(1, 9)}",
        "pct": f"{rnd.randint(40, 99)}.{rnd.randint(0, 9)}",
        "session": rnd.choice(
            [f"{year}/{(year + 1) % 100:02d}", f"{year}-{(year + 1) % 100:02d}", f"Term {rnd.randint(1, 4)}"]
        ),
        "s": rnd.randint(1, 6),
        "period": rnd.randint(1, 7),
        "subject": rnd.choice(["maths", "English", "PE", "biology", "music"]),
        "course": rnd.choice(["N5 C847 75", "N4 C824 74", "Higher C847 76", "NPA"]),
        "flat": rnd.choice(
            [
                f"{rnd.randint(1, 4)}F{rnd.randint(1, 3)}",
                f"{rnd.randint(0, 3)}/{rnd.randint(1, 3)}",
                f"PF{rnd.randint(1, 3)}",
            ]
        ),
        "weekday": rnd.choice(_WEEKDAYS),
        "money": rnd.choice(
            [
                f"{rnd.randint(5, 999)}",
                f"{rnd.randint(1, 9)},{rnd.randint(0, 999):03d}",
                f"{rnd.randint(1, 99)}.{rnd.randint(0, 99):02d}",
            ]
        ),
        "price": f"{rnd.randint(1, 60)}.{rnd.choice(['00', '25', '50', '75'])}",
        "month": month,
        "mon": month[:3],
        "dm": rnd.choice([f"{rnd.randint(1, 28)}/{rnd.randint(1, 12)}", _ordinal(rnd.randint(1, 28))]),
        "sdq": rnd.randint(3, 38),
        "ext": rnd.randint(2000, 8999),
        "handle": rnd.choice(["FifeCouncil", "NHSFife", "StNiniansPS", "KirkcaldyHigh"]),
        "temp": f"{rnd.randint(36, 39)}.{rnd.randint(0, 9)}",
        "sats": rnd.randint(92, 100),
        "uprn": f"{rnd.choice(['906', '1360', '320'])}{rnd.randint(0, 10**8 - 1):08d}",
        "ref": f"HO{rnd.randint(0, 99999):05d}",
        "room": rnd.choice(
            [
                f"{rnd.randint(0, 3)}.{rnd.randint(1, 40):03d}",
                f"G.{rnd.randint(1, 20):02d}",
                f"B{rnd.randint(1, 30)}",
            ]
        ),
    }


def _small_numbers(rnd: random.Random) -> dict[str, object]:
    return {"a": rnd.randint(1, 99), "b": rnd.randint(1, 12)}


def _notes(
    templates: dict[str, list[str]],
    clean_templates: list[str],
    value: Callable[[str, random.Random, str, str], str],
    names: tuple[list[str], list[str]],
    per_label: int,
    clean: int,
    seed: int,
    clean_fields: Callable[[random.Random], dict[str, object]] = _small_numbers,
) -> list[Note]:
    rnd = random.Random(seed)
    notes: list[Note] = []
    for label, label_templates in templates.items():
        for _ in range(per_label):
            forename, surname = rnd.choice(names[0]), rnd.choice(names[1])
            text = rnd.choice(label_templates).format(v=value(label, rnd, forename, surname))
            notes.append(Note(text, label, (forename, surname)))
    for _ in range(clean):
        text = rnd.choice(clean_templates).format(**clean_fields(rnd))
        notes.append(Note(text, None, (rnd.choice(names[0]), rnd.choice(names[1]))))
    return notes


def labelled_notes(per_label: int = 40, clean: int = 400, seed: int = 7) -> list[Note]:
    """In-sample: ``per_label`` notes per entity label plus ``clean`` notes with no identifier."""
    names = (_FORENAMES, _SURNAMES)
    return _notes(_PII_TEMPLATES, _CLEAN_TEMPLATES, _value, names, per_label, clean, seed)


def held_out_v1_notes(per_label: int = 40, clean: int = 400, seed: int = 11) -> list[Note]:
    """Held out until issue 4 tuned on it (in-sample now): other templates, spellings and names."""
    names = (_HELD_OUT_FORENAMES, _HELD_OUT_SURNAMES)
    return _notes(_HELD_OUT_TEMPLATES, _HELD_OUT_CLEAN, _held_out_value, names, per_label, clean, seed)


def held_out_v2_notes(per_label: int = 80, clean: int = 800, seed: int = 13) -> list[Note]:
    """Held out until the third pass tuned on its misses (in-sample now): shorthand and layout."""
    names = (_V2_FORENAMES, _V2_SURNAMES)
    return _notes(_V2_TEMPLATES, _V2_CLEAN, _v2_value, names, per_label, clean, seed, _v2_fields)


def held_out_v3_notes(per_label: int = 80, clean: int = 800, seed: int = 17) -> list[Note]:
    """Held out until the fourth pass tuned on its misses (in-sample now): how practitioners write."""
    names = (_V3_FORENAMES, _V3_SURNAMES)
    return _notes(_V3_TEMPLATES, _V3_CLEAN, _v3_value, names, per_label, clean, seed, _v3_fields)


def held_out_v4_notes(per_label: int = 80, clean: int = 800, seed: int = 23) -> list[Note]:
    """Held out v4: written before the recognisers were tuned on v3's misses, and never tuned on."""
    names = (_V4_FORENAMES, _V4_SURNAMES)
    return _notes(_V4_TEMPLATES, _V4_CLEAN, _v4_value, names, per_label, clean, seed, _v4_fields)


def evaluate(scanner: Scanner, notes: list[Note]) -> dict[str, object]:
    """Recall per label and the share of clean notes with any finding."""
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    flagged_clean = 0
    clean = 0
    for note in notes:
        found = {entity for entity, _ in scanner.scan_text(note.text, note.names)}
        if note.label is None:
            clean += 1
            flagged_clean += bool(found)
        else:
            totals[note.label] += 1
            hits[note.label] += bool(found & ACCEPTED[note.label])
    return {
        "recall": {label: round(hits[label] / totals[label], 3) for label in sorted(totals)},
        "false_positive_rate": round(flagged_clean / clean, 3) if clean else 0.0,
        "notes": len(notes),
        "clean_notes": clean,
    }


def cpu_ms_per_1000(scanner: Scanner, notes: list[Note], repeat: int = 3) -> float:
    """CPU milliseconds to scan 1,000 notes without a deny-list, as extract submission scans a cell."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for note in notes:
            scanner.scan_text(note.text)
        best = min(best, time.process_time() - start)
    return round(best * 1e6 / len(notes), 1)


if __name__ == "__main__":
    scanner = Scanner()
    sets = {
        "in_sample": labelled_notes(),
        "held_out_v1": held_out_v1_notes(),
        "held_out_v2": held_out_v2_notes(),
        "held_out_v3": held_out_v3_notes(),
        "held_out_v4": held_out_v4_notes(),
    }
    report = {name: evaluate(scanner, notes) for name, notes in sets.items()}
    every_note = [note for notes in sets.values() for note in notes]
    print(json.dumps({**report, "cpu_ms_per_1000_notes": cpu_ms_per_1000(scanner, every_note)}, indent=2))
