"""Streaming CSV output and the manifest of file hashes.

Rows are written as they are produced, batch by batch, so memory stays bounded whatever the preset.
Within a batch each extract's rows are shuffled (their order would otherwise line up across agencies)
before record ids are assigned.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict

from broker.synth.extracts import DATASETS, Dataset, Row
from broker.synth.streams import stream

TRUTH_COLUMNS = ("dataset", "record_id", "child_id", "error_tags")
PII_LABEL_COLUMNS = ("dataset", "record_id", "column", "entity_type", "start", "end")


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha256: str
    rows: int


class Manifest(BaseModel):
    """What was generated, from which inputs, with a SHA-256 per file."""

    model_config = ConfigDict(frozen=True)

    generator: str = "broker.synth"
    format_version: int = 1
    preset: str
    seed: int
    n_children: int
    reference_date: str
    packages: dict[str, str]
    files: dict[str, FileEntry]

    def digest(self) -> str:
        """One hash over every file's name and hash: equal digests mean byte-identical output."""
        lines = "".join(f"{name} {entry.sha256}\n" for name, entry in sorted(self.files.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


class CsvSink:
    """One CSV file with a header, ``\\n`` line endings and UTF-8, counting data rows."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows = 0
        self._file: io.TextIOWrapper = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._writer.writerow(self.columns)

    def write(self, rows: Iterable[Sequence[object]]) -> None:
        for row in rows:
            self._writer.writerow(row)
            self.rows += 1

    def write_dicts(self, rows: Iterable[dict[str, str]]) -> None:
        self.write([row[c] for c in self.columns] for row in rows)

    def close(self) -> None:
        self._file.close()


def write_table(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> int:
    """A whole small table at once; returns its row count."""
    sink = CsvSink(path, columns)
    sink.write([row[c] for c in columns] for row in rows)
    sink.close()
    return sink.rows


class OutputWriter:
    """The open extract, truth and PII-label files of one run."""

    def __init__(self, out: Path, seed: int, children_columns: Sequence[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self._order = {d.name: stream(seed, f"order:{d.name}") for d in DATASETS}
        self._counters = dict.fromkeys((d.name for d in DATASETS), 0)
        self.extracts = {d.name: CsvSink(out / f"{d.name}.csv", d.columns) for d in DATASETS}
        self.truth = CsvSink(out / "truth.csv", TRUTH_COLUMNS)
        self.pii_labels = CsvSink(out / "pii_labels.csv", PII_LABEL_COLUMNS)
        self.children = CsvSink(out / "children.csv", children_columns)

    def write_extract(self, dataset: Dataset, rows: list[Row]) -> None:
        self._order[dataset.name].shuffle(rows)
        truth, labels = [], []
        for row in rows:
            self._counters[dataset.name] += 1
            record_id = f"{dataset.prefix}-{self._counters[dataset.name]:07d}"
            row.values["record_id"] = record_id
            truth.append((dataset.name, record_id, row.child_id, ";".join(row.tags)))
            for column, label in row.labels:
                labels.append((dataset.name, record_id, column, label.entity_type, label.start, label.end))
        self.extracts[dataset.name].write_dicts(row.values for row in rows)
        self.truth.write(truth)
        self.pii_labels.write(labels)

    def sinks(self) -> list[CsvSink]:
        return [*self.extracts.values(), self.truth, self.pii_labels, self.children]

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sink in self.sinks():
            sink.close()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
