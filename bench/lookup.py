"""Linked-record lookup under load: 50 concurrent clients against the real endpoint on PostgreSQL.

Ours: ``POST /v1/agreements/{id}/records/lookup`` served by the broker app (uvicorn, one process):
bearer authentication, the live policy and active agreement (the policy's grants are reused while it
is unchanged), the case-reference and daily-limit constraints (the lookup counted under a per-person
lock), the current key versions, tokenising the identifiers, the token and subject index buckets, one
sealed chunk decrypted, and the audit event, committed. Baseline, same run, same database and data: a
bare endpoint taking the same body that tokenises with keys held in memory and runs the same index
queries and chunk decryption (``broker.records.service.find_subject`` and ``subject_records``), with
no authentication, policy, constraints or audit. Both are driven by 50 asyncio clients (httpx) in
another process.

``ratio`` = our mean time per request / the bare one's (= bare req/s / our req/s); ``p50_ratio`` and
``p99_ratio`` compare the latency percentiles of the same run. ``--quick``: 1,000 children and 250
requests per endpoint; default 20,000 children and 5,000 requests. Needs PostgreSQL
(``BROKER_TEST_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/lookup.py``, this folder comes first on sys.path and ``bench/audit.py`` would
# shadow the ``audit`` package; the packages are installed, so drop the folder (and import ``ingest``
# from it by path).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from typing import Any, Final  # noqa: E402

import httpx  # noqa: E402
import yaml  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from agreements.model import Agreement  # noqa: E402
from broker import demo  # noqa: E402
from broker.agencies.models import Role  # noqa: E402
from broker.agencies.service import authenticate, create_principal  # noqa: E402
from broker.agreements.service import get_active_agreement, seed_active_agreement  # noqa: E402
from broker.database import make_engine, scratch_database, session_factory, transaction, upgrade  # noqa: E402
from broker.extracts import service as extracts  # noqa: E402
from broker.keys import service as keys  # noqa: E402
from broker.secrets import load_secrets  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_ingest", _HERE / "ingest.py")
assert _spec is not None and _spec.loader is not None
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)

PG_ADMIN = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AGREEMENT = "isa-fife-early-intervention"
CLIENTS = 50


class BareBody(BaseModel):
    purpose: str
    case_reference: str | None = None
    identifiers: dict[str, str]


# anyio runs up to 40 sync endpoints at once, each holding a pooled connection for its request: more
# than the default pool's 10 + 20. Both servers get the same larger pool (PostgreSQL allows 100 in all).
POOL: Final = {"pool_size": 40, "max_overflow": 20}


def bare_app(database_url: str, secrets_dir: Path) -> Any:
    """The baseline: same body, same index queries and decryption; no auth, policy, limits or audit."""
    from fastapi import FastAPI

    from broker.records.service import find_subject, subject_records
    from pseudonymise.matchkeys import KeyType, compute_keys
    from pseudonymise.tokens import BrokerRekeyer, Tokeniser

    sessions = session_factory(make_engine(database_url, **POOL))
    master = load_secrets(secrets_dir).master_key
    with sessions() as session:
        agreement = get_active_agreement(session, AGREEMENT)
        tokeniser = Tokeniser(keys.linkage_key(session, AGREEMENT, master_key=master))
        rekeyer = BrokerRekeyer(keys.broker_key(session, AGREEMENT, master_key=master))
    key_types = sorted({KeyType(k) for d in agreement.datasets for k in d.match_keys})
    fields = {"fife-attendance": ("asn", "attendance_pct", "fsm", "school", "stage")}

    app = FastAPI()

    @app.post("/bare/lookup")
    def lookup(body: BareBody) -> dict[str, Any]:
        formed = compute_keys(body.identifiers, key_types)
        digests = {rekeyer.stage2(tokeniser.tokenise(kt, v)).digest: kt for kt, v in formed.keys.items()}
        with sessions() as session:
            subject = find_subject(session, AGREEMENT, digests)
            records = subject_records(session, master, AGREEMENT, subject, fields)
        return {"subject": subject, "records": [r.fields for r in records]}

    @app.get("/bare/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(kind: str, port: int, database_url: str, secrets_dir: Path) -> None:
    import uvicorn

    from broker.api.app import create_app
    from broker.logs import configure_logging
    from broker.settings import Settings

    configure_logging("ERROR")
    if kind == "bare":
        app = bare_app(database_url, secrets_dir)
    else:
        engine = make_engine(database_url, **POOL)
        settings = Settings(database_url=database_url, secrets_dir=secrets_dir, log_level="WARNING")
        app = create_app(settings, engine=engine)
    # keep-alive longer than the slowest request, so a pooled client connection is never closed under it
    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_keep_alive=120
    )


def setup(database_url: str, workdir: Path, n_children: int) -> tuple[list[str], list[dict[str, str]]]:
    """Agreement (daily limit raised for the load), 50 practitioners, the attendance extract submitted."""
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    master = load_secrets(workdir / "secrets").master_key
    document = yaml.safe_load((demo.EXAMPLES / "early-intervention-fife.yaml").read_text())
    for permission in document["permissions"]:
        if permission["id"] == "P6":
            permission["constraints"]["max_requests_per_day"] = 10_000_000
    with transaction(sessions) as session:
        people = {(t.agency, t.roles): t.token for t in demo.seed_people(session)}
        seed_active_agreement(session, Agreement.model_validate(document))
        keys.create(session, AGREEMENT, actor=None, master_key=master)
        tokens = [
            create_principal(
                session,
                agency_id="sw-fife",
                name=f"Worker {i}",
                email=None,
                roles=[Role.practitioner],
                by=None,
            )[1]
            for i in range(CLIENTS)
        ]
    children = ingest.people(n_children)
    with sessions() as session:
        key = keys.linkage_key(session, AGREEMENT, master_key=master)
        actor = authenticate(session, people[("edu-fife", "data_officer")])
    assert actor is not None
    path = ingest.extract_file(children, key, workdir / "extract.csv")
    with transaction(sessions) as session:
        receipt = extracts.submit(
            session, master, actor, AGREEMENT, "fife-attendance", path, "csv", date(2026, 11, 1)
        )
    assert receipt.status == "accepted", receipt.problems[:3]
    engine.dispose()
    return tokens, children.to_dicts()


async def drive(
    url: str, tokens: list[str], children: list[dict[str, str]], requests: int
) -> tuple[list[float], float]:
    """50 clients, each sending its share of requests back to back; per-request latencies and wall time."""
    per_client = requests // len(tokens)
    latencies: list[float] = []
    rng = random.Random(5)
    bodies = [
        {"purpose": "EI-SUPPORT", "case_reference": "BENCH-1", "identifiers": rng.choice(children)}
        for _ in range(per_client * len(tokens))
    ]

    async def client(index: int, http: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        for body in bodies[index * per_client : (index + 1) * per_client]:
            started = time.perf_counter()
            response = await http.post(url, json=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"lookup answered {response.status_code}: {response.text[:300]}")

    limits = httpx.Limits(max_connections=len(tokens))
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(len(tokens))))
        return latencies, time.perf_counter() - started


def start(kind: str, port: int, database_url: str, secrets_dir: Path) -> subprocess.Popen[bytes]:
    """Spawn a server process (``ready`` waits for it)."""
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--database-url", database_url]
    return subprocess.Popen([*command, "--secrets", str(secrets_dir)])


def ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server behind {url} did not start")


def figures(latencies: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
        "rps": round(len(ordered) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", choices=["full", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--secrets", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.database_url, args.secrets)
        return
    n_children, requests = (1_000, 250) if args.quick else (20_000, 5_000)
    with (
        scratch_database(PG_ADMIN, "broker_bench") as database_url,
        tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp,
    ):
        servers: list[subprocess.Popen[bytes]] = []
        try:
            workdir = Path(tmp)
            tokens, children = setup(database_url, workdir, n_children)
            probes = [{k: c[k] for k in ("scn", "forename", "surname", "dob", "sex")} for c in children]
            secrets_dir = workdir / "secrets"
            servers += [
                start("bare", 8765, database_url, secrets_dir),
                start("full", 8766, database_url, secrets_dir),
            ]
            ready(servers[0], "http://127.0.0.1:8765/bare/healthz")
            ready(servers[1], "http://127.0.0.1:8766/healthz")
            url_bare = "http://127.0.0.1:8765/bare/lookup"
            url_full = f"http://127.0.0.1:8766/v1/agreements/{AGREEMENT}/records/lookup"
            asyncio.run(drive(url_bare, tokens, probes, len(tokens)))  # warm both
            asyncio.run(drive(url_full, tokens, probes, len(tokens)))
            bare = figures(*asyncio.run(drive(url_bare, tokens, probes, requests)))
            ours = figures(*asyncio.run(drive(url_full, tokens, probes, requests)))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    print(
        json.dumps(
            {
                "bench": "lookup",
                "ratio": round(bare["rps"] / ours["rps"], 2),
                "p50_ratio": round(ours["p50_ms"] / bare["p50_ms"], 2),
                "p99_ratio": round(ours["p99_ms"] / bare["p99_ms"], 2),
                "baseline": "bare endpoint: same body, same token/row index queries and chunk decryption, "
                "no auth, policy, constraints or audit",
                "clients": CLIENTS,
                "children": n_children,
                "requests": requests,
                "ours": ours,
                "bare": bare,
            }
        )
    )


if __name__ == "__main__":
    main()
