"""Compiled programs in one process: side by side, from threads, after a fork, released without leaks."""
import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benefits.rules import compile_program, load_document
from benefits.rules.engine import Released
from rule_documents import document

DEFAULT = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"
RSS_GROWTH_BOUND_MB = 64


def default_program(label="default"):
    return compile_program(load_document(DEFAULT.read_bytes()), label)


def profiles(count: int, seed: int = 7) -> list[dict]:
    """Customers across the tiers, some without the optional fields."""
    rng = random.Random(seed)
    people = []
    for _ in range(count):
        profile = {"aum": rng.choice([0, 80_000, 499_999.99, 500_000, 950_000, 5_999_999, 6_000_000, 9_000_000]),
                   "annual_contribution": rng.choice([0, 150_000, 200_000, 400_000]),
                   "tags": rng.sample(["children_studying_abroad", "golf", "retired"], rng.randint(0, 2)),
                   "is_birthday_month": rng.random() < 0.1, "birthday_month": rng.randint(1, 12)}
        if rng.random() < 0.5:
            profile["aum_growth_3m"] = rng.choice([-0.1, 0.1, 0.21, 0.5])
        people.append(profile)
    return people


def answer(program, profile):
    result = program.evaluate(profile)
    return result.tier, [grant.rule for grant in result.grants], result.signals


def threshold_program(private_aum: int, label: str):
    doc = document(benefits=[{"id": "lounge", "benefit": "airport_lounge", "when": {"tier": {"eq": "private"}},
                               "quota": {"count": 12, "per": "year"}}])
    doc["tiers"][0]["when"] = {"aum": {"gte": private_aum}}
    return compile_program(doc, label)


def test_two_versions_evaluated_alternately_each_give_their_own_answers():
    active, draft = threshold_program(6_000_000, "v1"), threshold_program(1_000_000, "v2")
    try:
        for n in range(1000):
            aum = 500_000 + (n % 20) * 300_000
            assert active.tier({"aum": aum}) == ("private" if aum >= 6_000_000 else "wealth")
            assert draft.tier({"aum": aum}) == ("private" if aum >= 1_000_000 else "wealth")
    finally:
        active.release()
        draft.release()


def test_eight_threads_give_the_answers_one_thread_gives():
    program = default_program()
    people = profiles(2000)
    expected = [answer(program, profile) for profile in people]
    with ThreadPoolExecutor(8) as pool:
        chunks = [people[start::8] for start in range(8)]
        results = list(pool.map(lambda chunk: [answer(program, profile) for profile in chunk], chunks))
    assert [results[n % 8][n // 8] for n in range(len(people))] == expected
    program.release()


def test_earning_from_eight_threads_matches_one_thread():
    program = default_program()
    rng = random.Random(3)
    events = [{"type": "transaction", "category": rng.choice(["fund", "wealth_product", "card_spend", "insurance"]),
               "amount": rng.randint(1, 500_000)} for _ in range(1000)]
    expected = [program.earn({"tier": "wealth"}, event) for event in events]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda event: program.earn({"tier": "wealth"}, event), events)) == expected
    program.release()


def test_nothing_stays_in_the_engine_between_evaluations():
    program = default_program()
    for profile in profiles(300):
        program.evaluate(profile)
        program.earn({"tier": "private"}, {"type": "learning", "activity": "quiz_passed"})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(program.evaluate, profiles(300, seed=9)))
    assert {group: ruleset.leftovers() for group, ruleset in program._rulesets.items()} == {
        "tiers": [], "profile": [], "earning": []}
    program.release()


def test_a_forked_child_evaluates_with_the_parents_compiled_program():
    program = default_program()
    people = profiles(200)
    expected = [list(answer(program, profile)) for profile in people]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, then leave without running pytest's teardown
        try:
            os.write(write, json.dumps([list(answer(program, profile)) for profile in people]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        from_child = json.loads(pipe.read() or b"null")
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert from_child == expected
    assert [list(answer(program, profile)) for profile in people] == expected  # the parent goes on too
    program.release()


def test_a_released_program_refuses_to_evaluate():
    program = default_program()
    program.release()
    with pytest.raises(Released):
        program.evaluate({"aum": 1})


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_thousand_compile_and_release_cycles_stay_within_the_memory_bound():
    doc = load_document(DEFAULT.read_bytes())

    def cycle(n):
        program = compile_program(doc, f"cycle{n}")
        program.evaluate({"aum": 1_000_000, "tags": ["children_studying_abroad"]})
        program.earn({"tier": "wealth"}, {"type": "transaction", "category": "fund", "amount": 10_000})
        program.release()

    for n in range(50):  # warm-up: allocator pools, caches
        cycle(n)
    before = rss_mb()
    for n in range(1000):
        cycle(n)
    growth = rss_mb() - before
    print(f"RSS growth over 1,000 compile-and-release cycles: {growth:.1f} MB")
    assert growth < RSS_GROWTH_BOUND_MB
