"""Risk stratification: area deprivation index, predictive model, fairness audit, tiers."""

from popweave.risk.deprivation import AreaDeprivationIndex, area_index
from popweave.risk.fairness import Audit, audit
from popweave.risk.model import MODELS, Metrics, RiskModel, evaluate, reliability
from popweave.risk.run import LABELS, RiskRun, run
from popweave.risk.tiers import TIERS, TierRules, assign_tiers

__all__ = [
    "LABELS",
    "MODELS",
    "TIERS",
    "AreaDeprivationIndex",
    "Audit",
    "Metrics",
    "RiskModel",
    "RiskRun",
    "TierRules",
    "area_index",
    "assign_tiers",
    "audit",
    "evaluate",
    "reliability",
    "run",
]
