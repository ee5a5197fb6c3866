"""The clinical measures on the 20,000-person test city recover the expected values the
generator records in truth.json (``truth["measures"]``), which it computes from its latent
probabilities, not from the realised rows.

Thirteen measures are checked on one city, so each uses a Bonferroni-adjusted Wilson interval
(0.05 / 13 per measure): all of them together hold with 95% confidence. The per-measure 95%
Wilson interval is reported in the failure message too.
"""

from __future__ import annotations

from typing import Any

import ibis
import pytest

from popweave import measures
from popweave.cohorts import Data, Period
from popweave.measures.intervals import wilson
from tests.synth.conftest import Built, built  # noqa: F401 - the session city fixture

CLINICAL = (
    "hba1c_poor_control",
    "hba1c_control",
    "controlling_bp",
    "breast_cancer_screening",
    "colorectal_screening",
    "diabetic_eye_exam",
    "statin_therapy_cvd",
)
FAMILY = 13  # every measure of docs/measures.md is checked against the same city
LEVEL = 1 - 0.05 / FAMILY


@pytest.fixture(scope="module")
def rates(built: Built) -> Any:  # noqa: F811
    truth = built.truth["measures"]
    per = Period.parse(f"{truth['period']['start']}..{truth['period']['end']}")
    data = Data(ibis.duckdb.from_connection(built.db))
    return measures.run(data, per, only=list(CLINICAL), save=False).rates().set_index("measure")


@pytest.mark.slow
@pytest.mark.parametrize("measure", CLINICAL)
def test_clinical_rate_recovers_the_planted_expectation(
    built: Built,  # noqa: F811
    rates: Any,
    measure: str,
) -> None:
    truth = built.truth["measures"][measure]
    r = rates.loc[measure]
    assert r["denominator"] == pytest.approx(truth["units"], rel=0.01), "denominators differ"
    lo, hi = wilson(r["numerator"], r["denominator"], level=LEVEL)
    lo95, hi95 = wilson(r["numerator"], r["denominator"])
    assert lo <= truth["expected"] <= hi, (
        f"{measure}: rate {r['rate']:.4f}, 95% {lo95:.4f}-{hi95:.4f}, "
        f"family-wise {lo:.4f}-{hi:.4f}, expected {truth['expected']:.4f}"
    )
