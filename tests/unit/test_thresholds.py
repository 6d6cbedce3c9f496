"""Which tier conditions are thresholds (what the app's tier progress can show), table-driven."""
import pytest

from benefits.rules.conditions import Threshold, thresholds


@pytest.mark.parametrize("condition, expected", [
    ({"aum": {"gte": 6000000}}, ("all", [Threshold("aum", "gte", 6000000)])),
    ({"any": [{"aum": {"gte": 500000}}, {"annual_contribution": {"gte": 200000}}]},
     ("any", [Threshold("aum", "gte", 500000), Threshold("annual_contribution", "gte", 200000)])),
    ({"all": [{"aum": {"gt": 1e6}}, {"tenure_days": {"gte": 365}}]},
     ("all", [Threshold("aum", "gt", 1e6), Threshold("tenure_days", "gte", 365)])),
    ({"aum": {"gte": 1, "gt": 0}, "aum_growth_3m": {"gt": 0.2}},  # one mapping: every bar is required
     ("all", [Threshold("aum", "gte", 1), Threshold("aum", "gt", 0), Threshold("aum_growth_3m", "gt", 0.2)])),
    ({"any": [{"aum": {"gte": 1}, "tenure_days": {"gte": 2}}, {"aum": {"gte": 3}}]}, None),  # an any of an all
    ({"all": [{"any": [{"aum": {"gte": 1}}]}]}, None),  # nested connectives
    ({"aum": {"lt": 100}}, None),  # not a bar to pass upwards
    ({"tags": {"contains": "vip"}}, None),  # not a number
    ({"not": {"aum": {"lt": 100}}}, None),
    ({"aum": {"gte": True}}, None),
    (None, None),
])
def test_a_condition_is_a_threshold_only_when_made_of_gte_and_gt_bars(condition, expected):
    assert thresholds(condition) == expected
