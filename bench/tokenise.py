"""Tokeniser and end-to-end pseudonymisation speed, each against a baseline measured in the same run.

1. ``Tokeniser.tokenise_many`` vs a bare stdlib loop (pre-keyed ``hmac`` object, ``copy``/``update``/
   ``digest``) over the same normalised CHIs. Goal: ratio <= 1.4.
2. ``pseudonymise_file`` (the code behind ``broker pseudonymise``) on a CSV with three match keys
   (chi, name_dob, slk) vs polars reading and writing the same file. Goal: ratio <= 4. Timed with the
   default worker pool and with one process; ``hmac_floor_ratio`` is what the three stdlib HMACs per
   row alone cost (at the bare loop's rate, spread over the workers) against the same baseline.

Usage: python bench/tokenise.py [--quick]   (quick: 100k values and rows instead of 1M)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import hmac
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pseudonymise.checkdigits import chi_check_digit
from pseudonymise.matchkeys import KeyType
from pseudonymise.normalise import IdentifierKind
from pseudonymise.pipeline import default_workers, pseudonymise_file
from pseudonymise.spec import DatasetSpec
from pseudonymise.tokens import LinkageKey, Tokeniser

SYLLABLES = [
    "mac",
    "don",
    "ald",
    "ross",
    "camp",
    "bell",
    "fra",
    "ser",
    "stew",
    "art",
    "kerr",
    "ew",
    "an",
    "ing",
]


def chis(n: int, rnd: random.Random) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        first9 = f"{rnd.randint(1, 28):02d}{rnd.randint(1, 12):02d}{rnd.randint(5, 24):02d}"
        first9 += f"{rnd.randint(0, 999):03d}"
        check = chi_check_digit(first9)
        if check is not None:
            out.append(first9 + str(check))
    return out


def name(rnd: random.Random) -> str:
    return "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 3))).capitalize()


def median_time(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(
    ours: Callable[[list[str]], object],
    bare: Callable[[list[str]], object],
    values: list[str],
    rounds: int = 5,
) -> tuple[float, float]:
    """Alternate the two over 10k-value chunks and keep each one's best round, so load from other
    processes on this shared machine falls on both alike."""
    chunks = [values[i : i + 10_000] for i in range(0, len(values), 10_000)]
    best_ours = best_bare = float("inf")
    for _ in range(rounds):
        t_ours = t_bare = 0.0
        for chunk in chunks:
            start = time.perf_counter()
            ours(chunk)
            t_ours += time.perf_counter() - start
            start = time.perf_counter()
            bare(chunk)
            t_bare += time.perf_counter() - start
        best_ours, best_bare = min(best_ours, t_ours), min(best_bare, t_bare)
    return best_ours, best_bare


def bench_tokeniser(n: int) -> dict[str, float]:
    rnd = random.Random(1)
    values = chis(n, rnd)
    key = LinkageKey("bench", 1, os.urandom(32))
    tokeniser = Tokeniser(key)

    def ours(chunk: list[str]) -> None:
        tokeniser.tokenise_many(KeyType.CHI, chunk)

    def bare(chunk: list[str]) -> None:
        base = hmac.new(key.material, digestmod=hashlib.sha256)
        base.update(b"chi\x00")
        out = []
        for v in chunk:
            h = base.copy()
            h.update(v.encode("utf-8"))
            out.append(h.digest())

    assert tokeniser.tokenise(KeyType.CHI, values[0]).digest == hmac.digest(
        key.material, b"chi\x00" + values[0].encode(), "sha256"
    )
    t_ours, t_bare = interleaved(ours, bare, values)
    tokens = tokeniser.tokenise_many(KeyType.CHI, values)
    t_text = median_time(tokens.texts, repeats=1)
    return {
        "tokens_per_s": round(n / t_ours),
        "bare_hmac_per_s": round(n / t_bare),
        "text_format_per_s": round(n / t_text),
        "ratio": round(t_ours / t_bare, 3),
    }


def write_input(path: Path, rows: int) -> None:
    rnd = random.Random(2)
    forenames = [name(rnd) for _ in range(400)]
    surnames = [name(rnd) for _ in range(3000)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["chi", "forename", "surname", "dob", "sex", "school", "attendance_pct", "stage"])
        for chi in chis(rows, rnd):
            dob = f"{chi[0:2]}/{chi[2:4]}/20{chi[4:6]}"
            writer.writerow(
                [
                    chi,
                    rnd.choice(forenames),
                    rnd.choice(surnames),
                    dob,
                    rnd.choice("MF"),
                    f"S{rnd.randint(1, 300)}",
                    rnd.randint(40, 100),
                    f"P{rnd.randint(1, 7)}",
                ]
            )


def bench_end_to_end(rows: int, workdir: Path, bare_hmac_per_s: float) -> dict[str, float]:
    src = workdir / "in.csv"
    write_input(src, rows)
    spec = DatasetSpec(
        "bench",
        {
            "chi": IdentifierKind.CHI,
            "forename": IdentifierKind.FORENAME,
            "surname": IdentifierKind.SURNAME,
            "dob": IdentifierKind.DOB,
            "sex": IdentifierKind.SEX,
        },
        (KeyType.CHI, KeyType.NAME_DOB, KeyType.SLK),
        payload=("school", "attendance_pct", "stage"),
    )
    tokeniser = Tokeniser(LinkageKey("bench", 1, os.urandom(32)))
    out = workdir / "out.csv"

    def ours(workers: int | None = None) -> None:
        out.unlink(missing_ok=True)
        report = pseudonymise_file(src, out, spec, tokeniser, workers=workers)
        assert report.rows_written == rows

    def polars_copy() -> None:
        pl.read_csv(src, infer_schema=False).write_csv(workdir / "copy.csv")

    # Interleaved rounds, best of each: load from other processes on this shared machine falls on all.
    # CPU seconds (this process's threads) for one process and polars are the load-independent view.
    t_ours = t_one = t_polars = cpu_one = cpu_polars = float("inf")
    for _ in range(2):
        start = time.process_time()
        t_polars = min(t_polars, median_time(polars_copy, repeats=1))
        cpu_polars = min(cpu_polars, time.process_time() - start)
        t_ours = min(t_ours, median_time(ours, repeats=1))
        start = time.process_time()
        t_one = min(t_one, median_time(lambda: ours(1), repeats=1))
        cpu_one = min(cpu_one, time.process_time() - start)
    workers = default_workers()
    t_hmac = len(spec.match_keys) * rows / bare_hmac_per_s / workers
    return {
        "e2e_rows_per_s": round(rows / t_ours),
        "e2e_one_process_rows_per_s": round(rows / t_one),
        "polars_rows_per_s": round(rows / t_polars),
        "e2e_workers": workers,
        "e2e_ratio": round(t_ours / t_polars, 2),
        "e2e_one_process_ratio": round(t_one / t_polars, 2),
        "hmac_floor_ratio": round(t_hmac / t_polars, 2),
        "e2e_one_process_cpu_us_per_row": round(cpu_one / rows * 1e6, 2),
        "polars_cpu_us_per_row": round(cpu_polars / rows * 1e6, 2),
        "e2e_one_process_cpu_ratio": round(cpu_one / cpu_polars, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k values/rows instead of 1M")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    tok = bench_tokeniser(n)
    with tempfile.TemporaryDirectory() as tmp:
        e2e = bench_end_to_end(n, Path(tmp), tok["bare_hmac_per_s"])
    print(f"tokeniser: {tok['tokens_per_s']:,} tokens/s vs bare HMAC {tok['bare_hmac_per_s']:,}/s")
    print(
        f"end to end: {e2e['e2e_rows_per_s']:,} rows/s ({e2e['e2e_workers']} workers;"
        f" one process {e2e['e2e_one_process_rows_per_s']:,} rows/s)"
        f" vs polars read+write {e2e['polars_rows_per_s']:,} rows/s"
    )
    result = {
        "bench": "tokenise",
        "ratio": tok["ratio"],
        "baseline": "bare stdlib hmac loop (pre-keyed object, copy/update/digest), same normalised CHIs",
        "n": n,
        **{k: v for k, v in tok.items() if k != "ratio"},
        **e2e,
        "e2e_baseline": "polars read_csv + write_csv of the same file (all columns as text)",
        "goals": {"ratio": 1.4, "e2e_ratio": 4.0},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
