"""Recording errors, injected into an agency's copy of a child's identifiers and tagged in the ground truth.

Each agency has an `ErrorProfile` of rates. `inject` mutates one record's identifier fields and returns
the tags of the errors it applied. The tags go to ``truth.csv``, so linkage quality can be broken down by
error type.
"""

from __future__ import annotations

import datetime as dt
import random

from pydantic import BaseModel, ConfigDict, Field

from broker.synth.names import VARIANTS
from pseudonymise.checkdigits import chi_is_valid

Record = dict[str, str]

# QWERTY neighbours for keyboard slips, and characters OCR confuses.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ADJACENT = {
    c: row[max(0, i - 1) : i] + row[i + 1 : i + 2] for row in _KEYBOARD_ROWS for i, c in enumerate(row)
}
_OCR = {"m": "rn", "rn": "m", "l": "1", "o": "0", "i": "l", "e": "c", "cl": "d", "u": "v"}
_MAC = ("Mac", "Mc")


class ErrorProfile(BaseModel):
    """Per-record error rates for one agency's extract (probabilities in [0, 1])."""

    model_config = ConfigDict(frozen=True)

    typo: float = Field(0.015, ge=0, le=1, description="per name field: keyboard slip, transposition, OCR")
    nickname: float = Field(
        0.12, ge=0, le=1, description="of forenames with a known nickname or variant: recorded as that"
    )
    mac_mc: float = Field(0.25, ge=0, le=1, description="of Mac/Mc surnames: the other spelling or case")
    punctuation_case: float = Field(0.02, ge=0, le=1, description="apostrophes, hyphens, upper case dropped")
    name_order_swap: float = Field(0.004, ge=0, le=1)
    surname_change: float = Field(0.01, ge=0, le=1, description="another surname, e.g. after re-partnering")
    surname_change_looked_after: float = Field(0.10, ge=0, le=1)
    dob_day_month_swap: float = Field(0.008, ge=0, le=1, description="when the day is 12 or less")
    dob_default: float = Field(0.002, ge=0, le=1, description="day and month defaulted to 1 January")
    dob_format: float = Field(0.004, ge=0, le=1, description="DD/MM/YYYY instead of ISO")
    sex_code: float = Field(0.004, ge=0, le=1, description="1/2/U instead of M/F")
    chi_missing: float = Field(0.0, ge=0, le=1)
    chi_leading_zero_lost: float = Field(0.0, ge=0, le=1, description="of CHIs starting with 0 (Excel)")
    chi_invalid_check: float = Field(0.0, ge=0, le=1)
    scn_duplicate: float = Field(0.0, ge=0, le=1, description="another pupil's SCN")
    postcode_missing: float = Field(0.01, ge=0, le=1)
    postcode_format: float = Field(0.02, ge=0, le=1, description="no space or lower case")


def typo(rng: random.Random, value: str) -> str:
    """One keyboard slip, transposition, deletion, doubling or OCR confusion in ``value``."""
    if len(value) < 3:
        return value + value[-1:]
    i = rng.randrange(1, len(value) - 1)
    kind = rng.randrange(5)
    c = value[i]
    if kind == 0 and c.lower() in _ADJACENT:
        return value[:i] + rng.choice(_ADJACENT[c.lower()]) + value[i + 1 :]
    if kind == 1:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if kind == 2:
        return value[:i] + value[i + 1 :]
    if kind == 3:
        for wrong, right in _OCR.items():
            j = value.find(wrong, 1)
            if j > 0:
                return value[:j] + right + value[j + len(wrong) :]
    return value[:i] + c + value[i:]


def mac_variant(rng: random.Random, surname: str) -> str | None:
    """MacDonald <-> McDonald, or Mcdonald; None when the surname has no Mac/Mc prefix."""
    for prefix in _MAC:
        if surname.startswith(prefix) and len(surname) > len(prefix) and surname[len(prefix)].isupper():
            rest = surname[len(prefix) :]
            other = _MAC[1] if prefix == "Mac" else _MAC[0]
            return rng.choice((other + rest, prefix + rest.lower()))
    return None


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def inject(
    rng: random.Random, record: Record, profile: ErrorProfile, *, looked_after: bool = False
) -> list[str]:
    """Apply ``profile`` to the identifier fields present in ``record``; return the sorted error tags."""
    tags: list[str] = []
    p = profile
    if "surname" in record:
        change = p.surname_change_looked_after if looked_after else p.surname_change
        if rng.random() < change:
            other = record["surname"]
            new = rng.choice(("Smith", "Brown", "Wilson", "Kelly", "Grant", "Hughes", "Docherty", "Reid"))
            record["surname"] = f"{other}-{new}" if rng.random() < 0.4 else new
            tags.append("surname_change")
        variant = mac_variant(rng, record["surname"])
        if variant is not None and rng.random() < p.mac_mc:
            record["surname"] = variant
            tags.append("mac_mc")
    if "forename" in record:
        variants = VARIANTS.get(record["forename"])
        if variants and rng.random() < p.nickname:
            record["forename"] = rng.choice(variants)
            tags.append("nickname")
    for name_field in ("forename", "surname"):
        if name_field in record and rng.random() < p.typo:
            record[name_field] = typo(rng, record[name_field])
            tags.append(f"typo_{name_field}")
    if "forename" in record and "surname" in record:
        if rng.random() < p.punctuation_case:
            record["surname"] = record["surname"].upper().replace("'", "").replace("-", " ")
            record["forename"] = record["forename"].upper()
            tags.append("name_punctuation_case")
        if rng.random() < p.name_order_swap:
            record["forename"], record["surname"] = record["surname"], record["forename"]
            tags.append("name_order_swap")
    if "dob" in record:
        tags += _dob_errors(rng, record, p)
    if record.get("sex") in ("M", "F") and rng.random() < p.sex_code:
        record["sex"] = rng.choice(({"M": "1", "F": "2"}[record["sex"]], "U"))
        tags.append("sex_code")
    if record.get("chi"):
        tags += _chi_errors(rng, record, p)
    if record.get("postcode"):
        if rng.random() < p.postcode_missing:
            record["postcode"] = ""
            record["data_zone"] = ""
            tags.append("postcode_missing")
        elif rng.random() < p.postcode_format:
            pc = record["postcode"]
            record["postcode"] = pc.replace(" ", "") if rng.random() < 0.5 else pc.lower()
            tags.append("postcode_format")
    return sorted(tags)


def _dob_errors(rng: random.Random, record: Record, p: ErrorProfile) -> list[str]:
    dob = _date(record["dob"])
    if dob is None:
        return []
    tags = []
    if dob.day <= 12 and dob.day != dob.month and rng.random() < p.dob_day_month_swap:
        dob = dt.date(dob.year, dob.day, dob.month)
        tags.append("dob_day_month_swap")
    elif rng.random() < p.dob_default:
        dob = dt.date(dob.year, 1, 1)
        tags.append("dob_default_0101")
    record["dob"] = dob.isoformat()
    if rng.random() < p.dob_format:
        record["dob"] = f"{dob:%d/%m/%Y}"
        tags.append("dob_format")
    return tags


def _chi_errors(rng: random.Random, record: Record, p: ErrorProfile) -> list[str]:
    chi = record["chi"]
    if rng.random() < p.chi_missing:
        record["chi"] = ""
        return ["chi_missing"]
    if chi.startswith("0") and rng.random() < p.chi_leading_zero_lost:
        record["chi"] = chi[1:]
        return ["chi_leading_zero_lost"]
    if rng.random() < p.chi_invalid_check:
        # Step the check digit by 1-9; with both mod-11 and mod-10 in use, re-check it fails both.
        for step in rng.sample(range(1, 10), 9):
            wrong = f"{chi[:9]}{(int(chi[9]) + step) % 10}"
            if not chi_is_valid(wrong):
                record["chi"] = wrong
                return ["chi_invalid_check"]
    return []
