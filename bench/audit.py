"""Audit trail benchmarks.

* verify: ``audit.verify.verify_log`` over N events (leaf hashes, stored-hash checks, tree, checkpoint
  roots) against the floor any integrity check pays: one plain ``hashlib.sha256`` per event over the same
  bytes, measured in the same run.
* appends: appends/s through ``broker.audit.service.record`` (one event per transaction, as a request
  makes them) with 8 concurrent writers on a throwaway PostgreSQL database (goal >= 1,500/s), next to
  plain single-row INSERTs into an unlocked table in the same database. Afterwards a checkpoint (which
  would file a gap event for any number drawn and not committed) and ``verify`` must find exactly one
  event per append, numbered 0..n-1. ``--no-postgres`` skips it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/audit.py``, this file's own folder comes first on sys.path and its name would
# shadow the ``audit`` package; the package is installed (editable), so drop the folder.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from audit.canonical import canonical_bytes, leaf_bytes  # noqa: E402
from audit.checkpoint import Checkpoint  # noqa: E402
from audit.merkle import MerkleTree, leaf_hash  # noqa: E402
from audit.note import NoteSigner  # noqa: E402
from audit.verify import LogEntry, verify_log  # noqa: E402


def _events(n: int) -> list[bytes]:
    return [
        leaf_bytes(
            i,
            canonical_bytes(
                {
                    "time": "2026-11-28T22:00:00.000000Z",
                    "action": "records.lookup",
                    "decision": "allow",
                    "actor": f"user-{i % 97}",
                    "agency": "council-a",
                    "agreement_id": "agr-0001",
                    "agreement_version": 3,
                    "subjects": [f"tok{i % 5003:08x}"],
                    "request_id": f"req-{i:08d}",
                    "result": {"rows": i % 7},
                }
            ),
        )
        for i in range(n)
    ]


def _interleaved(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best-of-``repeat`` times, alternating the candidates so load from other processes hits both."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def bench_verify(n: int, checkpoint_every: int, repeat: int) -> dict[str, Any]:
    data = _events(n)
    hashes = [leaf_hash(d) for d in data]
    entries = [LogEntry(i, d, h, i + 1) for i, (d, h) in enumerate(zip(data, hashes, strict=True))]
    tree = MerkleTree(hashes)
    sizes = sorted({*range(checkpoint_every, n + 1, checkpoint_every), n})
    checkpoints = [Checkpoint("bench/audit", s, tree.root(s)) for s in sizes]
    del tree
    sha256 = hashlib.sha256

    def baseline() -> None:
        for d in data:
            sha256(d).digest()

    def ours() -> None:
        assert verify_log(entries, checkpoints).ok

    t_base, t_ours = _interleaved([baseline, ours], repeat)
    return {
        "events": n,
        "bytes": sum(map(len, data)),
        "checkpoints": len(checkpoints),
        "verify_s": round(t_ours, 3),
        "sha256_s": round(t_base, 3),
        "verify_events_per_s": round(n / t_ours),
    }


PG_ADMIN_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _concurrently(writers: int, per_writer: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` ``per_writer`` times in each of ``writers`` processes; return operations per second.

    Processes, not threads: production runs several server workers, and eight threads in one interpreter
    would mostly measure the GIL. Forked children open their own connections (see ``work``).
    """
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(writers + 1)
    done: multiprocessing.Queue[float] = ctx.Queue()

    def run() -> None:
        start.wait()
        for i in range(per_writer):
            work(i)
        done.put(time.perf_counter())

    procs = [ctx.Process(target=run) for _ in range(writers)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    ends = [done.get() for _ in procs]
    for p in procs:
        p.join()
    return writers * per_writer / (max(ends) - t0)


def bench_appends(writers: int, per_writer: int) -> dict[str, Any]:
    from sqlalchemy import text

    from audit.event import AuditEvent, Decision
    from broker.audit import service
    from broker.database import make_engine, scratch_database, session_factory, transaction, upgrade

    with scratch_database(PG_ADMIN_URL, "bench_audit") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE plain_log (seq bigserial PRIMARY KEY, body text NOT NULL)"))
            engine.dispose()  # children fork from here and must not share pooled connections

            def plain(i: int) -> None:
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO plain_log (body) VALUES (:b)"), {"b": f'{{"i":{i}}}'})

            def audited(i: int) -> None:
                with transaction(sessions) as session:
                    service.record(
                        session,
                        AuditEvent(
                            action="records.lookup",
                            decision=Decision.allow,
                            actor=str(i % 97),
                            agency="council-a",
                            agreement_id="agr-0001",
                            subjects=(f"tok{i:08x}",),
                            result={"rows": 1},
                        ),
                    )

            sessions = session_factory(engine)
            plain_rate = _concurrently(writers, per_writer, plain)
            audited_rate = _concurrently(writers, per_writer, audited)
            key = NoteSigner.generate(service.ORIGIN)
            with transaction(sessions) as session:
                service.create_checkpoint(session, key)
            with sessions() as session:
                report = service.verify(session, [key.verifier()])
            if not report.ok or report.entries != writers * per_writer:
                raise SystemExit(f"audit log incomplete or broken after the appends: {report}")
            return {
                "writers": writers,
                "appends": writers * per_writer,
                "appends_per_s": round(audited_rate),
                "plain_inserts_per_s": round(plain_rate),
                "appends_vs_plain": round(audited_rate / plain_rate, 2),
                "log_verified": report.ok,
                "log_rows": report.entries,
            }
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, finishes in under 30 s")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL append benchmark")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    verify = bench_verify(n, checkpoint_every=n // 100, repeat=5)
    result: dict[str, Any] = {
        "bench": "audit",
        "ratio": round(verify["verify_s"] / verify["sha256_s"], 2),
        "baseline": f"hashlib.sha256 once per event over the same {n} canonical events",
        "verify": verify,
    }
    if not args.no_postgres:
        result["appends"] = bench_appends(8, 300 if args.quick else 2000)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
