"""Linkage engine throughput: one 1M-record extract, then a second dataset's 1M records overlapping it.

Ours: ``LinkageEngine.add_batch`` of the first extract into an empty engine, then of the second
into that state (strong links, weak candidates by token equality, EM, scoring, constrained
clustering, subject ids), plus a ``to_state`` / ``from_state`` round trip and the removal of the
first extract. Baseline, same run: a polars inner join of all the tokens (both extracts) against
themselves on the token, the blocking work no linkage can skip.

Synthetic tokens, built vectorised: ~6 per record (a strong id on 90% of records and five weak
keys, 5% of them disturbed like a typo would), names shared by ~8 people and phonetic keys by
~2 so that blocks hold look-alikes; 70% of the second extract's children are in the first.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import polars as pl

from broker.linkage.engine import TOKEN_SCHEMA, LinkageEngine

KEY = b"bench-subject-key-0123456789abcd"
T = TypeVar("T")
#: weak key -> how many people share one value (1 = unique to a person)
WEAK_KEYS = {"name_dob": 1, "slk": 1, "phonetic_dob": 1, "name": 8, "postcode_dob": 1}


def extract(dataset: str, strong: str, people: np.ndarray, seed: int) -> pl.DataFrame:
    """Long token frame of one extract holding the given people, one record each."""
    rng = np.random.default_rng(seed)
    n = len(people)
    record_id = pl.Series(np.arange(n)).cast(pl.String)
    parts = []
    has_strong = rng.random(n) < 0.9
    parts.append(
        pl.DataFrame({"record_id": record_id, "token": pl.Series(people).cast(pl.String)})
        .filter(pl.Series(has_strong))
        .with_columns(pl.lit(strong).alias("key_type"))
    )
    for kt, share in WEAK_KEYS.items():
        value = np.where(rng.random(n) < 0.05, -1 - np.arange(n) - seed * n, people // share)
        parts.append(
            pl.DataFrame({"record_id": record_id, "token": pl.Series(value).cast(pl.String)}).with_columns(
                pl.lit(kt).alias("key_type")
            )
        )
    return (
        pl.concat(parts, how="diagonal")
        .with_columns(
            pl.lit(dataset).alias("dataset"), (pl.col("key_type") + ":" + pl.col("token")).alias("token")
        )
        .select(list(TOKEN_SCHEMA))
    )


def baseline(tokens: pl.DataFrame) -> int:
    """The irreducible blocking work: every pair of token rows with an equal token."""
    return tokens.lazy().join(tokens.lazy(), on="token").select(pl.len()).collect().item()


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and its wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100k records per extract")
    parser.add_argument("--records", type=int, default=None)
    args = parser.parse_args()
    n = args.records or (100_000 if args.quick else 1_000_000)
    rng = np.random.default_rng(0)
    first_people = rng.permutation(n)
    overlap = int(n * 0.7)
    second_people = np.concatenate(
        [rng.choice(first_people, overlap, replace=False), np.arange(n, 2 * n - overlap)]
    )
    first = extract("education", "scn", first_people, seed=1)
    second = extract("health", "chi", second_people, seed=2)
    both = pl.concat([first, second])

    joined, base_s = timed(lambda: baseline(both))

    engine = LinkageEngine(KEY)
    r1, first_s = timed(lambda: engine.add_batch(first))
    r2, second_s = timed(lambda: engine.add_batch(second))
    state, to_s = timed(engine.to_state)
    resumed, from_s = timed(lambda: LinkageEngine.from_state(state, KEY))
    removal, remove_s = timed(lambda: resumed.remove("education", prefix=""))
    members = engine.membership()
    linked = members.group_by("subject_id").len().filter(pl.col("len") > 1).height

    ours = first_s + second_s
    print(
        json.dumps(
            {
                "bench": "linkage",
                "ratio": round(ours / base_s, 2),
                "baseline": "polars self-join of both extracts' token frame on token",
                "baseline_seconds": round(base_s, 3),
                "baseline_rows": joined,
                "records_per_extract": n,
                "tokens": both.height,
                "ours_seconds": round(ours, 3),
                "first_extract_seconds": round(first_s, 3),
                "second_extract_seconds": round(second_s, 3),
                "candidate_pairs": [r1.candidate_pairs, r2.candidate_pairs],
                "weak_links": [r1.weak_links, r2.weak_links],
                "strong_links": [r1.strong_links, r2.strong_links],
                "subjects_linked_across": linked,
                "true_overlap": overlap,
                "to_state_seconds": round(to_s, 3),
                "from_state_seconds": round(from_s, 3),
                "remove_first_extract_seconds": round(remove_s, 3),
                "records_removed": removal.records_removed,
            }
        )
    )


if __name__ == "__main__":
    main()
