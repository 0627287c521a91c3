"""The rule that calls an answer uncertain: a top genre below even odds, or a runner-up close behind."""

from __future__ import annotations

import pytest

from genre_lightning.app.uncertainty import Uncertainty
from genre_lightning.errors import UserError

RULE = Uncertainty(min_probability=0.5, min_margin=0.1)


def test_a_near_tie_or_a_top_genre_below_even_odds_is_uncertain_and_a_clear_lead_is_not():
    medley = [("Electronic", 0.273), ("Rock", 0.257), ("Classical", 0.23)]
    assert RULE.line(medley) == "Uncertain: Electronic 27.3% vs Rock 25.7%"
    assert RULE.line([("Rock", 0.45), ("Pop", 0.1)]) == "Uncertain: Rock 45.0% vs Pop 10.0%"
    assert RULE.line([("Rock", 0.53), ("Pop", 0.45)]) == "Uncertain: Rock 53.0% vs Pop 45.0%"
    assert RULE.line([("Rock", 0.6), ("Pop", 0.3)]) == ""
    assert RULE.line([("Rock", 0.5), ("Pop", 0.35)]) == ""  # even odds: certain
    # aggregate=vote ranks by votes: a voted genre less probable than the runner-up is a near-tie
    assert RULE.line([("Rock", 0.55), ("Pop", 0.6)]) == "Uncertain: Rock 55.0% vs Pop 60.0%"
    assert RULE.line([("Rock", 1.0)]) == ""  # a model of one genre


def test_limits_outside_0_to_1_are_refused():
    with pytest.raises(UserError, match=r"^uncertain.min_margin=1.5: must be between 0 and 1"):
        Uncertainty(min_probability=0.5, min_margin=1.5)
