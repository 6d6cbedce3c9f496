"""Which entitlement a redemption draws on, table-driven: rule grants before reward units, enough remaining."""
import pytest

from benefits.errors import NotEligible, QuotaExhausted
from benefits.models import Source
from benefits.services.entitlements import Entitlement, choose


def entitlement(benefit="airport_lounge", source=Source.RULE, rule="lounge", quota=4, used=0, held=0):
    return Entitlement(benefit, source, rule, 1, quota, "year:2026-01-01", None, None, used, held)


GRANT = entitlement(rule="lounge-wealth", quota=4, used=3)
REWARD = entitlement(source=Source.REWARD, rule="extra-lounge", quota=2)
UNLIMITED = entitlement(benefit="medical_green_channel", rule="green", quota=None, used=40)


@pytest.mark.parametrize("entitlements, benefit, quantity, chosen", [
    ([GRANT, REWARD], "airport_lounge", 1, GRANT),  # the grant has one left
    ([GRANT, REWARD], "airport_lounge", 2, REWARD),  # not enough in the grant: the reward units
    ([entitlement(used=4), REWARD], "airport_lounge", 1, REWARD),  # the grant is used up
    ([entitlement(used=2, held=2), REWARD], "airport_lounge", 1, REWARD),  # held counts against the quota
    ([UNLIMITED], "medical_green_channel", 100, UNLIMITED),  # unlimited never runs out
])
def test_the_entitlement_drawn_on(entitlements, benefit, quantity, chosen):
    assert choose(entitlements, benefit, quantity) is chosen


@pytest.mark.parametrize("entitlements, benefit, quantity, refusal", [
    ([GRANT], "hotel_night", 1, NotEligible),  # no entitlement for the benefit
    ([], "airport_lounge", 1, NotEligible),
    ([entitlement(used=4)], "airport_lounge", 1, QuotaExhausted),
    ([GRANT, REWARD], "airport_lounge", 3, QuotaExhausted),  # no single entitlement has three left
])
def test_a_redemption_nothing_can_serve_is_refused(entitlements, benefit, quantity, refusal):
    with pytest.raises(refusal):
        choose(entitlements, benefit, quantity)
