"""Small rule documents for the rule language's tests: a valid base and ways to vary it."""
import copy

from benefits.rules import compile_program

BASE = {
    "schema": "benefits/v1",
    "program": "test",
    "timezone": "Asia/Shanghai",
    "currency": "CNY",
    "catalog": {
        "airport_lounge": {"name": "Airport lounge", "category": "travel"},
        "medical_green_channel": {"name": "Medical green channel", "category": "health"},
        "hotel_night": {"name": "Hotel night", "category": "lifestyle"},
    },
    "tiers": [
        {"id": "private", "name": "Private banking", "when": {"aum": {"gte": 6000000}}},
        {"id": "wealth", "name": "Wealth",
         "when": {"any": [{"aum": {"gte": 500000}}, {"annual_contribution": {"gte": 200000}}]}},
        {"id": "mass", "name": "Mass"},
    ],
}


def document(**sections) -> dict:
    """The base document with the given top-level sections set (or replaced)."""
    return copy.deepcopy(BASE) | copy.deepcopy(sections)


def program(**sections):
    return compile_program(document(**sections), label="test")


def signal_program(condition: dict):
    """A program whose one signal, `hit`, is raised when ``condition`` holds."""
    return program(signals=[{"id": "hit", "when": condition}])


def earning_program(condition: dict | None, on: str = "transaction"):
    """A program whose one earning rule, `hit`, awards 10 points when ``condition`` holds."""
    rule = {"id": "hit", "on": on, "points": 10} | ({"when": condition} if condition is not None else {})
    return program(earning=[rule])
