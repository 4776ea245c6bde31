"""Pseudonymise a CSV or Parquet file in constant memory: tokens in, identifiers out.

Reads record batches with pyarrow (every CSV column as text, so leading zeros survive), forms each
row's match keys, tokenises them, copies the payload columns through unchanged and never writes an
identifier column. The output is written to a ``.partial`` file and renamed only on success, so a
failed or strict-refused run leaves no half-written extract behind.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pseudonymise.matchkeys import KEY_INPUTS, KeyFormer, KeyType
from pseudonymise.normalise import IdentifierKind
from pseudonymise.scan import Finding, Scanner
from pseudonymise.spec import DatasetSpec, SpecError, token_column
from pseudonymise.tokens import Tokeniser

BATCH_ROWS: Final = 65_536
UNDECLARED_SCAN_ROWS: Final = 1_000  # undeclared columns are dropped anyway; the scan is a warning
SUFFIXES: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class PipelineError(Exception):
    """The file cannot be pseudonymised as asked; the message names columns or settings, never values."""


class ResidualPIIError(PipelineError):
    """Strict mode found identifiers in columns that are kept or undeclared; no output was written."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"residual PII found in {len(report.findings)} cell(s); output not written")
        self.report = report


@dataclass
class Report:
    """Counts and row numbers only: safe to print, log and attach to an audit event."""

    dataset_id: str
    rows_read: int = 0
    rows_written: int = 0
    rows_without_keys: int = 0
    keys_formed: Counter[str] = field(default_factory=Counter)
    invalid: defaultdict[str, defaultdict[str, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    dropped_columns: list[str] = field(default_factory=list)
    undeclared_columns: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "dataset_id": self.dataset_id,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_without_keys": self.rows_without_keys,
            "keys_formed": dict(sorted(self.keys_formed.items())),
            "invalid": {
                k: {r: rows for r, rows in sorted(v.items())} for k, v in sorted(self.invalid.items())
            },
            "dropped_columns": self.dropped_columns,
            "undeclared_columns": self.undeclared_columns,
            "findings": [
                {"column": f.column, "row": f.row_number, "entity_type": f.entity_type, "score": f.score}
                for f in self.findings
            ],
        }


def file_format(path: Path) -> str:
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise PipelineError(f"{path.name}: unsupported file type; use .csv or .parquet") from None


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            return next(csv.reader(handle))
        except StopIteration:
            raise PipelineError(f"{path.name}: empty file (no header row)") from None


def read_batches(
    path: Path, batch_rows: int = BATCH_ROWS
) -> tuple[pa.Schema, Iterator[pa.RecordBatch], int | None]:
    """Schema, a batch iterator and the row count when the format knows it up front (Parquet)."""
    if file_format(path) == "parquet":
        parquet = pq.ParquetFile(path)
        return parquet.schema_arrow, parquet.iter_batches(batch_size=batch_rows), parquet.metadata.num_rows
    header = _csv_header(path)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
        ),
    )
    return reader.schema, iter(reader), None


class _Writer:
    def __init__(self, path: Path, schema: pa.Schema, kind: str) -> None:
        self._closed = False
        self._writer: pacsv.CSVWriter | pq.ParquetWriter = (
            pq.ParquetWriter(path, schema) if kind == "parquet" else pacsv.CSVWriter(path, schema)
        )

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.close()


def pseudonymise_file(
    source: Path,
    target: Path,
    spec: DatasetSpec,
    tokeniser: Tokeniser,
    *,
    scanner: Scanner | None = None,
    strict: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[int, int | None], None] | None = None,
) -> Report:
    """Write ``target`` with one token column per match key plus the kept columns; return the report.

    ``scanner`` (if given) checks free-text columns on every row, with that row's own names as a
    deny-list, and undeclared columns on the first rows. With ``strict`` any finding aborts the run.
    ``progress(rows_done, total_rows_or_None)`` is called after each batch.
    """
    schema, batches, total = read_batches(source, batch_rows)
    columns = list(schema.names)
    missing = [c for c in (*spec.identifiers, *spec.payload, *spec.free_text) if c not in columns]
    if missing:
        raise SpecError(f"dataset {spec.dataset_id}: input lacks declared columns {missing}")
    report = Report(spec.dataset_id)
    report.undeclared_columns = spec.undeclared(columns)
    report.dropped_columns = [*spec.identifiers, *report.undeclared_columns]
    kept = [*spec.payload, *spec.free_text]
    out_schema = pa.schema(
        [pa.field(token_column(kt), pa.string()) for kt in spec.match_keys] + [schema.field(c) for c in kept]
    )
    needed = {kind for kt in spec.match_keys for kind in KEY_INPUTS[kt]}
    id_columns = [(c, k) for c, k in spec.identifiers.items() if k in needed]
    name_columns = [
        c for c, k in spec.identifiers.items() if k in (IdentifierKind.FORENAME, IdentifierKind.SURNAME)
    ]
    former = KeyFormer(spec.match_keys)
    partial = target.with_name(target.name + ".partial")
    writer = _Writer(partial, out_schema, file_format(target))
    try:
        for batch in batches:
            writer.write(_process(batch, spec, tokeniser, former, id_columns, kept, out_schema, report))
            if scanner is not None:
                _scan(batch, spec, scanner, name_columns, report)
            if progress is not None:
                progress(report.rows_read, total)
        writer.close()
        if strict and report.findings:
            raise ResidualPIIError(report)
        os.replace(partial, target)
    finally:
        writer.close()
        partial.unlink(missing_ok=True)
    return report


def _process(
    batch: pa.RecordBatch,
    spec: DatasetSpec,
    tokeniser: Tokeniser,
    former: KeyFormer,
    id_columns: list[tuple[str, IdentifierKind]],
    kept: list[str],
    out_schema: pa.Schema,
    report: Report,
) -> pa.RecordBatch:
    first_row = report.rows_read + 1
    n = batch.num_rows
    formed = former.form_columns({kind: batch.column(c).to_pylist() for c, kind in id_columns}, n)
    for kind, bad in formed.invalid.items():
        rows_of = report.invalid[kind.value]
        for i, reason in bad:
            rows_of[reason.value].append(first_row + i)
    token_lists = {kt: _token_texts(tokeniser, kt, values) for kt, values in formed.keys.items()}
    report.rows_without_keys += (
        sum(1 for row in zip(*formed.keys.values(), strict=True) if all(v is None for v in row))
        if formed.keys
        else n
    )
    report.rows_read += n
    report.rows_written += n
    arrays = [pa.array(token_lists[kt], pa.string()) for kt in spec.match_keys]
    for kt, array in zip(spec.match_keys, arrays, strict=True):
        report.keys_formed[kt.value] += len(array) - array.null_count
    arrays += [batch.column(c) for c in kept]
    return pa.RecordBatch.from_arrays(arrays, schema=out_schema)


def _token_texts(tokeniser: Tokeniser, key_type: KeyType, values: list[str | None]) -> list[str | None]:
    """Token texts aligned with ``values``; None stays None (no key, no token)."""
    present = [v for v in values if v is not None]
    texts = tokeniser.tokenise_many(key_type, present).texts()
    if len(present) == len(values):
        return list(texts)
    remaining = iter(texts)
    return [None if v is None else next(remaining) for v in values]


def _scan(
    batch: pa.RecordBatch, spec: DatasetSpec, scanner: Scanner, name_columns: list[str], report: Report
) -> None:
    first_row = report.rows_read - batch.num_rows + 1
    undeclared_rows = max(0, min(batch.num_rows, UNDECLARED_SCAN_ROWS - first_row + 1))
    columns = list(spec.free_text)
    if not columns and not (undeclared_rows and report.undeclared_columns):
        return
    rows = batch.select([*columns, *report.undeclared_columns, *name_columns]).to_pylist()
    for i, row in enumerate(rows):
        names = [str(row[c]) for c in name_columns if row[c]]
        scan_columns = columns + (report.undeclared_columns if i < undeclared_rows else [])
        report.findings.extend(scanner.scan_row(row, scan_columns, first_row + i, names))
