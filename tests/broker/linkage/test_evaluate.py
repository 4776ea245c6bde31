"""Pairwise, B-cubed and exact-cluster measures on hand-checked examples."""

from __future__ import annotations

import polars as pl
import pytest

from broker.linkage.evaluate import score


def frame(rows: list[tuple[str, str]], col: str) -> pl.DataFrame:
    return pl.DataFrame([("d", r, c) for r, c in rows], schema=["dataset", "record_id", col], orient="row")


def test_perfect_prediction() -> None:
    truth = frame([("1", "A"), ("2", "A"), ("3", "B")], "child_id")
    pred = frame([("1", "x"), ("2", "x"), ("3", "y")], "subject_id")
    s = score(pred, truth)
    assert (s.pair_f1, s.bcubed_f1, s.cluster_f1) == (1.0, 1.0, 1.0)


def test_one_wrong_merge() -> None:
    # truth {1,2} {3}; predicted {1,2,3}: pairs predicted 3, true 1, correct 1
    truth = frame([("1", "A"), ("2", "A"), ("3", "B")], "child_id")
    pred = frame([("1", "x"), ("2", "x"), ("3", "x")], "subject_id")
    s = score(pred, truth)
    assert s.pair_precision == pytest.approx(1 / 3)
    assert s.pair_recall == 1.0
    assert s.bcubed_precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)
    assert s.bcubed_recall == 1.0
    assert (s.cluster_precision, s.cluster_recall) == (0.0, 0.0)


def test_records_without_prediction_are_singletons() -> None:
    truth = frame([("1", "A"), ("2", "A"), ("3", "B")], "child_id")
    pred = frame([("1", "x"), ("9", "z")], "subject_id")
    s = score(pred, truth)
    assert s.records == 3 and s.unmatched_records == 1
    assert (s.predicted_pairs, s.pair_recall) == (0, 0.0)
    assert s.cluster_recall == pytest.approx(1 / 2)
