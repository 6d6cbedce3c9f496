"""The tier decision, table-driven: upgrades at once, downgrades after the grace, counted in as_of days."""
from datetime import date

import pytest

from benefits.services.tiers import TierDecision, decide

TIERS = ("private", "wealth", "mass")
D = date(2026, 11, 1)


@pytest.mark.parametrize("current, qualified, below_since, as_of, grace, expected", [
    (None, "wealth", None, D, 90, TierDecision("wealth", None)),  # a new customer takes what it qualifies for
    ("mass", "private", None, D, 90, TierDecision("private", None)),  # an upgrade applies at once
    ("wealth", "wealth", date(2026, 10, 1), D, 90, TierDecision("wealth", None)),  # back above: grace ends
    ("private", "wealth", None, D, 90, TierDecision("private", D)),  # below: grace starts today
    ("private", "wealth", date(2026, 8, 4), D, 90, TierDecision("private", date(2026, 8, 4))),  # 89 days
    ("private", "wealth", date(2026, 8, 3), D, 90, TierDecision("wealth", None)),  # 90 days: it applies
    ("private", "mass", date(2026, 8, 3), D, 90, TierDecision("mass", None)),  # straight to the tier qualified
    ("private", "wealth", None, D, 0, TierDecision("wealth", None)),  # no grace: at once
    ("gold", "wealth", None, D, 90, TierDecision("wealth", None)),  # a tier the programme no longer has
])
def test_the_tier_held_after_an_evaluation(current, qualified, below_since, as_of, grace, expected):
    assert decide(current=current, qualified=qualified, tiers=TIERS, below_since=below_since, as_of=as_of,
                  grace_days=grace) == expected
