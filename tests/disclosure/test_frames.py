"""The frame set enforces schema, row bound and one row per subject before OpenDP sees anything."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from disclosure import FrameRejected, FrameSet


@pytest.fixture
def parts(synth: Any) -> tuple[Any, dict[str, pl.DataFrame]]:
    geography = synth.geography()
    return geography, synth.frames(geography, n=200)


def test_a_repeated_subject_is_rejected(synth: Any, parts: Any) -> None:
    geography, frames = parts
    doubled = pl.concat([frames["health"], frames["health"].head(1)])
    with pytest.raises(FrameRejected, match="repeated subject") as error:
        FrameSet(synth.catalogue, {**frames, "health": doubled}, geography)
    assert "child" not in str(error.value)  # never a subject id in a message


def test_a_wrong_type_is_rejected(synth: Any, parts: Any) -> None:
    geography, frames = parts
    cast = frames["health"].with_columns(pl.col("visits").cast(pl.String))
    with pytest.raises(FrameRejected, match="visits is not of declared type int"):
        FrameSet(synth.catalogue, {**frames, "health": cast}, geography)


def test_missing_columns_datasets_and_subjects_are_rejected(synth: Any, parts: Any) -> None:
    geography, frames = parts
    with pytest.raises(FrameRejected, match="lacks declared column"):
        FrameSet(synth.catalogue, {**frames, "health": frames["health"].drop("flag")}, geography)
    with pytest.raises(FrameRejected, match="no frame was given"):
        FrameSet(synth.catalogue, {"education": frames["education"]}, geography)
    with pytest.raises(FrameRejected, match="without a subject"):
        nulls = frames["health"].with_columns(pl.lit(None, dtype=pl.String).alias("subject"))
        FrameSet(synth.catalogue, {**frames, "health": nulls}, geography)


def test_the_row_bound_is_enforced(synth: Any) -> None:
    geography = synth.geography()
    small = synth.catalogue.model_copy(update={"max_subjects": 100})
    with pytest.raises(FrameRejected, match="exceed the declared bound 100"):
        FrameSet(small, synth.frames(geography, n=101), geography)


def test_undeclared_columns_and_subject_ids_never_reach_opendp(synth: Any, parts: Any) -> None:
    geography, frames = parts
    extra = frames["education"].with_columns(pl.lit("secret").alias("name"))
    frame_set = FrameSet(synth.catalogue, {**frames, "education": extra}, geography)
    assert "education.name" not in frame_set.schema and "name" not in frame_set.schema
    assert "subject" not in frame_set.schema
    assert frame_set.frame.height == 200  # one row per subject after the full join
    assert frame_set.frame["_in.health"].sum() == frames["health"].height
    assert str(frame_set.domain).startswith("FrameDomain(")
