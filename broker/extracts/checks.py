"""Reading and checking a submitted extract against its dataset definition.

Everything here reports columns, row numbers and rule ids, never values: the receipt, the audit
event and the logs are built from :class:`Problem` objects only. Row numbers count data rows from 1
(the header is not a row), as ``broker pseudonymise`` reports them.
"""

from __future__ import annotations

import csv
import struct
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
_INLINE: Final = 12  # Arrow and polars hold a string of up to 12 bytes inside its 16-byte view
#: the leading bytes of a stage-2 digest the broker keeps: all that linkage (its link tokens) and the token
#: index (an entry's key and check) compare, 128 bits of HMAC output
DIGEST_KEPT: Final = 16
_WORDS: Final = DIGEST_KEPT // 4  # 4-byte words a kept digest spans
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


def read_table(path: Path, file_format: str) -> pa.Table:
    """Read the whole upload; a file cut short or malformed is refused as ``unreadable``.

    The table stays in Arrow: only the payload columns become polars columns, the token columns
    (most of the bytes) are checked and hashed from Arrow's own buffers.
    """
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
    return table


def check_columns(table: pa.Table, dataset: Dataset) -> None:
    """The columns must be exactly the dataset's token columns plus its non-key fields, each holding
    single values.

    A column the agreement does not declare is named by its position, never by its header: a file
    without a header row has data there (a child's number, name or date of birth), and the receipt is
    stored and shown.
    """
    expected = [*token_columns(dataset), *(f.name for f in kept_fields(dataset))]
    problems = [
        Problem("columns", "Declared column is missing.", column=c)
        for c in expected
        if c not in table.column_names
    ]
    problems += [
        Problem(
            "columns",
            f"Column {position} (counting from 1) is not declared in the agreement's dataset definition. "
            "Its header is not repeated here, as it may be data: check that the file has a header row.",
        )
        for position, c in enumerate(table.column_names, start=1)
        if c not in expected
    ]
    problems += [
        Problem("columns", "Column holds lists or records, not single values.", column=field.name)
        for field in table.schema
        if field.name in expected and pa.types.is_nested(field.type)
    ]
    if len(set(table.column_names)) != len(table.column_names):
        problems.append(Problem("columns", "A column name appears more than once."))
    if problems:
        raise ExtractRefused("rejected", problems, table.num_rows)


def _typed(column: pl.Series, text: pl.Series, stripped: pl.Series, spec: DatasetField) -> pl.Series:
    """The column cast to the field's type; cells that do not convert become null. ``text`` is the column
    as text and ``stripped`` that text without surrounding whitespace (the caller needs it too)."""
    if spec.type == "integer":
        return (
            column.cast(pl.Int64, strict=False)
            if column.dtype.is_integer()
            else stripped.cast(pl.Int64, strict=False)
        )
    if spec.type == "number":
        return (
            column.cast(pl.Float64, strict=False)
            if column.dtype.is_numeric()
            else stripped.cast(pl.Float64, strict=False)
        )
    if spec.type == "boolean":
        if column.dtype == pl.Boolean:
            return column
        return stripped.str.to_lowercase().replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
    if spec.type == "date":
        if column.dtype == pl.Date:
            return column
        return stripped.str.to_date("%Y-%m-%d", strict=False)
    return text


def _rows(mask: pl.Series) -> list[int]:
    return (mask.arg_true() + 1).to_list()


def check_values(table: pa.Table, dataset: Dataset) -> tuple[pl.DataFrame, list[Problem]]:
    """Typed payload columns (plus ``_row``) and the per-cell problems: type, range, allowed values."""
    problems: list[Problem] = []
    typed: list[pl.Series] = [pl.Series("_row", range(1, table.num_rows + 1), dtype=pl.Int64)]
    for spec in kept_fields(dataset):
        raw = pl.Series(spec.name, table.column(spec.name))
        text = raw.cast(pl.String, strict=False) if raw.dtype != pl.String else raw
        stripped = text.str.strip_chars()
        value = _typed(raw, text, stripped, spec).alias(spec.name)
        present = raw.is_not_null() & (stripped != "")
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


def _token_texts(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A token column as Arrow text: a string column as it is (no copy), any other type cast as polars
    casts it to text (a Parquet upload may carry numbers or binary there)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pl.Series(column).cast(pl.String, strict=False).to_arrow()


def rekey_tokens(
    table: pa.Table, dataset: Dataset, rekeyer: BrokerRekeyer, link_version: int
) -> tuple[pl.DataFrame, list[Problem]]:
    """Stage-2 digests for every stage-1 token cell, and per-row problems for cells that are not one.

    Each token column is checked and re-keyed at once (``BrokerRekeyer.stage2_column``). A token under
    another linkage key version refuses the whole extract (the agency used a stale key): every row
    would silently fail to link otherwise.
    """
    problems: list[Problem] = []
    stale: list[int] = []
    columns = token_columns(dataset)

    def rekey(column: str) -> Stage2Column:
        texts = _token_texts(table.column(column))
        return rekeyer.stage2_column(
            texts, key_type=columns[column], link_version=link_version, keep=DIGEST_KEPT
        )

    # The token check and the HMAC loop run outside the GIL, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        rekeyed_columns = list(pool.map(rekey, columns))
    for column, rekeyed in zip(columns, rekeyed_columns, strict=True):
        for row, reason in rekeyed.refused:
            if reason is TokenInvalid.WRONG_KEY_VERSION:
                stale.append(row + 1)
            else:
                problems.append(Problem("token", f"Not a stage-1 token ({reason.value}).", row + 1, column))
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
            table.num_rows,
        )
    if not rekeyed_columns:
        return pl.DataFrame(schema=TOKEN_SCHEMA), problems
    rows = np.concatenate([rekeyed.rows for rekeyed in rekeyed_columns])
    rows += 1
    tokens = pl.DataFrame(
        [
            pl.Series("_row", rows, dtype=pl.Int64),
            pl.Series("key_type", _key_type_views({r.key_type: len(r.rows) for r in rekeyed_columns})),
            pl.Series("digest", _digest_views([c for r in rekeyed_columns for c in r.digests.chunks])),
        ]
    )
    return tokens, problems


def _key_type_views(counts: dict[KeyType, int]) -> pa.Array:
    """``key_type`` as an Arrow string_view column, each key type's 16-byte view repeated in one numpy
    pass (polars takes string_view as it is; building it in polars costs twice the time and memory)."""
    views, names = [], b""
    for key_type in counts:
        name = key_type.value.encode("ascii")
        if len(name) <= _INLINE:  # a short string is held in its view
            views.append(struct.pack("<i12s", len(name), name))
        else:  # length, first four bytes, buffer 0, offset
            views.append(struct.pack("<i4sii", len(name), name[:4], 0, len(names)))
            names += name
    repeated = np.repeat(np.frombuffer(b"".join(views), dtype="V16"), list(counts.values()))
    return pa.Array.from_buffers(
        pa.string_view(), len(repeated), [None, pa.py_buffer(repeated), pa.py_buffer(names)]
    )


def _digest_views(chunks: list[pa.Array]) -> pa.Array:
    """The kept stage-2 digests as one Arrow binary_view column over the buffers the C HMAC wrote: only
    the views are new, the digests are not copied (polars takes binary_view as it is)."""
    total = sum(len(chunk) for chunk in chunks)
    views = np.empty((total, 4), dtype=np.int32)  # length, first four bytes, buffer, offset
    views[:, 0] = DIGEST_KEPT
    step = np.arange(0, max(map(len, chunks), default=0) * DIGEST_KEPT, DIGEST_KEPT, dtype=np.int32)
    buffers: list[pa.Buffer] = []
    start = 0
    for chunk in filter(len, chunks):
        data, first, end = chunk.buffers()[1], chunk.offset, chunk.offset + len(chunk)
        part = views[start : start + len(chunk)]
        part[:, 1] = np.frombuffer(data, dtype=np.int32)[first * _WORDS : end * _WORDS : _WORDS]
        part[:, 2] = len(buffers)
        part[:, 3] = step[: len(chunk)] + first * DIGEST_KEPT
        buffers.append(data)
        start += len(chunk)
    return pa.Array.from_buffers(pa.binary_view(), total, [None, pa.py_buffer(views), *buffers])


def scan_free_text(payload: pl.DataFrame, dataset: Dataset, skip: list[int]) -> list[Problem]:
    """Residual-PII scan of the free-text columns of the rows not in ``skip`` (rows already rejected);
    each finding names column, row and entity type.

    A finding depends on the text alone, so each distinct text of a column is scanned once. Rows are
    dropped after the empty cells (most are), so the row filter is over few cells and few rows.
    """
    columns = [f.name for f in dataset.fields if f.cls == "free_text"]
    if not columns:
        return []
    cells = (
        payload.select("_row", *[pl.col(c).cast(pl.String) for c in columns])
        .unpivot(index="_row", on=columns, variable_name="column", value_name="text")
        .drop_nulls("text")
        .filter(~pl.col("_row").is_in(skip))
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
    table = read_table(path, file_format)
    check_columns(table, dataset)
    if table.num_rows == 0:
        raise ExtractRefused("rejected", [Problem("empty", "The extract has a header but no rows.")])
    payload, value_problems = check_values(table, dataset)
    tokens, token_problems = rekey_tokens(table, dataset, rekeyer, link_version)
    checked = Checked(payload=payload, tokens=tokens, rows_total=table.num_rows)
    for problem in value_problems + token_problems:
        checked.reject_row(problem)
    linked = np.zeros(table.num_rows + 1, dtype=bool)
    linked[tokens["_row"].to_numpy()] = True
    good = checked.good()["_row"].to_numpy()
    for row in np.sort(good[~linked[good]]).tolist():
        checked.reject_row(Problem("no_token", "Row carries no usable match-key token.", row=row))
    findings = scan_free_text(payload, dataset, list(checked.bad_rows))
    if findings:
        raise ExtractRefused("quarantined", findings, table.num_rows)
    return checked
