"""Extract ingest: a pseudonymised extract accepted end to end, against polars copying the same file.

Ours: ``broker.extracts.service.submit`` in one transaction on a fresh database (a SQLite file by
default; ``--postgres``: a scratch PostgreSQL database on ``BROKER_TEST_PG_URL``'s server, dropped
afterwards): authorisation, reading, column/type/range checks, stage-2 re-keying of every token,
residual-PII scan of the notes, linkage, AES-GCM sealing, the bucketed token and subject indexes, the
linkage state and the audit event, committed. Baseline, same run and same
file: polars reading the CSV and writing it as Parquet (the cheapest "accept a file and store it").

The extract has the columns of ``fife-attendance`` in the example early-intervention agreement, one
stage-1 token per declared match key and row (ten today, made with the agreement's real linkage key)
and a note on 0.5% of rows.
``--quick``: 20k rows; default 1M.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/ingest.py``, this folder comes first on sys.path and ``bench/audit.py`` would
# shadow the ``audit`` package; the packages are installed, so drop the folder.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from datetime import date  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from agreements.loader import load_file  # noqa: E402
from broker import demo  # noqa: E402
from broker.agencies.service import Actor, authenticate  # noqa: E402
from broker.cli.serve import warm_up  # noqa: E402
from broker.database import make_engine, scratch_database, session_factory, transaction, upgrade  # noqa: E402
from broker.extracts import service  # noqa: E402
from broker.keys import service as keys  # noqa: E402
from broker.secrets import load_secrets  # noqa: E402
from pseudonymise.checkdigits import scn_check_digit  # noqa: E402
from pseudonymise.matchkeys import KeyFormer, KeyType  # noqa: E402
from pseudonymise.spec import token_column  # noqa: E402
from pseudonymise.tokens import LinkageKey, Tokeniser  # noqa: E402

PG_ADMIN_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AGREEMENT = demo.EXAMPLES / "early-intervention-fife.yaml"
DATASET = "fife-attendance"
STAGES = ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "S1", "S2", "S3", "S4", "S5", "S6"]
LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))
INWARD = "ABDEFGHJLNPQRSTUWXYZ"  # letters a postcode's inward code may use


def name(i: int, salt: int) -> str:
    """A distinct letters-only name per number (names normalise to letters)."""
    out, n = [], i * 7919 + salt
    for _ in range(6):
        out.append(LETTERS[n % 26])
        n //= 26
    return "".join(out).capitalize()


def scn(i: int) -> str:
    """A valid SCN (check digit per the SCN rule) from a number; skips bases without a digit."""
    base = f"{10_000_000 + i * 3:08d}"
    digit = scn_check_digit(base)
    if digit is None:
        base = f"{10_000_000 + i * 3 + 1:08d}"
        digit = scn_check_digit(base)
    return base + str(digit)


def people(n: int, seed: int = 7) -> pl.DataFrame:
    """Synthetic children: identifiers for tokens and lookups (never written by the broker)."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 365 * 12, n)
    dob = (np.datetime64("2010-01-01") + days).astype(str)
    return pl.DataFrame(
        {
            "scn": [scn(i) for i in range(n)],
            "forename": [name(i, 1) for i in range(n)],
            "surname": [name(i, 2) for i in range(n)],
            "dob": dob,
            "sex": rng.choice(["M", "F"], n),
            "postcode": [
                f"KY{1 + i % 16} {i % 10}{INWARD[i % 20]}{INWARD[(i // 20) % 20]}" for i in range(n)
            ],
        }
    )


def extract_file(children: pl.DataFrame, key: LinkageKey, path: Path, seed: int = 7) -> Path:
    """The pseudonymised extract a data officer would submit (stage-1 tokens + payload).

    Keys are formed by the agency-side code (``KeyFormer``), exactly the dataset's declared match keys.
    """
    rng = np.random.default_rng(seed)
    n = children.height
    tokeniser = Tokeniser(key)
    key_types = [KeyType(k) for k in load_file(AGREEMENT).dataset(DATASET).match_keys]
    formed = KeyFormer(key_types).form_columns({c: children[c].to_list() for c in children.columns}, n)
    assert not formed.invalid, "the synthetic identifiers are all valid"
    columns: dict[str, object] = {}
    for kt, values in formed.keys.items():
        present = [i for i, v in enumerate(values) if v is not None]
        texts = tokeniser.tokenise_many(kt, [v for v in values if v is not None]).texts()
        column: list[str | None] = [None] * n
        for i, text in zip(present, texts, strict=True):
            column[i] = text
        columns[token_column(kt)] = column
    note = "Met the family to talk about attendance and support."
    notes = [note if x < 0.005 else None for x in rng.random(n)]
    columns |= {
        "school": [f"X1{i % 400:05d}" for i in range(n)],
        "stage": rng.choice(STAGES, n),
        "attendance_pct": np.round(rng.uniform(50, 100, n), 1),
        "fsm": rng.choice(["Y", "N"], n),
        "asn": rng.choice(["Y", "N"], n),
        "acel_reading": rng.choice(["Y", "N", ""], n),
        "pastoral_note": notes,
        "data_zone": [f"X01{i % 6000:06d}" for i in range(n)],
    }
    pl.DataFrame(columns).write_csv(path)
    return path


def setup(
    workdir: Path, database_url: str | None
) -> tuple[sessionmaker[Session], bytes, dict[tuple[str, str], str]]:
    """A migrated database with the demo people, the active agreement and its keys."""
    engine = make_engine(database_url or f"sqlite:///{workdir / 'broker.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    master = load_secrets(workdir / "secrets").master_key
    with transaction(sessions) as session:
        tokens = {(t.agency, t.roles): t.token for t in demo.seed_people(session)}
        demo.seed_agreement(session, master, AGREEMENT)
    return sessions, master, tokens


def officer(sessions: sessionmaker[Session], token: str) -> Actor:
    with sessions() as session:
        actor = authenticate(session, token)
    assert actor is not None
    return actor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k rows instead of 1M")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database, not SQLite")
    args = parser.parse_args()
    n = args.rows or (20_000 if args.quick else 1_000_000)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        url = stack.enter_context(scratch_database(PG_ADMIN_URL, "bench_ingest")) if args.postgres else None
        sessions, master, tokens = setup(workdir, url)
        with sessions() as session:
            key = keys.linkage_key(session, "isa-fife-early-intervention", master_key=master)
        path = extract_file(people(n), key, workdir / "extract.csv")
        actor = officer(sessions, tokens[("edu-fife", "data_officer")])
        warm_up()  # as a server does before its first request (presidio loads once per process)

        started = time.perf_counter()
        pl.read_csv(path).write_parquet(workdir / "baseline.parquet")
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        with transaction(sessions) as session:
            receipt = service.submit(
                session, master, actor, "isa-fife-early-intervention", DATASET, path, "csv", date(2026, 11, 1)
            )
        ours = time.perf_counter() - started
        assert receipt.status == "accepted" and receipt.rows_accepted == n, (
            receipt.status,
            receipt.problems[:3],
        )
        size = path.stat().st_size
    print(
        json.dumps(
            {
                "bench": "ingest",
                "ratio": round(ours / baseline, 2),
                "baseline": "polars read_csv + write_parquet of the same extract file",
                "rows": n,
                "file_mb": round(size / 1e6, 1),
                "ours_s": round(ours, 2),
                "baseline_s": round(baseline, 3),
                "rows_per_s": round(n / ours),
                "database": "postgresql" if args.postgres else "sqlite",
            }
        )
    )


if __name__ == "__main__":
    main()
