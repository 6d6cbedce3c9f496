"""Benchmark: simulate a rule change over 100,000 stored customers, on SQLite and on PostgreSQL.

Stores N customers (one bulk insert per 10,000 rows) in a fresh SQLite file
and in a temporary PostgreSQL schema, loads rules/default.yaml as the active
version and, as a draft, the same programme with the wealth threshold moved
from CNY 500,000 to CNY 1,000,000; then simulates the draft over every stored
customer in calls of 1,000, through the service function and through the HTTP
API, and prints the time. Target: under 60 s per run.

Baseline (measured in the same run): raw durable_rules — the same compiled
rulesets called directly with the same call pattern (per customer and version,
one tier question and one profile question) on profiles already in memory.
The ratio is the price of reading customers, comparing and answering.

    .venv/bin/python bench/simulate.py [--n 100000] [--backends sqlite,postgresql] [--via service,http] [--json]
"""
import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import POSTGRES_URL, Database, postgres_reachable  # noqa: E402

from benefits import create_app  # noqa: E402
from benefits import db  # noqa: E402
from benefits.models import Customer  # noqa: E402
from benefits.rules.engine import Ruleset  # noqa: E402
from benefits.rules.program import fact  # noqa: E402
from benefits.services import audit, keys, rule_versions, simulation  # noqa: E402
from benefits.services.profiles import rule_fields  # noqa: E402

DEFAULT_RULES = ROOT / "rules" / "default.yaml"
TARGET_SECONDS = 60
CALL = simulation.MAX_CUSTOMERS
INSERT_CHUNK = 10_000


def proposed_rules() -> str:
    text = DEFAULT_RULES.read_text()
    moved = text.replace("- {aum: {gte: 500000}}", "- {aum: {gte: 1000000}}")
    assert moved != text, "rules/default.yaml no longer has the wealth threshold this bench moves"
    return moved


def customer_rows(n: int, now: datetime, seed: int = 7):
    """Customers spread like a bank's book: log-uniform AUM from 10 thousand to 30 million."""
    rng = random.Random(seed)
    for i in range(n):
        aum = Decimal(round(10 ** rng.uniform(4, 7.5), 2)).quantize(Decimal("0.01"))
        since = date(2010, 1, 1) + timedelta(days=rng.randrange(5800))
        yield {
            "id": f"b{i:07d}", "name": "张三", "aum": aum,
            "annual_contribution": Decimal(rng.choice([0, 0, 0, 50000, 250000])),
            "tags": ["children_studying_abroad"] if rng.random() < 0.1 else [],
            "birthday": f"{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "customer_since": since, "last_as_of": date(2026, 11, 1),
            "tier": "private" if aum >= 6_000_000 else "wealth" if aum >= 500_000 else "mass",
            "tier_version": 1, "below_tier_since": None,
            "aum_growth_3m": round(rng.uniform(-0.3, 0.6), 4) if rng.random() < 0.7 else None,
            "signals": [], "balance": 0, "created_at": now, "updated_at": now,
        }


def add(total: dict, summary: dict) -> None:
    for key, value in summary.items():
        if isinstance(value, dict):
            total.setdefault(key, Counter()).update(value)
        else:
            total[key] = total.get(key, 0) + value


def via_service(app, proposed: int, active: int, now: datetime) -> tuple[float, dict, int]:
    programs, sessions = app.extensions["benefits"].programs, app.extensions["benefits"].sessions
    total, calls, cursor = {}, 0, None
    started = time.perf_counter()
    while True:
        answer = db.run(sessions, lambda s: simulation.simulate(s, programs, proposed, active_version=active,
                                                                now=now, every=True, cursor=cursor), write=False)
        add(total, answer["summary"])
        calls += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            return time.perf_counter() - started, total, calls


def via_http(app, admin_key: str, proposed: int) -> tuple[float, dict, int]:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {admin_key}"}
    total, calls, cursor = {}, 0, None
    started = time.perf_counter()
    while True:
        body = {"all": True} | ({"cursor": cursor} if cursor else {})
        response = client.post(f"/admin/v1/rule-versions/{proposed}/simulate", json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        answer = response.get_json()
        add(total, answer["summary"])
        calls += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            return time.perf_counter() - started, total, calls


def raw_engine(app, proposed: int, active: int, now: datetime) -> float:
    """The same call pattern on the engine alone: per customer and version, a tier and a profile question."""
    extension = app.extensions["benefits"]
    with extension.sessions() as session:
        stored = list(session.execute(sa.select(Customer)).scalars())
        sides = []
        for version in (active, proposed):
            with extension.programs.lease(session, version) as program:
                definitions = program.definitions()
                sides.append((program.tier_ids, Ruleset(f"raw{version}.tiers", definitions["tiers"]),
                              Ruleset(f"raw{version}.profile", definitions["profile"]),
                              [fact(rule_fields(c, program, now, with_tier=False)) for c in stored]))
    started = time.perf_counter()
    for tier_ids, tiers, profile_rules, facts in sides:
        for values in facts:
            fired = tiers.fired(values)
            tier = next((tier_id for i, tier_id in enumerate(tier_ids) if f"t{i}" in fired), tier_ids[-1])
            profile_rules.fired({**values, "tier": tier})
    elapsed = time.perf_counter() - started
    for _, tiers, profile_rules, _ in sides:
        tiers.release()
        profile_rules.release()
    return elapsed


def run(backend: str, n: int, ways: list[str], emit) -> None:
    database = Database(backend, "bench_simulate")
    now = datetime.now(timezone.utc)
    app = create_app(DATABASE_URL=database.url)
    extension = app.extensions["benefits"]
    try:
        with extension.sessions() as session:
            active = rule_versions.bootstrap(session, DEFAULT_RULES.read_bytes(), "yaml", activate_it=True,
                                             now=now).id
            proposed = rule_versions.create(session, proposed_rules().encode(), "yaml", actor=audit.SYSTEM,
                                            now=now).id
            _, admin_key = keys.create_key(session, role="admin", name="bench", actor=audit.SYSTEM, now=now)
            session.commit()
        started = time.perf_counter()
        rows = customer_rows(n, now)
        with extension.engine.begin() as connection:
            while chunk := [row for _, row in zip(range(INSERT_CHUNK), rows)]:
                connection.execute(sa.insert(Customer), chunk)
        emit({"bench": "simulate", "step": "insert", "backend": backend, "customers": n,
              "seconds": round(time.perf_counter() - started, 2)})
        baseline = raw_engine(app, proposed, active, now)
        for way in ways:
            if way == "service":
                seconds, summary, calls = via_service(app, proposed, active, now)
            else:
                seconds, summary, calls = via_http(app, admin_key, proposed)
            assert summary["customers"] == n, summary
            emit({"bench": "simulate", "step": "simulate", "backend": backend, "via": way, "customers": n,
                  "calls": calls, "seconds": round(seconds, 2), "target_seconds": TARGET_SECONDS,
                  "within_target": seconds < TARGET_SECONDS,
                  "baseline": "raw durable_rules", "baseline_seconds": round(baseline, 2),
                  "ratio": round(seconds / baseline, 2),
                  "summary": {key: dict(value) if isinstance(value, Counter) else value
                              for key, value in summary.items()}})
    finally:
        extension.engine.dispose()
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="stored customers (default 100,000)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--via", default="service,http", help="service, http, or both (comma-separated)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args()

    def emit(result: dict) -> None:
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        elif result["step"] == "insert":
            print(f"{result['backend']:<10} stored {result['customers']:,} customers in {result['seconds']:.1f} s",
                  flush=True)
        else:
            verdict = "ok" if result["within_target"] else "OVER TARGET"
            print(f"{result['backend']:<10} simulate via {result['via']:<7} {result['customers']:,} customers "
                  f"in {result['calls']} calls: {result['seconds']:.1f} s (target < {TARGET_SECONDS} s, {verdict}); "
                  f"raw durable_rules {result['baseline_seconds']:.1f} s, ratio {result['ratio']:.2f}; "
                  f"tier down {result['summary']['tier_down']:,}, up {result['summary']['tier_up']:,}",
                  flush=True)

    for backend in args.backends.split(","):
        if backend == "postgresql" and not postgres_reachable():
            print(f"postgresql not reachable at {POSTGRES_URL}: skipped", file=sys.stderr)
            continue
        run(backend, args.n, args.via.split(","), emit)


if __name__ == "__main__":
    main()
