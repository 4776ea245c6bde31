"""An immutable, validated, linked frame set, handed to OpenDP once.

OpenDP does not check data against the domain a measurement was built for, and its guarantee rests on the
schema, the row bound and one row per subject. So they are enforced here, once, before OpenDP sees the
data. The frame is then given to a long-lived OpenDP odometer: calling a measurement on an in-memory
frame would serialise the whole frame on every request (disclosure_performance.md).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping

import polars as pl
from opendp.combinators import make_fully_adaptive_composition
from opendp.context import domain_of
from opendp.domains import with_margin
from opendp.extras.polars import Margin
from opendp.measures import max_divergence
from opendp.metrics import symmetric_distance
from opendp.mod import Measurement, enable_features

from disclosure.errors import FrameRejected
from disclosure.geography import GeographyLookup
from disclosure.spec import Catalogue, FieldSpec, GeographyLevel

_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "bool": pl.Boolean(),
    "float": pl.Float64(),
}

enable_features("contrib")


def presence_column(dataset: str) -> str:
    """Column saying whether a subject appears in ``dataset`` (datasets are joined by subject)."""
    return f"_in.{dataset}"


def _compatible(actual: pl.DataType, declared: str) -> bool:
    """Lossless casts only: any integer to int, any number to float, categorical text to string."""
    if declared == "int":
        return actual.is_integer()
    if declared == "float":
        return actual.is_numeric()
    if declared == "string":
        return actual in (pl.String, pl.Categorical, pl.Enum) or isinstance(actual, pl.Enum)
    return actual == pl.Boolean


def _validated(dataset: str, frame: pl.DataFrame, fields: dict[str, FieldSpec], subject: str) -> pl.DataFrame:
    if subject not in frame.columns:
        raise FrameRejected(f"dataset {dataset} has no subject column")
    missing = sorted(set(fields) - set(frame.columns))
    if missing:
        raise FrameRejected(f"dataset {dataset} lacks declared column(s) {missing}")
    subjects = frame.get_column(subject)
    if subjects.null_count():
        raise FrameRejected(f"dataset {dataset}: {subjects.null_count()} row(s) without a subject")
    if subjects.n_unique() != frame.height:
        raise FrameRejected(
            f"dataset {dataset}: {frame.height - subjects.n_unique()} repeated subject row(s)"
        )
    columns = [pl.col(subject).cast(pl.String)]
    for name, spec in fields.items():
        dtype = _DTYPES[spec.dtype]
        if not _compatible(frame.schema[name], spec.dtype):
            raise FrameRejected(f"dataset {dataset} column {name} is not of declared type {spec.dtype}")
        columns.append(pl.col(name).cast(dtype).alias(f"{dataset}.{name}"))
    # undeclared columns are dropped: they never reach OpenDP
    return frame.select(columns).with_columns(pl.lit(True).alias(presence_column(dataset)))


class FrameSet:
    """The linked data of one agreement: one row per subject, declared columns and public geography."""

    def __init__(
        self,
        catalogue: Catalogue,
        frames: Mapping[str, pl.DataFrame],
        geography: GeographyLookup,
        subject_column: str = "subject",
    ) -> None:
        unknown = sorted(set(frames) - set(catalogue.datasets))
        if unknown:
            raise FrameRejected(f"undeclared dataset(s) {unknown}")
        linked: pl.DataFrame | None = None
        for dataset, fields in catalogue.datasets.items():
            if dataset not in frames:
                raise FrameRejected(f"dataset {dataset} is declared but no frame was given")
            part = _validated(dataset, frames[dataset], fields, subject_column)
            linked = (
                part
                if linked is None
                else linked.join(part, on=subject_column, how="full", coalesce=True, maintain_order="left")
            )
        assert linked is not None  # a catalogue has at least one dataset once frames were given
        if linked.height > catalogue.max_subjects:
            raise FrameRejected(
                f"{linked.height} subjects exceed the declared bound {catalogue.max_subjects}"
            )
        lookup = geography.frame.drop("population")
        linked = (
            linked.with_columns(pl.col(presence_column(d)).fill_null(False) for d in catalogue.datasets)
            .with_columns(pl.coalesce(catalogue.geography_fields).alias(GeographyLevel.data_zone.value))
            .join(lookup, on=GeographyLevel.data_zone.value, how="left")
            # the subject id is not needed by any query: it never reaches OpenDP
            .drop(subject_column)
        )
        self.catalogue = catalogue
        self.geography = geography
        self.frame = linked
        self.fingerprint = hashlib.sha256(
            str(linked.schema).encode() + catalogue.model_dump_json().encode()
        ).hexdigest()
        lazy = linked.lazy()
        self.domain = with_margin(
            domain_of(lazy, infer=True), Margin(by=[], max_length=catalogue.max_subjects)
        )
        odometer = make_fully_adaptive_composition(self.domain, symmetric_distance(), max_divergence())
        self._queryable = odometer(lazy)
        self._lock = threading.Lock()

    @property
    def schema(self) -> pl.Schema:
        return self.frame.schema

    def release(self, measurement: Measurement) -> pl.DataFrame:
        """Run a measurement built on ``self.domain``; OpenDP's odometer records its loss."""
        with self._lock:
            table: pl.DataFrame = self._queryable(measurement).collect()
        return table

    def opendp_privacy_loss(self) -> float:
        """OpenDP's own running total for this frame set: a cross-check of the ledger, not the ledger."""
        with self._lock:
            return float(self._queryable.privacy_loss(1))
