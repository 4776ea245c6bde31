"""Headline rates of the synthetic population against the research notes, within tolerances.

30k children (seed 7). The tolerances allow roughly four standard errors, widened for household
clustering. They fail if a factor is switched off or inverted, not if the noise moves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from scipy.stats import spearmanr

from broker.synth import Manifest

Read = Callable[[Path], pl.DataFrame]


@pytest.fixture(scope="module")
def children(medium: tuple[Path, Manifest], read: Read) -> pl.DataFrame:
    out, _ = medium
    return read(out / "children.csv").with_columns(pl.col("simd_decile").cast(pl.Int64))


@pytest.fixture(scope="module")
def pupils(children: pl.DataFrame) -> pl.DataFrame:
    return children.filter(pl.col("stage") != "").with_columns(pl.col("attendance_pct").cast(pl.Float64))


def mean(series: pl.Series) -> float:
    value = series.mean()
    assert isinstance(value, float)
    return value


def share(frame: pl.DataFrame, column: str) -> float:
    return frame.filter(pl.col(column) == "Y").height / frame.height


def test_social_work_and_justice_rates(children: pl.DataFrame) -> None:
    assert 0.0105 <= share(children, "looked_after") <= 0.0175  # ~1.4%
    assert 0.0015 <= share(children, "cp_registered") <= 0.0045  # ~0.3%
    assert 0.0105 <= share(children, "scra_referral") <= 0.0175  # ~1.4% a year
    assert 0.035 <= share(children, "concern_report") <= 0.065
    on_register = children.filter(pl.col("cp_registered") == "Y")
    assert 0.1 <= share(on_register, "looked_after") <= 0.5  # ~25% (655 / 2,668)


def test_attendance_is_lower_in_the_most_deprived_quintile(pupils: pl.DataFrame) -> None:
    most = mean(pupils.filter(pl.col("simd_decile") <= 2)["attendance_pct"])
    least = mean(pupils.filter(pl.col("simd_decile") >= 9)["attendance_pct"])
    assert 85 <= most <= 89 and 91 <= least <= 95
    assert least - most >= 3
    rho = spearmanr(pupils["simd_decile"], pupils["attendance_pct"]).statistic
    assert rho > 0.1  # decile 1 is the most deprived
    assert 0.25 <= mean((pupils["attendance_pct"] < 90).cast(pl.Float64)) <= 0.5  # persistent absence


def test_education_factors(pupils: pl.DataFrame, children: pl.DataFrame) -> None:
    assert 0.30 <= share(pupils, "asn") <= 0.45
    with_asn = pupils.filter(pl.col("asn") == "Y")
    assert 0.55 <= with_asn.filter(pl.col("sex") == "M").height / with_asn.height <= 0.66
    assert 0.15 <= share(pupils, "fsm") <= 0.30
    deprived, affluent = pupils.filter(pl.col("simd_decile") <= 2), pupils.filter(pl.col("simd_decile") >= 9)
    assert share(deprived, "fsm") > 3 * share(affluent, "fsm")
    under_16 = children.filter(pl.col("dob") > "2009-07-31")
    assert 0.25 <= share(under_16, "scottish_child_payment") <= 0.40


def test_acel_gap_by_deprivation(medium: tuple[Path, Manifest], read: Read) -> None:
    out, _ = medium
    education = read(out / "education.csv").filter(pl.col("acel_reading") != "")
    zones = read(out / "geography.csv").select("data_zone", pl.col("simd_decile").cast(pl.Int64))
    joined = education.join(zones, on="data_zone")
    deprived = joined.filter(pl.col("simd_decile") <= 2)
    affluent = joined.filter(pl.col("simd_decile") >= 9)
    assert share(deprived, "acel_reading") + 0.1 <= share(affluent, "acel_reading")


def test_moves_and_cross_council_movers_seen_by_several_agencies(
    medium: tuple[Path, Manifest], children: pl.DataFrame, read: Read
) -> None:
    households = children.unique("household_id")
    movers = households.filter(pl.col("moved_on") != "")
    assert 0.03 <= movers.height / households.height <= 0.06
    across = movers.filter(pl.col("moved_across_councils") == "Y").height / movers.height
    assert 0.15 <= across <= 0.45
    out, _ = medium
    truth = read(out / "truth.csv")
    councils = []
    for name in ("education", "health_visiting", "social_work", "justice", "social_security", "housing"):
        extract = read(out / f"{name}.csv").select("record_id", "council_code")
        councils.append(truth.filter(pl.col("dataset") == name).join(extract, on="record_id"))
    seen = pl.concat(councils).group_by("child_id").agg(pl.col("council_code").n_unique().alias("n"))
    cross_children = children.filter(pl.col("moved_across_councils") == "Y")["child_id"]
    two_councils = seen.filter(pl.col("child_id").is_in(cross_children.implode()) & (pl.col("n") >= 2))
    assert two_councils.height >= 0.5 * cross_children.len()
    assert seen.filter(~pl.col("child_id").is_in(cross_children.implode()) & (pl.col("n") >= 2)).height == 0


def test_extracts_agree_with_the_ground_truth_flags(
    medium: tuple[Path, Manifest], children: pl.DataFrame, read: Read
) -> None:
    out, _ = medium
    truth = read(out / "truth.csv")
    social_work = read(out / "social_work.csv").join(
        truth.filter(pl.col("dataset") == "social_work"), on="record_id"
    )
    looked_after = set(social_work.filter(pl.col("looked_after") != "none")["child_id"])
    assert looked_after == set(children.filter(pl.col("looked_after") == "Y")["child_id"])
