"""Named random streams derived from one master seed.

Each part of the generator (geography, households, risk, one stream per agency, ...) draws from its own
stream, keyed by the part's *name* rather than by its position. Adding an agency or a new factor
therefore leaves every other stream, and so every other file, unchanged.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
from faker import Faker


def derive_seed(seed: int, part: str) -> int:
    """A 64-bit seed for ``part``: SHA-256 over the master seed and the part name."""
    digest = hashlib.sha256(f"{seed}\x00{part}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stream(seed: int, part: str) -> random.Random:
    """A private ``random.Random`` for ``part``; never the module-level global generator.

    ``random.Random`` is used rather than numpy because the generator draws one value at a time per
    record, where the stdlib's C implementation is several times faster than numpy scalar calls, and its
    algorithms have been stable across Python versions.
    """
    return random.Random(derive_seed(seed, part))


def faker(seed: int, part: str) -> Faker:
    """An ``en_GB`` Faker seeded for ``part``. Output is only reproducible with the pinned Faker version."""
    fake = Faker("en_GB")
    fake.seed_instance(derive_seed(seed, part))
    return fake


def numpy_stream(seed: int, part: str) -> np.random.Generator:
    """A numpy ``Generator(PCG64)`` for ``part``, for distributions the stdlib lacks (Poisson)."""
    return np.random.Generator(np.random.PCG64(derive_seed(seed, part)))
