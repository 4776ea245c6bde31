"""Synthetic pastoral notes (free text). A few have an identifier planted in them, with a label.

The ordinary sentences are written so that none of them contains anything an identifier recogniser
should find: no digits, no dates, no names. Only the planted spans are PII. The labels therefore give
the residual-PII scan an exact answer key. Entity types use the scan's names (`pseudonymise.scan`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from broker.synth.population import Child

SENTENCES = (
    "Attended nurture group this week and is settling better in class.",
    "Concerns raised about lateness; family support worker informed.",
    "Appeared tired and hungry at registration; breakfast club offered.",
    "Spoke with guidance about friendship difficulties; will review.",
    "Parent meeting held to discuss attendance and a plan was agreed.",
    "Referred to the school counselling service with parental agreement.",
    "Good progress in reading this term and praised at assembly.",
    "Wellbeing check completed (safe, nurtured); no further action.",
    "Young carer for a parent; homework club offered.",
    "Change of address reported by the family; records updated.",
    "Upset after a disagreement at break; resolved with restorative conversation.",
    "Missed several mornings; attendance officer to contact home.",
    "Uniform and equipment provided through the clothing grant.",
    "Struggling with transition to the new school; buddy arranged.",
    "Named contact for wellbeing concerns updated after review meeting.",
)
ENTITY_TYPES = ("PERSON", "UK_CHI", "UK_SCN", "PHONE_NUMBER", "EMAIL_ADDRESS", "UK_POSTCODE", "UK_NINO")
PLANTED_SHARE = 0.05
_ASCII_LETTERS = re.compile(r"[^a-z]")


@dataclass(frozen=True)
class Label:
    """A planted identifier: the entity type and the character span in the note."""

    entity_type: str
    start: int
    end: int


def pastoral_note(rng: random.Random, child: Child) -> tuple[str, list[Label]]:
    """One or two ordinary sentences, and sometimes one sentence carrying a planted identifier."""
    parts = rng.sample(SENTENCES, k=rng.randint(1, 2))
    text = " ".join(parts)
    if rng.random() >= PLANTED_SHARE:
        return text, []
    kinds = [k for k in ENTITY_TYPES if k != "UK_NINO" or child.household.parent_nino]
    kind = rng.choice(kinds)
    before, value, after = _planted(rng, kind, child)
    start = len(text) + 1 + len(before)
    return f"{text} {before}{value}{after}", [Label(kind, start, start + len(value))]


def _planted(rng: random.Random, kind: str, child: Child) -> tuple[str, str, str]:
    """(text before, the identifier, text after) for one planted sentence."""
    if kind == "PERSON":
        return "Spoke with ", f"{child.forename} {child.surname}", " at lunchtime."
    if kind == "UK_CHI":
        return "Health visitor quoted CHI ", child.chi, " on the referral."
    if kind == "UK_SCN":
        return "Candidate number ", child.scn, " checked with the previous school."
    if kind == "PHONE_NUMBER":
        # Ofcom reserves 07700 900000-900999 for drama, so this can never be a real number.
        return "Mum can be reached on ", f"07700 900{rng.randint(0, 999):03d}", " after work."
    if kind == "EMAIL_ADDRESS":
        local = _ASCII_LETTERS.sub("", child.surname.lower()) or "carer"
        return "Carer email is ", f"{local}{rng.randint(1, 99)}@example.com", " for updates."
    if kind == "UK_POSTCODE":
        return "Family now staying at ", child.household.current[1], " with relatives."
    return "Parent NINO ", child.household.parent_nino, " given for the clothing grant."
