"""Pseudonymise a CSV or Parquet file in constant memory: tokens in, identifiers out.

Reads record batches with pyarrow (every CSV column as text, so leading zeros survive), forms each
row's match keys, tokenises them, copies the payload columns through unchanged and never writes an
identifier column. The output is written to a ``.partial`` file and renamed only on success, so a
failed or strict-refused run leaves no half-written extract behind.

Batches are normalised and tokenised in worker threads (one per core, at most two) while the calling
thread reads, writes and keeps the report; results are taken back in input order, so output and row
numbers do not change. Threads, not processes: the HMACs run in C without the GIL
(:mod:`pseudonymise._hmacbatch`), as do Arrow's compute kernels and CSV writer, and nothing is pickled
between processes (a fork pool cost more CPU in copying batches than it saved).
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pseudonymise.matchkeys import KEY_INPUTS, KeyFormer, KeyType
from pseudonymise.normalise import IdentifierKind, Invalid, fixed_width_strings
from pseudonymise.scan import Finding, Scanner
from pseudonymise.spec import DatasetSpec, SpecError, token_column
from pseudonymise.tokens import TokenBatch, Tokeniser

BATCH_ROWS: Final = 32_768  # small enough to spread a 100k-row file over both workers
CSV_BLOCK_MIN: Final = 1 << 20  # pyarrow refuses a CSV row longer than one block: rows up to 1 MiB always fit
CSV_BLOCK_MAX: Final = 1 << 26
UNDECLARED_SCAN_ROWS: Final = 1_000  # undeclared columns are dropped anyway; the scan is a warning
SUFFIXES: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
IN_FLIGHT_PER_WORKER: Final = 2  # batches queued per worker: keeps both busy, memory stays bounded


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
        read_options=pacsv.ReadOptions(block_size=_csv_block_size(path, batch_rows)),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
        ),
    )
    return reader.schema, iter(reader), None


def _csv_block_size(path: Path, batch_rows: int) -> int:
    """Bytes per CSV read block for batches of about ``batch_rows`` rows (pyarrow cuts CSV batches by
    bytes, not rows), estimated from the first MiB: a fixed block as big as a small file would hand
    the whole file to one worker."""
    with path.open("rb") as handle:
        sample = handle.read(1 << 20)
    bytes_per_row = len(sample) / max(1, sample.count(b"\n"))
    return min(CSV_BLOCK_MAX, max(CSV_BLOCK_MIN, int(batch_rows * bytes_per_row)))


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


def default_workers() -> int:
    """One tokenising thread per core, at most two (the reader and writer need some CPU too)."""
    return min(2, os.cpu_count() or 1)


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
    workers: int | None = None,
) -> Report:
    """Write ``target`` with one token column per match key plus the kept columns; return the report.

    ``scanner`` (if given) checks free-text columns on every row, with that row's own names as a
    deny-list, and undeclared columns on the first rows. With ``strict`` any finding aborts the run.
    ``progress(rows_done, total_rows_or_None)`` is called after each batch. ``workers`` (default
    :func:`default_workers`) threads normalise and tokenise batches in parallel; output order and row
    numbers are those of the input.
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
    name_columns = [
        c for c, k in spec.identifiers.items() if k in (IdentifierKind.FORENAME, IdentifierKind.SURNAME)
    ]
    work = _BatchWork(
        tokeniser, KeyFormer(spec.match_keys), [(c, k) for c, k in spec.identifiers.items() if k in needed]
    )
    partial = target.with_name(target.name + ".partial")
    writer = _Writer(partial, out_schema, file_format(target))
    results = _in_order(work, batches, default_workers() if workers is None else workers)
    try:
        for batch, done in results:
            writer.write(_record(batch, done, spec.match_keys, kept, out_schema, report))
            if scanner is not None:
                _scan(batch, spec, scanner, name_columns, report)
            if progress is not None:
                progress(report.rows_read, total)
        writer.close()
        if strict and report.findings:
            raise ResidualPIIError(report)
        os.replace(partial, target)
    finally:
        results.close()  # stops the worker pool at once if the run failed
        writer.close()
        partial.unlink(missing_ok=True)
    return report


@dataclass(frozen=True)
class _Done:
    """One batch's tokens and what went wrong, by row index within the batch (never values)."""

    tokens: list[pa.Array]
    invalid: dict[IdentifierKind, list[tuple[int, Invalid]]]
    rows_without_keys: int


@dataclass(frozen=True)
class _BatchWork:
    """The CPU-heavy part of a batch: normalise, form keys, HMAC, token text (safe to run in threads)."""

    tokeniser: Tokeniser
    former: KeyFormer
    id_columns: list[tuple[str, IdentifierKind]]

    def identifiers(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The only columns a worker needs."""
        return batch.select([c for c, _ in self.id_columns])

    def __call__(self, identifiers: pa.RecordBatch) -> _Done:
        n = identifiers.num_rows
        formed = self.former.form_arrays({kind: identifiers.column(c) for c, kind in self.id_columns}, n)
        tokens, formed_any = [], np.zeros(n, dtype=np.bool_)
        for kt in self.former.key_types:
            column = formed.keys[kt]
            present = column.is_valid().to_numpy(zero_copy_only=False)
            formed_any |= present
            tokens.append(token_array(self.tokeniser.tokenise_array(kt, column.drop_null()), present))
        return _Done(tokens, formed.invalid, n - int(formed_any.sum()))


def _in_order(
    work: _BatchWork, batches: Iterator[pa.RecordBatch], workers: int
) -> Generator[tuple[pa.RecordBatch, _Done]]:
    """Each batch with its tokens, in input order.

    With ``workers`` > 1, a thread pool does the work with a bounded number of batches in flight
    (constant memory); exceptions from a worker surface here, and closing the generator cancels what
    has not started.
    """
    if workers <= 1:
        for batch in batches:
            yield batch, work(work.identifiers(batch))
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="pseudonymise")
    pending: deque[tuple[pa.RecordBatch, Future[_Done]]] = deque()
    try:
        for batch in batches:
            pending.append((batch, pool.submit(work, work.identifiers(batch))))
            if len(pending) > IN_FLIGHT_PER_WORKER * workers:
                done_batch, future = pending.popleft()
                yield done_batch, future.result()
        while pending:
            done_batch, future = pending.popleft()
            yield done_batch, future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def _record(
    batch: pa.RecordBatch,
    done: _Done,
    key_types: tuple[KeyType, ...],
    kept: list[str],
    out_schema: pa.Schema,
    report: Report,
) -> pa.RecordBatch:
    """Fold a batch's results into the report (row numbers are 1-based over the file) and build
    its output batch."""
    first_row = report.rows_read + 1
    n = batch.num_rows
    for kind, bad in done.invalid.items():
        rows_of = report.invalid[kind.value]
        for i, reason in bad:
            rows_of[reason.value].append(first_row + i)
    report.rows_without_keys += done.rows_without_keys
    report.rows_read += n
    report.rows_written += n
    for kt, array in zip(key_types, done.tokens, strict=True):
        report.keys_formed[kt.value] += len(array) - array.null_count
    return pa.RecordBatch.from_arrays([*done.tokens, *(batch.column(c) for c in kept)], schema=out_schema)


def token_array(tokens: TokenBatch, present: npt.NDArray[np.bool_]) -> pa.Array:
    """``tokens.texts()`` as an Arrow string column, placed at the ``present`` rows and null elsewhere,
    built straight from the C-encoded text rows (no Python string per token)."""
    return fixed_width_strings(present, tokens.text_rows())


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
