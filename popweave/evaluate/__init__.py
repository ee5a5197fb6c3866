"""Programme evaluation: difference-in-differences, interrupted time series and a matched
comparison, with effects, intervals, assumption checks and a plain-language summary."""

from __future__ import annotations

from popweave.evaluate.did import DidResult, did
from popweave.evaluate.its import ItsResult, segmented
from popweave.evaluate.matched import MatchedResult, logistic, match, matched
from popweave.evaluate.population import Programme, outcome_units
from popweave.evaluate.programme import Evaluation, evaluate

__all__ = [
    "DidResult",
    "Evaluation",
    "ItsResult",
    "MatchedResult",
    "Programme",
    "did",
    "evaluate",
    "logistic",
    "match",
    "matched",
    "outcome_units",
    "segmented",
]
