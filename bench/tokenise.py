"""Tokeniser and end-to-end pseudonymisation speed, each against a baseline measured in the same run.

1. ``Tokeniser.tokenise_many`` vs a bare stdlib loop (pre-keyed ``hmac`` object, ``copy``/``update``/
   ``digest``) over the same normalised CHIs. Goal: ratio <= 1.4.
   Both hash the same Python strings; ``native_hmac_per_s`` is the C batch HMAC alone on the same values
   already in an Arrow column, as the pipeline calls it.
2. ``pseudonymise_file`` (the code behind ``broker pseudonymise``) on a CSV with three match keys
   (chi, name_dob, slk) vs polars reading and writing the same file. Goal: ratio <= 4. Timed with the
   default worker threads and with none; ``hmac_floor_ratio`` is what the three HMACs per row alone
   cost at ``native_hmac_per_s``, spread over the workers, against the same baseline. CPU seconds per
   row (all threads) are reported too: they do not move with the load other processes put on the
   machine, wall times do. ``wide_*`` repeats the comparison on a file
   with ten more payload columns (~310 bytes a row, nearer a real extract), where reading and writing
   weigh more on both sides; it is informative, the goal is on the narrow file.

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
import pyarrow as pa

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
    column = pa.array(values, pa.string())
    t_native = median_time(lambda: tokeniser.tokenise_array(KeyType.CHI, column))
    return {
        "tokens_per_s": round(n / t_ours),
        "bare_hmac_per_s": round(n / t_bare),
        "native_hmac_per_s": round(n / t_native),
        "text_format_per_s": round(n / t_text),
        "ratio": round(t_ours / t_bare, 3),
    }


PAYLOAD = ("school", "attendance_pct", "stage")
WIDE_PAYLOAD = tuple(f"note_{i}" for i in range(10))  # ~310 bytes a row, like a typical extract


def write_input(path: Path, rows: int, wide: bool = False) -> None:
    rnd = random.Random(2)
    forenames = [name(rnd) for _ in range(400)]
    surnames = [name(rnd) for _ in range(3000)]
    words = [name(rnd).lower() for _ in range(200)]
    extra = WIDE_PAYLOAD if wide else ()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["chi", "forename", "surname", "dob", "sex", *PAYLOAD, *extra])
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
                    *(" ".join(rnd.choices(words, k=3)) for _ in extra),
                ]
            )


def dataset(wide: bool) -> DatasetSpec:
    return DatasetSpec(
        "bench",
        {
            "chi": IdentifierKind.CHI,
            "forename": IdentifierKind.FORENAME,
            "surname": IdentifierKind.SURNAME,
            "dob": IdentifierKind.DOB,
            "sex": IdentifierKind.SEX,
        },
        (KeyType.CHI, KeyType.NAME_DOB, KeyType.SLK),
        payload=PAYLOAD + (WIDE_PAYLOAD if wide else ()),
    )


Runs = dict[str, Callable[[], None]]


def best_of(runs: Runs, rounds: int = 3) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall and CPU seconds (user + system, own and finished children's) of each run.

    Interleaved rounds, best of each: load from other processes on this shared machine falls on all.
    CPU seconds are the load-independent view.
    """
    wall = dict.fromkeys(runs, float("inf"))
    cpu = dict(wall)
    for _ in range(rounds):
        for name, run in runs.items():
            before, start = os.times(), time.perf_counter()
            run()
            elapsed, after = time.perf_counter() - start, os.times()
            wall[name] = min(wall[name], elapsed)
            cpu[name] = min(cpu[name], sum(after[:4]) - sum(before[:4]))
    return wall, cpu


def bench_end_to_end(rows: int, workdir: Path, hmac_per_s: float) -> dict[str, float]:
    tokeniser = Tokeniser(LinkageKey("bench", 1, os.urandom(32)))
    out = workdir / "out.csv"

    def runs(src: Path, spec: DatasetSpec, one_thread: bool) -> Runs:
        def ours(workers: int | None = None) -> None:
            out.unlink(missing_ok=True)
            report = pseudonymise_file(src, out, spec, tokeniser, workers=workers)
            assert report.rows_written == rows

        def polars_copy() -> None:
            pl.read_csv(src, infer_schema=False).write_csv(workdir / "copy.csv")

        both: Runs = {"polars": polars_copy, "ours": ours}
        return {**both, "one": lambda: ours(1)} if one_thread else both

    narrow, wide = workdir / "in.csv", workdir / "wide.csv"
    write_input(narrow, rows)
    wall, cpu = best_of(runs(narrow, dataset(False), one_thread=True))
    write_input(wide, rows, wide=True)
    wide_wall, _ = best_of(runs(wide, dataset(True), one_thread=False), rounds=2)
    workers = default_workers()
    keys = len(dataset(False).match_keys)
    t_hmac = keys * rows / hmac_per_s / workers
    return {
        "e2e_rows_per_s": round(rows / wall["ours"]),
        "e2e_one_thread_rows_per_s": round(rows / wall["one"]),
        "polars_rows_per_s": round(rows / wall["polars"]),
        "e2e_workers": workers,
        "e2e_ratio": round(wall["ours"] / wall["polars"], 2),
        "e2e_one_thread_ratio": round(wall["one"] / wall["polars"], 2),
        "hmac_floor_ratio": round(t_hmac / wall["polars"], 2),
        "e2e_cpu_us_per_row": round(cpu["ours"] / rows * 1e6, 2),
        "e2e_one_thread_cpu_us_per_row": round(cpu["one"] / rows * 1e6, 2),
        "polars_cpu_us_per_row": round(cpu["polars"] / rows * 1e6, 2),
        "hmac_cpu_us_per_row": round(keys / hmac_per_s * 1e6, 2),
        "e2e_cpu_ratio": round(cpu["ours"] / cpu["polars"], 2),
        "input_bytes_per_row": round(narrow.stat().st_size / rows),
        "wide_input_bytes_per_row": round(wide.stat().st_size / rows),
        "wide_e2e_ratio": round(wide_wall["ours"] / wide_wall["polars"], 2),
        "wide_hmac_floor_ratio": round(t_hmac / wide_wall["polars"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k values/rows instead of 1M")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    tok = bench_tokeniser(n)
    with tempfile.TemporaryDirectory() as tmp:
        e2e = bench_end_to_end(n, Path(tmp), tok["native_hmac_per_s"])
    print(f"tokeniser: {tok['tokens_per_s']:,} tokens/s vs bare HMAC {tok['bare_hmac_per_s']:,}/s")
    print(
        f"end to end: {e2e['e2e_rows_per_s']:,} rows/s ({e2e['e2e_workers']} worker threads;"
        f" one thread {e2e['e2e_one_thread_rows_per_s']:,} rows/s)"
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
        "wide": "the same with ten more text payload columns, informative only (the goal is on e2e_ratio)",
        "hmac_floor": "3 stage-1 HMACs a row at native_hmac_per_s, spread over e2e_workers, / polars time",
        "goals": {"ratio": 1.4, "e2e_ratio": 4.0},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
