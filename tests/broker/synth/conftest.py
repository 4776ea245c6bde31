"""Generated outputs shared by the synth tests (each preset run once per session)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from broker.synth import Config, Manifest, generate, run


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("tiny")
    return out, generate("tiny", 1, out)


@pytest.fixture(scope="session")
def medium(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """30k children: enough for the calibration tolerances, about ten seconds."""
    out = tmp_path_factory.mktemp("medium")
    return out, run(Config(name="calibration", n_children=30_000), 7, out)


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False).fill_null("")


@pytest.fixture(scope="session")
def read() -> Callable[[Path], pl.DataFrame]:
    """Read a generated CSV: every column as text, empty cells as "" (identifiers keep leading zeros)."""
    return _read
