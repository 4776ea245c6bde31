"""The files other parts of the broker read: layout, ids, ground truth, and what error tags promise."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from broker.synth import Manifest
from broker.synth.extracts import DATASETS, DATASETS_BY_NAME
from broker.synth.geography import LOOKUP_COLUMNS, load_lookup
from broker.synth.writer import PII_LABEL_COLUMNS, TRUTH_COLUMNS
from pseudonymise.checkdigits import chi_is_valid, scn_check_digit
from pseudonymise.normalise import normalise_chi, normalise_postcode

Read = Callable[[Path], pl.DataFrame]
NAME_TAGS = {
    "typo_forename", "typo_surname", "nickname", "mac_mc", "name_punctuation_case", "name_order_swap",
    "surname_change",
}  # fmt: skip
DOB_TAGS = {"dob_day_month_swap", "dob_default_0101", "dob_format"}


@pytest.fixture(scope="module")
def linked(tiny: tuple[Path, Manifest], read: Read) -> dict[str, pl.DataFrame]:
    """Each extract joined to its truth row and to the true child it describes."""
    out, _ = tiny
    truth = read(out / "truth.csv")
    children = read(out / "children.csv").select(
        "child_id", pl.col("forename").alias("true_forename"), pl.col("surname").alias("true_surname"),
        pl.col("dob").alias("true_dob"), pl.col("sex").alias("true_sex"), pl.col("chi").alias("true_chi"),
        pl.col("scn").alias("true_scn"),
    )  # fmt: skip
    frames = {}
    for dataset in DATASETS:
        extract = read(out / f"{dataset.name}.csv")
        frames[dataset.name] = extract.join(
            truth.filter(pl.col("dataset") == dataset.name).drop("dataset"), on="record_id", how="left"
        ).join(children, on="child_id", how="left")
    return frames


def tags(row: dict[str, str]) -> set[str]:
    return set(filter(None, row["error_tags"].split(";")))


def test_one_csv_per_extract_with_the_documented_columns(tiny: tuple[Path, Manifest], read: Read) -> None:
    out, manifest = tiny
    expected = {f"{d.name}.csv" for d in DATASETS} | {
        "truth.csv", "pii_labels.csv", "children.csv", "geography.csv", "schools.csv", "postcodes.csv",
    }  # fmt: skip
    assert set(manifest.files) == expected
    for dataset in DATASETS:
        frame = read(out / f"{dataset.name}.csv")
        assert frame.columns == list(dataset.columns)
        assert frame.height > 0, dataset.name
        assert frame["record_id"].is_unique().all()
        assert frame["record_id"].str.starts_with(f"{dataset.prefix}-").all()
    assert read(out / "truth.csv").columns == list(TRUTH_COLUMNS)
    assert read(out / "pii_labels.csv").columns == list(PII_LABEL_COLUMNS)
    assert load_lookup(out / "geography.csv").columns == list(LOOKUP_COLUMNS)


def test_truth_names_every_record_once_and_every_child_exists(
    tiny: tuple[Path, Manifest], read: Read
) -> None:
    out, _ = tiny
    truth = read(out / "truth.csv")
    assert truth.select("dataset", "record_id").is_unique().all()
    assert truth.height == sum(read(out / f"{d.name}.csv").height for d in DATASETS)
    children = set(read(out / "children.csv")["child_id"])
    assert set(truth["child_id"]) <= children
    health = truth.filter(pl.col("dataset") == "health_visiting")
    assert set(health["child_id"]) == children  # every child has a health record


def test_untagged_identifiers_are_the_true_ones(linked: dict[str, pl.DataFrame]) -> None:
    for name, frame in linked.items():
        for row in frame.iter_rows(named=True):
            t = tags(row)
            if not t & NAME_TAGS:
                assert (row["forename"], row["surname"]) == (row["true_forename"], row["true_surname"]), name
            if "dob" in row and not t & DOB_TAGS:
                assert row["dob"] == row["true_dob"], name
            if "sex" in row and "sex_code" not in t:
                assert row["sex"] == row["true_sex"], name
            if row.get("chi") and not t & {"chi_leading_zero_lost", "chi_invalid_check"}:
                assert row["chi"] == row["true_chi"], name


def test_tagged_errors_are_visible(linked: dict[str, pl.DataFrame]) -> None:
    seen: set[str] = set()
    for frame in linked.values():
        for row in frame.iter_rows(named=True):
            t = tags(row)
            seen |= t
            if "dob_format" in t:
                assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", row["dob"])
            else:
                dt.date.fromisoformat(row["dob"])
            if "sex" in row:
                assert (row["sex"] in ("M", "F")) == ("sex_code" not in t)
            if "chi" in row:
                if "chi_missing" in t:
                    assert row["chi"] == ""
                elif "chi_invalid_check" in t:
                    assert not chi_is_valid(row["chi"])
                elif row["chi"]:
                    assert normalise_chi(row["chi"]) == row["true_chi"]
            if "dob_day_month_swap" in t and "dob_format" not in t:
                true = dt.date.fromisoformat(row["true_dob"])
                assert row["dob"] == f"{true.year}-{true.day:02d}-{true.month:02d}"
    assert len(seen) >= 12, sorted(seen)


def test_scns_are_valid_and_duplicates_are_tagged(linked: dict[str, pl.DataFrame]) -> None:
    education = linked["education"]
    for row in education.iter_rows(named=True):
        scn = row["scn"]
        assert scn_check_digit(scn[:8]) == int(scn[8])
        if not tags(row) & {"scn_duplicate", "scn_new_on_move"}:
            assert scn == row["true_scn"]


def test_planted_identifiers_are_labelled_exactly(tiny: tuple[Path, Manifest], read: Read) -> None:
    out, _ = tiny
    labels = read(out / "pii_labels.csv")
    education = read(out / "education.csv")
    notes = dict(zip(education["record_id"], education["pastoral_note"], strict=True))
    assert labels.height >= 1
    patterns = {
        "UK_CHI": r"\d{10}", "UK_SCN": r"\d{9}", "PHONE_NUMBER": r"07700 900\d{3}",
        "EMAIL_ADDRESS": r"[a-z]+\d+@example\.com", "UK_POSTCODE": r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}",
        "UK_NINO": r"[A-Z]{2}\d{6}[A-D]", "PERSON": r"\S.*\S",
    }  # fmt: skip
    for row in labels.iter_rows(named=True):
        assert row["column"] in DATASETS_BY_NAME[row["dataset"]].free_text
        assert row["dataset"] == "education" and row["column"] == "pastoral_note"
        span = notes[row["record_id"]][int(row["start"]) : int(row["end"])]
        assert re.fullmatch(patterns[row["entity_type"]], span), row["entity_type"]
    labelled = set(labels["record_id"])
    for record_id, note in notes.items():
        if record_id not in labelled:
            assert not re.search(r"\d|@", note), "an unlabelled note contains digits or an address"


def test_data_zones_and_postcodes_come_from_the_public_lookups(
    tiny: tuple[Path, Manifest], read: Read
) -> None:
    out, _ = tiny
    zones = set(read(out / "geography.csv")["data_zone"])
    postcodes = set(read(out / "postcodes.csv")["postcode"])
    councils = set(read(out / "geography.csv")["council_code"])
    for dataset in DATASETS:
        frame = read(out / f"{dataset.name}.csv")
        assert set(frame["data_zone"]) - {""} <= zones
        assert set(frame["council_code"]) <= councils
        recorded = {normalise_postcode(pc) for pc in frame["postcode"] if pc}
        assert recorded <= postcodes, dataset.name
