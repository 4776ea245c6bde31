"""Synthetic Scotland: a deterministic generator of children, agencies' extracts and ground truth.

No real personal data is ever used. ``generate("tiny", 1, Path("out"))`` writes one CSV per agency
extract, ``truth.csv``, ``pii_labels.csv``, ``children.csv``, the public ``geography.csv`` lookup
(plus ``schools.csv`` and ``postcodes.csv``) and ``manifest.json``. See ``docs/synthetic-data.md``.
"""

from broker.synth.generator import PRESETS, Config, generate, run
from broker.synth.writer import Manifest

__all__ = ["PRESETS", "Config", "Manifest", "generate", "run"]
