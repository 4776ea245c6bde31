"""Scoring a set: which entity types catch each label, recall per label, false positives and CPU time."""

from __future__ import annotations

import time
from collections import Counter
from typing import Final

from pseudonymise.scan import CHI_ENTITY, KNOWN_PERSON, SCN_ENTITY, Scanner
from pseudonymise.scan_eval.generate import Note

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
