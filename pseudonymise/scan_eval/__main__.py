"""``python -m pseudonymise.scan_eval``: every set's figures and the CPU time per 1,000 notes, as JSON."""

from __future__ import annotations

import json

from pseudonymise.scan import Scanner
from pseudonymise.scan_eval import (
    cpu_ms_per_1000,
    evaluate,
    held_out_v1_notes,
    held_out_v2_notes,
    held_out_v3_notes,
    held_out_v4_notes,
    held_out_v5_notes,
    labelled_notes,
)


def main() -> None:
    scanner = Scanner()
    sets = {
        "in_sample": labelled_notes(),
        "held_out_v1": held_out_v1_notes(),
        "held_out_v2": held_out_v2_notes(),
        "held_out_v3": held_out_v3_notes(),
        "held_out_v4": held_out_v4_notes(),
        "held_out_v5": held_out_v5_notes(),
    }
    report = {name: evaluate(scanner, notes) for name, notes in sets.items()}
    every_note = [note for notes in sets.values() for note in notes]
    print(json.dumps({**report, "cpu_ms_per_1000_notes": cpu_ms_per_1000(scanner, every_note)}, indent=2))


if __name__ == "__main__":
    main()
