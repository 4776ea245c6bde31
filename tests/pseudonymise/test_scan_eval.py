"""The labelled-notes evaluations: frozen held-out sets, and recall and false-positive floors.

Floors for the in-sample sets (labelled, v1 to v4) hold what was tuned (docs/pseudonymisation.md);
held-out v5's sit a margin under what was measured, so a regression shows without claiming more than
was seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

from pseudonymise.scan import Scanner
from pseudonymise.scan_eval import (
    ACCEPTED,
    Note,
    evaluate,
    held_out_v1_notes,
    held_out_v2_notes,
    held_out_v3_notes,
    held_out_v4_notes,
    held_out_v5_notes,
    labelled_notes,
)


def _digest(notes: list[Note]) -> str:
    return hashlib.sha256(json.dumps([[n.text, n.label, list(n.names)] for n in notes]).encode()).hexdigest()


def _recall_and_fp(notes: list[Note]) -> tuple[dict[str, float], float]:
    result = evaluate(Scanner(), notes)
    recall, fp_rate = result["recall"], result["false_positive_rate"]
    assert isinstance(recall, dict) and isinstance(fp_rate, float)
    assert set(recall) == set(ACCEPTED)
    return recall, fp_rate


def test_held_out_sets_are_frozen() -> None:
    """An edit to a held-out set would turn it into a tuning set; a new set is the way."""
    assert _digest(held_out_v1_notes()) == "e19e9d74e9b6d2680bdbe03055836f3964d2a37a0ce227f8dbb70987ebe63c95"
    assert _digest(held_out_v2_notes()) == "6a9e5986ddd683aaae33171718cb55f9c8f11d5fce035e33431ed2ca4db1fb52"
    assert _digest(held_out_v3_notes()) == "9c88f0e4bd616bacf248962a82d252ee651c69a4a994598f51c84ee99ef1a48a"
    assert _digest(held_out_v4_notes()) == "57cf00d758151a4c75c7598b85a3b602d1c48121ad053b4da351657f3a6eb87d"
    assert _digest(held_out_v5_notes()) == "cf32de54e089596f35b522bdc634157d0535b5eef866ce10cad7145a4789285a"


def test_sets_share_no_note_or_name() -> None:
    sets = [
        labelled_notes(),
        held_out_v1_notes(),
        held_out_v2_notes(),
        held_out_v3_notes(),
        held_out_v4_notes(),
        held_out_v5_notes(),
    ]
    for i, first in enumerate(sets):
        assert {n.label for n in first} == {*ACCEPTED, None}
        for second in sets[i + 1 :]:
            assert not {n.text for n in first} & {n.text for n in second}
            assert not {name for n in first for name in n.names} & {name for n in second for name in n.names}


@pytest.mark.parametrize(
    ("notes", "max_fp_rate"),
    # v2's 3 false positives in 800 are invoice numbers that pass the NHS Mod-11 check (1 in 11 do); v4's
    # 1 is a 9-digit reference and a count joined by a spaced hyphen into a number passing that check.
    [
        (labelled_notes, 0.0),
        (held_out_v1_notes, 0.0),
        (held_out_v2_notes, 0.004),
        (held_out_v3_notes, 0.0),
        (held_out_v4_notes, 0.001),
    ],
    ids=["in_sample", "held_out_v1", "held_out_v2", "held_out_v3", "held_out_v4"],
)
def test_tuned_sets_are_all_found(notes: Callable[[], list[Note]], max_fp_rate: float) -> None:
    recall, fp_rate = _recall_and_fp(notes())
    assert min(recall.values()) == 1.0, recall
    assert fp_rate <= max_fp_rate


def test_held_out_v5_recall_and_false_positive_rate() -> None:
    """Measured once after the v4-tuned changes, minus about 0.05 (docs/pseudonymisation.md)."""
    recall, fp_rate = _recall_and_fp(held_out_v5_notes())
    for label in ACCEPTED:
        assert recall[label] >= (0.8 if label == "POSTCODE" else 0.95), label
    assert fp_rate <= 0.005
