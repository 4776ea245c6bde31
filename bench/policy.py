"""Decision latency of the policy engine with 10k rules, against a bare FastEnforcer on the same rows.

Ours = ``PolicyEnforcer.explain`` (Casbin match + field check + a reason for every denial).
Baseline = ``casbin.FastEnforcer.enforce`` with the same model, rows and index, answering only yes/no.
Half the requests are drawn from the rules (allowed), half are random (mostly denied, which is where
our explanation does extra work).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from agreements.model import Agreement
from policies import PolicyEnforcer, Request, format_time, new_fast_enforcer

ROLES = ["data_officer", "analyst", "practitioner"]
ACTIONS = ["submit_extract", "aggregate_query", "linked_record_request"]
FIELDS = [f"f{i}" for i in range(8)]


def make_agreement(rnd: random.Random, index: int, rows: int) -> Agreement:
    parties = [f"ag{index % 7}-{i}" for i in range(12)]
    datasets = [f"ds{i}" for i in range(10)]
    purposes = ["PLAN", "SUPPORT"]
    seen: set[tuple[str, str, str, str, str]] = set()
    perms: list[dict[str, Any]] = []
    while len(seen) < rows:
        key = (
            rnd.choice(ROLES),
            rnd.choice(parties),
            rnd.choice(ACTIONS),
            rnd.choice(datasets),
            rnd.choice(purposes),
        )
        if key in seen:
            continue
        seen.add(key)
        role, agency, action, ds, purpose = key
        perm: dict[str, Any] = {
            "id": f"P{len(perms)}",
            "role": role,
            "agency": agency,
            "action": action,
            "datasets": [ds],
            "purpose": purpose,
        }
        if action == "linked_record_request":
            perm["fields"] = {ds: rnd.sample(FIELDS, 3)}
        perms.append(perm)
    start = date(2026, 1, 1) + timedelta(days=rnd.randint(0, 200))
    doc = {
        "id": f"isa-bench-{index:03d}",
        "version": 1,
        "title": "benchmark",
        "validity": {
            "effective_from": start.isoformat(),
            "expires_on": (start + timedelta(days=900)).isoformat(),
        },
        "parties": [{"id": p, "name": p, "role": "processor"} for p in parties],
        "datasets": [
            {
                "id": d,
                "provider": parties[0],
                "refresh": "P1D",
                "retention": "P1Y",
                "fields": [{"name": f, "class": "payload", "type": "string"} for f in FIELDS],
            }
            for d in datasets
        ],
        "purposes": [{"code": p, "dpv": "dpv:ServiceProvision", "text": p} for p in purposes],
        "lawful_bases": {"art6": [{"code": "6(1)(e)", "power": "benchmark"}]},
        "permissions": perms,
    }
    return Agreement.model_validate(doc)


def make_requests(rnd: random.Random, enforcer: PolicyEnforcer, count: int) -> list[Request]:
    rules = list(enforcer.rules)
    out = []
    at = datetime(2026, 10, 1, tzinfo=UTC)
    for i in range(count):
        if i % 2 == 0:
            r = rnd.choice(rules)
            fields = frozenset(rnd.sample(sorted(r.fields), min(2, len(r.fields))))
            out.append(Request(r.role, r.agency, r.action, r.agreement_id, r.purpose, at, r.obj, fields))
        else:
            r = rnd.choice(rules)
            out.append(
                Request(
                    rnd.choice(ROLES),
                    r.agency,
                    rnd.choice(ACTIONS),  # type: ignore[arg-type]
                    r.agreement_id,
                    rnd.choice(["PLAN", "SUPPORT", "OTHER"]),
                    at + timedelta(days=rnd.choice([0, 0, 0, 2000])),
                    r.obj,
                    frozenset(rnd.sample(FIELDS, 2)),
                )
            )
    return out


def timed(call: Any, args: list[Any]) -> list[float]:
    for a in args[:200]:  # warm-up
        call(a)
    lat = []
    for a in args:
        t = time.perf_counter()
        call(a)
        lat.append(time.perf_counter() - t)
    return lat


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (same 10k rules)")
    parser.add_argument("--rules", type=int, default=10_000)
    opts = parser.parse_args()
    rnd = random.Random(7)
    per_agreement = 200
    agreements = [make_agreement(rnd, i, per_agreement) for i in range(opts.rules // per_agreement)]
    t0 = time.perf_counter()
    ours = PolicyEnforcer([(a, "active") for a in agreements])
    build_ms = (time.perf_counter() - t0) * 1e3
    rows = [r.casbin_row() for r in ours.rules]
    t0 = time.perf_counter()
    bare = new_fast_enforcer(rows)
    bare_build_ms = (time.perf_counter() - t0) * 1e3
    requests = make_requests(rnd, ours, 4_000 if opts.quick else 40_000)

    def baseline(req: Request) -> bool:
        return bool(
            bare.enforce(
                req.role,
                req.agency,
                req.action,
                req.target,
                req.purpose,
                req.agreement_id,
                format_time(req.at),
            )
        )

    # Same answers on the coarse question (ours may further deny on fields).
    for req in requests[:2000]:
        if ours.explain(req).allowed:
            assert baseline(req)
    base_lat = timed(baseline, requests)
    our_lat = timed(ours.explain, requests)
    allowed = sum(ours.explain(r).allowed for r in requests)
    print(
        f"rules={len(rows)} requests={len(requests)} allowed={allowed} build ours {build_ms:.0f} ms, "
        f"bare {bare_build_ms:.0f} ms"
    )
    print(f"baseline p50 {pct(base_lat, 0.5):.4f} ms p99 {pct(base_lat, 0.99):.4f} ms")
    print(f"ours     p50 {pct(our_lat, 0.5):.4f} ms p99 {pct(our_lat, 0.99):.4f} ms")
    print(
        json.dumps(
            {
                "bench": "policy",
                "ratio": round(sum(our_lat) / sum(base_lat), 3),
                "baseline": "casbin.FastEnforcer.enforce on the same model and rows (yes/no only)",
                "rules": len(rows),
                "requests": len(requests),
                "allowed": allowed,
                "ours_p50_ms": round(pct(our_lat, 0.5), 4),
                "ours_p99_ms": round(pct(our_lat, 0.99), 4),
                "baseline_p50_ms": round(pct(base_lat, 0.5), 4),
                "baseline_p99_ms": round(pct(base_lat, 0.99), 4),
                "p50_ratio": round(statistics.median(our_lat) / statistics.median(base_lat), 3),
                "build_ms": round(build_ms),
            }
        )
    )


if __name__ == "__main__":
    main()
