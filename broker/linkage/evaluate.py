"""Linkage quality against ground truth: pairwise and cluster precision, recall and F1.

Both frames are keyed by (dataset, record_id); predicted clusters by ``subject_id``, true ones by
``child_id``. A true record with no prediction (it carried no usable token) is its own cluster;
predicted records missing from the truth are left out and counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl


@dataclass(frozen=True)
class Scores:
    """Pairwise (same-cluster record pairs), B-cubed and exact-cluster measures."""

    records: int
    unmatched_records: int
    true_pairs: int
    predicted_pairs: int
    pair_precision: float
    pair_recall: float
    pair_f1: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    #: share of predicted clusters that equal a true cluster, and of true clusters recovered exactly
    cluster_precision: float
    cluster_recall: float
    cluster_f1: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(col: pl.Expr) -> pl.Expr:
    return (col * (col - 1) // 2).sum()


def score(predicted: pl.DataFrame, truth: pl.DataFrame) -> Scores:
    """Compare predicted (dataset, record_id, subject_id) with truth (dataset, record_id, child_id)."""
    key = ["dataset", "record_id"]
    pred = predicted.select(*[pl.col(k).cast(pl.String) for k in key], pl.col("subject_id").cast(pl.String))
    true = truth.select(*[pl.col(k).cast(pl.String) for k in key], pl.col("child_id").cast(pl.String))
    unmatched = pred.join(true, on=key, how="anti").height
    both = true.join(pred, on=key, how="left").with_columns(
        pl.col("subject_id").fill_null(pl.lit("unlinked:") + pl.col("dataset") + ":" + pl.col("record_id"))
    )
    n = both.height
    if n == 0:
        raise ValueError("no record appears in both the prediction and the truth")
    cells = both.group_by("subject_id", "child_id").agg(pl.len().alias("n"))
    psize = both.group_by("subject_id").agg(pl.len().alias("ps"))
    tsize = both.group_by("child_id").agg(pl.len().alias("ts"))
    cells = cells.join(psize, on="subject_id").join(tsize, on="child_id")
    tp = int(cells.select(_pairs(pl.col("n"))).item())
    pp = int(psize.select(_pairs(pl.col("ps"))).item())
    tt = int(tsize.select(_pairs(pl.col("ts"))).item())
    p = tp / pp if pp else 1.0
    r = tp / tt if tt else 1.0
    b = cells.select(
        ((pl.col("n") ** 2) / pl.col("ps")).sum().alias("bp"),
        ((pl.col("n") ** 2) / pl.col("ts")).sum().alias("br"),
    ).row(0)
    bp, br = b[0] / n, b[1] / n
    exact = cells.filter((pl.col("n") == pl.col("ps")) & (pl.col("n") == pl.col("ts"))).height
    cp, cr = exact / psize.height, exact / tsize.height
    return Scores(
        records=n,
        unmatched_records=unmatched,
        true_pairs=tt,
        predicted_pairs=pp,
        pair_precision=p,
        pair_recall=r,
        pair_f1=_f1(p, r),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f1=_f1(bp, br),
        cluster_precision=cp,
        cluster_recall=cr,
        cluster_f1=_f1(cp, cr),
    )
