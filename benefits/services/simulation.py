"""Simulation: what a rule version would do to customers, next to what the active version does.

For each customer the answer holds ``current`` (under the active version) and
``proposed`` (under the version simulated, whatever its status): the tier, the
benefit grants with their quotas, and the signals. The tier is the one the
customer qualifies for under that version, without downgrade grace, so that the
two sides compare the rules and nothing else. The summary counts, over the
customers of the call, who moves up or down a tier, who gains or loses each
benefit, and who newly raises or clears each signal.

Customers are supplied profiles (the PUT customer body), stored customers by
id, a random sample of stored customers, or every stored customer one page at a
time. Simulation reads and never writes.
"""
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import Invalid, NotFound
from ..models import Customer
from ..rules import Program
from .profiles import RuleProfile, SuppliedProfile, local_today, rule_fields
from .programs import Programs

MAX_CUSTOMERS = 1000


def simulate(session: Session, programs: Programs, version_id: int, *, active_version: int, now: datetime,
             profiles: list[SuppliedProfile] | None = None, customer_ids: list[str] | None = None,
             sample: int | None = None, every: bool = False, cursor: str | None = None,
             limit: int = MAX_CUSTOMERS) -> dict:
    """Evaluate one call's customers under the active version and under ``version_id``.

    Exactly one of ``profiles``, ``customer_ids``, ``sample`` or ``every`` names
    the customers; ``every`` pages through all stored customers by id
    (``cursor`` is the last id of the previous page, ``next_cursor`` the next).
    """
    sizes = {"customers": None if profiles is None else len(profiles),
             "customer_ids": None if customer_ids is None else len(customer_ids),
             "sample": sample, "limit": limit if every else None}
    chosen = [(name, size) for name, size in sizes.items() if size is not None]
    if len(chosen) != 1:
        raise Invalid([{"path": "json", "message": "name the customers with exactly one of customers, "
                                                   "customer_ids, sample or all"}])
    name, size = chosen[0]
    if not 1 <= size <= MAX_CUSTOMERS:
        raise Invalid([{"path": f"json.{name}", "message": f"a call simulates 1 to {MAX_CUSTOMERS:,} customers"}])
    with programs.lease(session, active_version) as current, programs.lease(session, version_id) as proposed:
        subjects, next_cursor = _subjects(session, profiles, customer_ids, sample, cursor, limit)
        same_dates = current.timezone == proposed.timezone  # then the rules see the same profile
        items = []
        for customer_id, subject in subjects:
            fields = subject_fields(subject, current, now)
            items.append({"customer_id": customer_id, "current": outcome(current, fields), "proposed": outcome(
                proposed, fields if same_dates else subject_fields(subject, proposed, now))})
        summary = summarise(items, current, proposed)
    return {"current_version": active_version, "proposed_version": version_id, "items": items,
            "summary": summary, "next_cursor": next_cursor}


def _subjects(session, profiles, customer_ids, sample, cursor, limit) -> tuple[list[tuple], str | None]:
    """(customer id, supplied profile or stored customer) for each customer of the call, and the next cursor."""
    if profiles is not None:
        return [(profile.customer_id, profile) for profile in profiles], None
    next_cursor = None
    if customer_ids is not None:
        stored = by_ids(session, customer_ids)
    elif sample is not None:
        stored = sampled(session, sample)
    else:
        stored, next_cursor = page(session, cursor, limit)
    return [(customer.id, customer) for customer in stored], next_cursor


def by_ids(session: Session, customer_ids: list[str]) -> list[Customer]:
    """Stored customers in the order named (each once); 404 naming the ids that do not exist."""
    wanted = list(dict.fromkeys(customer_ids))
    found = {customer.id: customer
             for customer in session.execute(select(Customer).where(Customer.id.in_(wanted))).scalars()}
    unknown = [customer_id for customer_id in wanted if customer_id not in found]
    if unknown:
        shown = ", ".join(repr(customer_id) for customer_id in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise NotFound(f"no customer {shown}{more}")
    return [found[customer_id] for customer_id in wanted]


def sampled(session: Session, size: int) -> list[Customer]:
    """Up to ``size`` stored customers chosen at random (all of them when there are fewer)."""
    return list(session.execute(select(Customer).order_by(func.random()).limit(size)).scalars())


def page(session: Session, after: str | None, limit: int) -> tuple[list[Customer], str | None]:
    """Stored customers by id after ``after``, and the cursor of the next page (None on the last)."""
    query = select(Customer).order_by(Customer.id).limit(limit + 1)
    if after is not None:
        query = query.where(Customer.id > after)
    found = list(session.execute(query).scalars())
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None


def subject_fields(subject: Customer | SuppliedProfile, program: Program, now: datetime) -> dict:
    """What the conditions read about a stored customer or a supplied profile (dates in the program's zone)."""
    if isinstance(subject, Customer):
        return rule_fields(subject, program, now, with_tier=False)
    return RuleProfile.of_supplied(subject, local_today(program, now)).fields()


def outcome(program: Program, fields: dict) -> dict:
    """Tier (qualified, no grace), benefit grants and signals of one customer under one version."""
    answer = program.evaluate(fields)
    return {"tier": answer.tier,
            "benefits": [{"benefit": grant.benefit, "rule": grant.rule, "quota": grant.quota, "per": grant.per}
                         for grant in answer.grants],
            "signals": answer.signals}


def summarise(items: list[dict], current: Program, proposed: Program) -> dict:
    """Counts over the call's customers: tier moves, benefits gained and lost, signals raised and cleared."""
    moves = Counter()
    gained, lost, raised, cleared = Counter(), Counter(), Counter(), Counter()
    for item in items:
        before, after = item["current"], item["proposed"]
        moves[tier_move(before["tier"], after["tier"], current, proposed)] += 1
        had = {grant["benefit"] for grant in before["benefits"]}
        has = {grant["benefit"] for grant in after["benefits"]}
        gained.update(has - had)
        lost.update(had - has)
        raised.update(set(after["signals"]) - set(before["signals"]))
        cleared.update(set(before["signals"]) - set(after["signals"]))
    return {"customers": len(items), "tier_up": moves["up"], "tier_down": moves["down"],
            "benefit_gained": dict(sorted(gained.items())), "benefit_lost": dict(sorted(lost.items())),
            "signal_raised": dict(sorted(raised.items())), "signal_cleared": dict(sorted(cleared.items()))}


def tier_move(before: str, after: str, current: Program, proposed: Program) -> str | None:
    """Whether a customer moved "up", "down" or neither (None).

    Tiers are ranked by the proposed version's order (highest first) when it has
    both, else by the active version's, else by their distance from each
    version's lowest tier.
    """
    if before == after:
        return None
    for program in (proposed, current):
        if before in program.tier_ids and after in program.tier_ids:
            return "up" if program.tier_ids.index(after) < program.tier_ids.index(before) else "down"
    from_bottom_before = len(current.tier_ids) - 1 - current.tier_ids.index(before)
    from_bottom_after = len(proposed.tier_ids) - 1 - proposed.tier_ids.index(after)
    if from_bottom_after == from_bottom_before:
        return None
    return "up" if from_bottom_after > from_bottom_before else "down"
