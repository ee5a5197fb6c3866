"""What every measure produces, whatever its logic.

A *proportion* measure yields one row per unit (a patient, an index stay, a discharge) with
the columns of :data:`UNIT_COLUMNS`; a *rate* measure one row per person with exposure
(member-months) and events (visits, dollars) as in :data:`RATE_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: Proportion measures: one row per unit in the denominator (after eligibility, before
#: exclusions). ``excluded`` rows leave the denominator; ``numerator`` counts only for rows not
#: excluded; ``detail`` says why a unit is (not) in the numerator and what would close the gap.
UNIT_COLUMNS: dict[str, str] = {
    "person_id": "string",
    "unit_id": "string",
    "unit_date": "date",
    "excluded": "boolean",
    "exclusion": "string",
    "numerator": "boolean",
    "detail": "string",
}
#: Rate measures: one row per person with exposure in the period.
RATE_COLUMNS: dict[str, str] = {
    "person_id": "string",
    "exposure": "float64",
    "events": "float64",
}


@dataclass(frozen=True)
class MeasureInfo:
    """The descriptive part of a measure spec."""

    id: str
    title: str
    kind: Literal["proportion", "rate"]
    unit: str  # patient, index stay, discharge, member-month
    source: str  # citation of the specification followed
    higher_is_better: bool = True
    per: float = 1.0  # rates are reported per this many exposure units (1000 for ED visits)
    params: dict[str, Any] = field(default_factory=dict)
    gap_action: str = ""  # what closes a gap, for the care-gap list
