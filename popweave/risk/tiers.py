"""Risk tiers: high, rising, moderate and low, from scores on two index dates.

A person's percentile is ``percent_rank`` of the score among everyone scored on the same date.
With the default :class:`TierRules`:

- ``high``: percentile at least 0.95 (the top 5%, the usual case-management pool);
- ``rising``: not high, percentile at least 0.50 now, and up by at least 0.20 (twenty
  percentile points) since the previous date -- people whose risk grows before it is high;
- ``moderate``: percentile at least 0.75;
- ``low``: everyone else.

People without a previous score (new, or too young then) cannot be rising.

>>> import ibis
>>> now = ibis.memtable({"person_id": list("abcde"), "score": [0.9, 0.5, 0.4, 0.2, 0.1]})
>>> before = ibis.memtable({"person_id": list("abcde"), "score": [0.9, 0.1, 0.4, 0.3, 0.2]})
>>> rules = TierRules(high=0.9, moderate=0.7, rising_points=0.2, rising_floor=0.5)
>>> t = assign_tiers(now, before, rules).order_by("person_id").execute()
>>> t.tier.tolist()
['high', 'rising', 'low', 'low', 'low']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis

TIERS = ("high", "rising", "moderate", "low")


@dataclass(frozen=True)
class TierRules:
    """Percentile thresholds of the tiers (fractions between 0 and 1)."""

    high: float = 0.95
    moderate: float = 0.75
    rising_points: float = 0.20
    rising_floor: float = 0.50

    def __post_init__(self) -> None:
        for name in ("high", "moderate", "rising_points", "rising_floor"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"tier rule {name} must be between 0 and 1, got {v}")
        if self.moderate > self.high:
            raise ValueError(f"moderate ({self.moderate}) must not exceed high ({self.high})")


def _ranked(scores: Any) -> Any:
    w = ibis.window(order_by=[scores.score])
    return scores.select("person_id", "score", percentile=ibis.percent_rank().over(w))


def assign_tiers(scores: Any, previous: Any | None = None, rules: TierRules | None = None) -> Any:
    """``(person_id, score, percentile, previous_score, previous_percentile, change, tier)``
    from ``scores`` and ``previous`` (tables of ``person_id, score``); builds, runs nothing."""
    r = rules or TierRules()
    now = _ranked(scores)
    if previous is not None:
        before = _ranked(previous).select(
            "person_id", previous_score="score", previous_percentile="percentile"
        )
        t = now.left_join(before, "person_id").drop("person_id_right")
    else:
        t = now.mutate(
            previous_score=ibis.null("float64"), previous_percentile=ibis.null("float64")
        )
    gain = t.percentile - t.previous_percentile
    rising = (
        t.previous_percentile.notnull()
        & (t.percentile >= r.rising_floor)
        & (gain >= r.rising_points)
    )
    tier = ibis.cases(
        (t.percentile >= r.high, "high"),
        (rising, "rising"),
        (t.percentile >= r.moderate, "moderate"),
        else_="low",
    )
    return t.mutate(change=t.score - t.previous_score, tier=tier)
