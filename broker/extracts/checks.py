"""Reading and checking a submitted extract against its dataset definition.

Everything here reports columns, row numbers and rule ids, never values: the receipt, the audit
event and the logs are built from :class:`Problem` objects only. Row numbers count data rows from 1
(the header is not a row), as ``broker pseudonymise`` reports them.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from agreements.model import Dataset
from agreements.model import Field as DatasetField
from pseudonymise.matchkeys import KeyType
from pseudonymise.scan import Scanner
from pseudonymise.spec import token_column
from pseudonymise.tokens import BrokerRekeyer, Stage2Column, TokenInvalid

MAX_PROBLEMS: Final = 1000
TOKEN_SCHEMA: Final = {"_row": pl.Int64, "key_type": pl.String, "digest": pl.Binary}
FORMATS: Final = ("csv", "parquet")
_BOOLEANS: Final = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an extract: where (row, column) and which rule, never the value."""

    rule: str
    detail: str
    row: int | None = None
    column: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "rule": self.rule, "detail": self.detail}


class ExtractRefused(Exception):
    """The whole extract is refused (status ``rejected`` or ``quarantined``) for the listed problems."""

    def __init__(self, status: str, problems: list[Problem], rows_total: int = 0) -> None:
        super().__init__(f"extract {status}: {sorted({p.rule for p in problems})}")
        self.status = status
        self.problems = problems
        self.rows_total = rows_total


@dataclass
class Checked:
    """An extract that passed the whole-file checks; ``bad_rows`` maps row number -> its problems."""

    payload: pl.DataFrame  # _row + payload/geography/free_text columns, typed
    tokens: pl.DataFrame  # _row, key_type, digest (stage-2, 32 bytes)
    rows_total: int
    bad_rows: dict[int, list[Problem]] = field(default_factory=dict)

    def reject_row(self, problem: Problem) -> None:
        assert problem.row is not None
        self.bad_rows.setdefault(problem.row, []).append(problem)

    def good(self) -> pl.DataFrame:
        """``_row`` of every row without a problem so far."""
        return self.payload.select("_row").filter(~pl.col("_row").is_in(list(self.bad_rows)))


def token_columns(dataset: Dataset) -> dict[str, KeyType]:
    """Token column name -> key type, for the match keys the dataset declares."""
    return {token_column(KeyType(k)): KeyType(k) for k in dataset.match_keys}


def kept_fields(dataset: Dataset) -> list[DatasetField]:
    """The fields an extract carries as values: everything except the raw linkage keys."""
    return [f for f in dataset.fields if f.cls != "linkage_key"]


def read_table(path: Path, file_format: str) -> pl.DataFrame:
    """Read the whole upload; a file cut short or malformed is refused as ``unreadable``."""
    if file_format == "csv":
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            if size:
                handle.seek(size - 1)
                last = handle.read(1)
        if size == 0 or last != b"\n":
            raise ExtractRefused(
                "rejected",
                [Problem("unreadable", "The file does not end with a complete row: it looks truncated.")],
            )
        try:
            with path.open(newline="", encoding="utf-8-sig") as text:
                header = next(csv.reader(text))
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError, csv.Error, StopIteration):
            # pyarrow's message quotes the offending line: never pass it on.
            raise ExtractRefused(
                "rejected",
                [
                    Problem(
                        "unreadable",
                        "The CSV cannot be parsed: a row has the wrong number of fields "
                        "or a quote is not closed (truncated or malformed file).",
                    )
                ],
            ) from None
    else:
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError):
            raise ExtractRefused(
                "rejected",
                [Problem("unreadable", "The Parquet file cannot be read (truncated or not Parquet).")],
            ) from None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def check_columns(frame: pl.DataFrame, dataset: Dataset) -> None:
    """The columns must be exactly the dataset's token columns plus its non-key fields."""
    expected = [*token_columns(dataset), *(f.name for f in kept_fields(dataset))]
    problems = [
        Problem("columns", "Declared column is missing.", column=c)
        for c in expected
        if c not in frame.columns
    ]
    problems += [
        Problem("columns", "Column is not declared in the agreement's dataset definition.", column=c)
        for c in frame.columns
        if c not in expected
    ]
    if len(set(frame.columns)) != len(frame.columns):
        problems.append(Problem("columns", "A column name appears more than once."))
    if problems:
        raise ExtractRefused("rejected", problems, frame.height)


def _typed(column: pl.Series, spec: DatasetField) -> pl.Series:
    """The column cast to the field's type; cells that do not convert become null."""
    text = column.cast(pl.String, strict=False) if column.dtype != pl.String else column
    if spec.type == "integer":
        return (
            column.cast(pl.Int64, strict=False)
            if column.dtype.is_integer()
            else text.str.strip_chars().cast(pl.Int64, strict=False)
        )
    if spec.type == "number":
        return (
            column.cast(pl.Float64, strict=False)
            if column.dtype.is_numeric()
            else text.str.strip_chars().cast(pl.Float64, strict=False)
        )
    if spec.type == "boolean":
        if column.dtype == pl.Boolean:
            return column
        return (
            text.str.strip_chars()
            .str.to_lowercase()
            .replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
        )
    if spec.type == "date":
        if column.dtype == pl.Date:
            return column
        return text.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    return text


def _rows(mask: pl.Series) -> list[int]:
    return (mask.arg_true() + 1).to_list()


def check_values(frame: pl.DataFrame, dataset: Dataset) -> tuple[pl.DataFrame, list[Problem]]:
    """Typed payload columns (plus ``_row``) and the per-cell problems: type, range, allowed values."""
    problems: list[Problem] = []
    typed: list[pl.Series] = [pl.Series("_row", range(1, frame.height + 1), dtype=pl.Int64)]
    for spec in kept_fields(dataset):
        raw = frame[spec.name]
        value = _typed(raw, spec).alias(spec.name)
        present = raw.is_not_null() & (raw.cast(pl.String, strict=False).str.strip_chars() != "")
        problems += [
            Problem("type", f"Value is not a valid {spec.type}.", row=r, column=spec.name)
            for r in _rows(present & value.is_null())
        ]
        value = value.set(~present, None) if value.dtype == pl.String else value
        if spec.allowed is not None:
            outside = value.is_not_null() & ~value.cast(pl.String).is_in(spec.allowed)
            problems += [
                Problem("allowed", "Value is not one of the allowed values.", row=r, column=spec.name)
                for r in _rows(outside)
            ]
        for bound, op in ((spec.min, "lt"), (spec.max, "gt")):
            if bound is None or spec.type not in ("integer", "number", "date"):
                continue
            limit: float | date = bound
            if spec.type == "date" and not isinstance(bound, date):
                continue
            breach = (value < limit) if op == "lt" else (value > limit)
            problems += [
                Problem(
                    "range",
                    f"Value is {'below the minimum' if op == 'lt' else 'above the maximum'}.",
                    row=r,
                    column=spec.name,
                )
                for r in _rows(breach.fill_null(False))
            ]
        typed.append(value)
    return pl.DataFrame(typed), problems


def rekey_tokens(
    frame: pl.DataFrame, dataset: Dataset, rekeyer: BrokerRekeyer, link_version: int
) -> tuple[pl.DataFrame, list[Problem]]:
    """Stage-2 digests for every stage-1 token cell, and per-row problems for cells that are not one.

    Each token column is checked and re-keyed at once (``BrokerRekeyer.stage2_column``). A token under
    another linkage key version refuses the whole extract (the agency used a stale key): every row
    would silently fail to link otherwise.
    """
    parts: list[pl.DataFrame] = []
    problems: list[Problem] = []
    stale: list[int] = []
    columns = token_columns(dataset)

    def rekey(column: str) -> Stage2Column:
        texts = frame[column].cast(pl.String, strict=False).to_arrow()
        return rekeyer.stage2_column(texts, key_type=columns[column], link_version=link_version)

    # The regex check and the HMAC loop run outside the GIL, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        rekeyed_columns = list(pool.map(rekey, columns))
    for (column, key_type), rekeyed in zip(columns.items(), rekeyed_columns, strict=True):
        for row, reason in rekeyed.refused:
            if reason is TokenInvalid.WRONG_KEY_VERSION:
                stale.append(row + 1)
            else:
                problems.append(Problem("token", f"Not a stage-1 token ({reason.value}).", row + 1, column))
        parts.append(
            pl.DataFrame(
                [
                    pl.Series("_row", np.asarray(rekeyed.rows, dtype=np.int64) + 1),
                    pl.Series("key_type", [key_type.value], pl.String).new_from_index(0, len(rekeyed.rows)),
                    pl.Series("digest", rekeyed.digests, dtype=pl.Binary),
                ]
            )
        )
    if stale:
        raise ExtractRefused(
            "rejected",
            [
                Problem(
                    "key_version",
                    f"Tokens were made with another linkage key version; this agreement uses "
                    f"version {link_version}. Fetch the current key and pseudonymise again.",
                    row=stale[0],
                    column=None,
                )
            ],
            frame.height,
        )
    tokens = pl.concat(parts) if parts else pl.DataFrame(schema=TOKEN_SCHEMA)
    return tokens, problems


def scan_free_text(payload: pl.DataFrame, dataset: Dataset, rows: pl.Series) -> list[Problem]:
    """Residual-PII scan of the free-text columns; each finding names column, row and entity type.

    A finding depends on the text alone, so each distinct text of a column is scanned once.
    """
    columns = [f.name for f in dataset.fields if f.cls == "free_text"]
    if not columns:
        return []
    cells = (
        payload.filter(pl.col("_row").is_in(rows.implode()))
        .select("_row", *[pl.col(c).cast(pl.String) for c in columns])
        .unpivot(index="_row", on=columns, variable_name="column", value_name="text")
        .drop_nulls("text")
    )
    if cells.is_empty():
        return []
    scanner = Scanner()
    found = [
        (column, text, entity)
        for column, text in cells.select("column", "text").unique().iter_rows()
        for entity, _score in scanner.scan_text(text)
    ]
    if not found:
        return []
    findings = cells.join(
        pl.DataFrame(
            found, schema={"column": pl.String, "text": pl.String, "entity": pl.String}, orient="row"
        ),
        on=["column", "text"],
    )
    return [
        Problem("residual_pii", f"Free text looks like it holds a {entity}.", row=row, column=column)
        for row, column, entity in findings.select("_row", "column", "entity")
        .sort("_row", "column")
        .iter_rows()
    ]


def read_and_check(
    path: Path, file_format: str, dataset: Dataset, rekeyer: BrokerRekeyer, link_version: int
) -> Checked:
    """All checks; raises :class:`ExtractRefused` for whole-file outcomes, else returns row problems."""
    frame = read_table(path, file_format)
    check_columns(frame, dataset)
    if frame.height == 0:
        raise ExtractRefused("rejected", [Problem("empty", "The extract has a header but no rows.")])
    payload, value_problems = check_values(frame, dataset)
    tokens, token_problems = rekey_tokens(frame, dataset, rekeyer, link_version)
    checked = Checked(payload=payload, tokens=tokens, rows_total=frame.height)
    for problem in value_problems + token_problems:
        checked.reject_row(problem)
    linked = np.zeros(frame.height + 1, dtype=bool)
    linked[tokens["_row"].to_numpy()] = True
    good = checked.good()["_row"].to_numpy()
    for row in np.sort(good[~linked[good]]).tolist():
        checked.reject_row(Problem("no_token", "Row carries no usable match-key token.", row=row))
    findings = scan_free_text(payload, dataset, checked.good()["_row"])
    if findings:
        raise ExtractRefused("quarantined", findings, frame.height)
    return checked
