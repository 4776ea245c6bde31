"""Query results: the released table with per-cell flags, and a CSV rendering safe for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from disclosure.spec import GeographyLevel, Mode

FLAGS = ("suppressed_primary", "suppressed_secondary", "coarsened")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def accuracy_column(measure: str) -> str:
    return f"{measure}.accuracy95"


def safe_text(value: str) -> str:
    """Neutralise spreadsheet formula injection (OWASP): text starting with = + - @ or a control char."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


@dataclass(frozen=True)
class QueryResult:
    """A released table. Withheld values are null; ``accuracy95`` columns give the 95% half-width."""

    mode: Mode
    table: pl.DataFrame
    group_columns: list[str]
    measure_columns: list[str]
    epsilon_spent: float
    geography_requested: GeographyLevel | None
    geography_levels_used: list[GeographyLevel]
    coarsened_areas: int
    min_cell: int
    round_to: int | None
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_dicts()

    def to_csv(self) -> str:
        return rows_to_csv(self.table.columns, self.table.iter_rows())


def rows_to_csv(columns: list[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV with text cells escaped against formula injection and numbers written as numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_text(c) for c in columns])
    for row in rows:
        writer.writerow(
            ["" if v is None else safe_text(v) if isinstance(v, str) else _number(v) for v in row]
        )
    return buffer.getvalue()


def _number(value: object) -> str:
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)
