"""Quality measure specs (denominator, exclusions, numerator, period), per-patient care gaps,
utilisation (30-day readmission, ED visits per 1,000, PMPM cost)."""

from __future__ import annotations

from popweave.measures.run import MeasureRun, run
from popweave.measures.spec import MeasureSpec, load_specs

__all__ = ["MeasureRun", "MeasureSpec", "load_specs", "run"]
