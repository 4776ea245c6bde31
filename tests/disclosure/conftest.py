"""Small synthetic linked data for the disclosure tests: public geography plus two datasets."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from disclosure import (
    Catalogue,
    DisclosurePolicy,
    FieldSpec,
    FrameSet,
    GeographyLevel,
    GeographyLookup,
    QueryEngine,
)


def make_geography(n_councils: int = 3, iz_per_council: int = 3, dz_per_iz: int = 4) -> GeographyLookup:
    rows = []
    for c in range(n_councils):
        for i in range(iz_per_council):
            for d in range(dz_per_iz):
                iz = c * iz_per_council + i
                dz = iz * dz_per_iz + d
                # the last data zone of every other intermediate zone is tiny (public population)
                population = 40 if (d == dz_per_iz - 1 and iz % 2 == 0) else 150 + 10 * d
                rows.append((f"S01{dz:06d}", f"S02{iz:06d}", f"S12{c:06d}", population))
    return GeographyLookup(
        pl.DataFrame(rows, schema=["data_zone", "intermediate_zone", "council", "population"], orient="row")
    )


CATALOGUE = Catalogue(
    datasets={
        "education": {
            "data_zone": FieldSpec(kind="geography", dtype="string"),
            "fsm": FieldSpec(kind="categorical", dtype="bool"),
            "stage": FieldSpec(kind="categorical", dtype="string", categories=("P1", "P4", "S2")),
            "attendance": FieldSpec(kind="numeric", dtype="float", lower=0.0, upper=1.0),
        },
        "health": {
            "visits": FieldSpec(kind="numeric", dtype="int", lower=0, upper=20),
            "flag": FieldSpec(kind="categorical", dtype="bool"),
        },
    },
    geography_fields=("education.data_zone",),
    max_subjects=10_000,
)


def make_frames(geography: GeographyLookup, n: int = 3_000, seed: int = 0) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    zones = np.array(sorted(geography.codes(GeographyLevel.data_zone)))
    subjects = np.array([f"child{i:06d}" for i in range(n)])
    education = pl.DataFrame(
        {
            "subject": subjects,
            "data_zone": zones[rng.integers(0, len(zones), n)],
            "fsm": rng.random(n) < 0.25,
            "stage": np.array(["P1", "P4", "S2"])[rng.integers(0, 3, n)],
            "attendance": rng.random(n),
        }
    )
    in_health = rng.random(n) < 0.6
    health = pl.DataFrame(
        {
            "subject": subjects[in_health],
            "visits": rng.integers(0, 25, int(in_health.sum())),
            "flag": rng.random(int(in_health.sum())) < 0.1,
        }
    )
    return {"education": education, "health": health}


class Synthetic:
    """The builders, as a fixture (test modules cannot import conftest under importlib mode)."""

    catalogue = CATALOGUE
    geography = staticmethod(make_geography)
    frames = staticmethod(make_frames)


@pytest.fixture(scope="session")
def synth() -> Synthetic:
    return Synthetic()


@pytest.fixture(scope="session")
def geography() -> GeographyLookup:
    return make_geography()


@pytest.fixture(scope="session")
def frames(geography: GeographyLookup) -> FrameSet:
    return FrameSet(CATALOGUE, make_frames(geography), geography)


@pytest.fixture
def dp_engine(frames: FrameSet) -> QueryEngine:
    return QueryEngine(frames, DisclosurePolicy(mode="dp", min_cell=5, max_epsilon_per_query=2.0))


@pytest.fixture
def sdc_engine(frames: FrameSet) -> QueryEngine:
    return QueryEngine(frames, DisclosurePolicy(mode="sdc", min_cell=5, coarsen_below=100))
