"""Risk stratification: comorbidity indices (Charlson, Elixhauser, AHRQ Elixhauser), CMS-HCC
risk scores, LACE, the area deprivation index, the predictive model, the fairness audit and
risk tiers."""

from popweave.risk._codes import diagnoses
from popweave.risk.comorbidity import (
    CHARLSON_WEIGHTS,
    ELIXHAUSER_WEIGHTS,
    ahrq_elixhauser,
    charlson,
    elixhauser,
)
from popweave.risk.deprivation import AreaDeprivationIndex, area_index
from popweave.risk.fairness import Audit, audit
from popweave.risk.hcc import hcc_factors, hcc_people, hcc_score_table, hcc_scores
from popweave.risk.lace import lace
from popweave.risk.model import MODELS, Metrics, RiskModel, evaluate, reliability
from popweave.risk.run import LABELS, RiskRun, run
from popweave.risk.tiers import TIERS, TierRules, assign_tiers

__all__ = [
    "CHARLSON_WEIGHTS",
    "ELIXHAUSER_WEIGHTS",
    "LABELS",
    "MODELS",
    "TIERS",
    "AreaDeprivationIndex",
    "Audit",
    "Metrics",
    "RiskModel",
    "RiskRun",
    "TierRules",
    "ahrq_elixhauser",
    "area_index",
    "assign_tiers",
    "audit",
    "charlson",
    "diagnoses",
    "elixhauser",
    "evaluate",
    "hcc_factors",
    "hcc_people",
    "hcc_score_table",
    "hcc_scores",
    "lace",
    "reliability",
    "run",
]
